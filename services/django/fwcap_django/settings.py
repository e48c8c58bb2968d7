"""Django settings for an API behind a Kubernetes Service, read from the environment only."""

from __future__ import annotations

import os

from fwcap_django import env

METRICS_ENABLED = env.flag(os.environ, "METRICS_ENABLED", True)
# "idiomatic" (DRF views), "lean" (plain Django views, items/lean_views.py) or "async" (async
# views, items/views_async.py, served by uvicorn through ASGI_APPLICATION)
SERVICE_VARIANT = env.variant(os.environ)
THREADS = env.threads(os.environ)
# Benchmarks only: our layers switched off one at a time (env.BENCH_LAYERS).
BENCH_WITHOUT = env.bench_without(os.environ)
UPSTREAM_URL = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8099").rstrip("/")

DEBUG = False
# Requests arrive through a Service/port-forward under whatever Host the client used; the app
# builds no absolute URLs, so there is nothing for Host validation to protect.
ALLOWED_HOSTS = ["*"]
# No sessions, signing, CSRF or password hashing anywhere: Django never reads SECRET_KEY, and an
# empty one makes any future use fail loudly instead of silently signing with a shared default.
SECRET_KEY = ""

# No admin, auth, contenttypes, sessions, messages or staticfiles: a JSON API needs none of them.
INSTALLED_APPS = ["rest_framework", "items"]

# Deliberately no Session/CSRF/Auth/Messages/Clickjacking middleware; CommonMiddleware is left
# out too (see fwcap_django.middleware). The metrics middleware comes first, to time the rest.
MIDDLEWARE = [
    *(["fwcap_django.metrics.RequestMetricsMiddleware"] if METRICS_ENABLED else []),
    *([] if "framing" in BENCH_WITHOUT else ["fwcap_django.middleware.ResponseFramingMiddleware"]),
    *([] if "exactpath" in BENCH_WITHOUT else ["fwcap_django.middleware.ExactPathMiddleware"]),
]

ROOT_URLCONF = "fwcap_django.urls"
WSGI_APPLICATION = "fwcap_django.wsgi.application"
ASGI_APPLICATION = "fwcap_django.asgi.application"
TEMPLATES: list[dict[str, object]] = []

DATABASES = {
    "default": env.database_settings(
        os.environ.get("DATABASE_URL", ""), pool_size=env.db_pool_size(os.environ)
    )
}
if "commanddeadline" in BENCH_WITHOUT:
    DATABASES["default"]["OPTIONS"]["pool"].pop("connection_class")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_I18N = False
USE_TZ = True
TIME_ZONE = "UTC"

# The contract's paths are exact: /api/items/ is a 404, never a redirect.
APPEND_SLASH = False
# The contract's 64 KiB body limit (413). Django checks it against Content-Length; the WSGI
# wrapper in fwcap_django.wsgi makes chunked bodies carry their real length too.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.MAX_BODY_BYTES
# Django refuses more than 1,000 query/form fields (TooManyFieldsSent, a 400 here); the contract
# ignores unknown query parameters, so that is a 200. The guard is not needed: gunicorn's
# limit_request_line (4094 bytes) already bounds a query string to ~2,000 fields, and form
# bodies are refused (415) before they are parsed.
DATA_UPLOAD_MAX_NUMBER_FIELDS = None

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["items.parsers.StrictJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "items.negotiation.JSONOnlyContentNegotiation",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
    "DEFAULT_SCHEMA_CLASS": None,
    "URL_FORMAT_OVERRIDE": None,
    "EXCEPTION_HANDLER": "fwcap_django.errors.exception_handler",
}

# Warnings and errors to stderr (the container log). django.request logs every 4xx as a
# warning; those are client mistakes the metrics already count, and a line per bad request
# would cost throughput in the error-path scenarios, so only 5xx are logged.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}
