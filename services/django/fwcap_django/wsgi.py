"""The WSGI application gunicorn serves (gunicorn.conf.py: wsgi_app)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fwcap_django.settings")

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from fwcap_django.body_limit import ChunkedBodyLimit

application = get_wsgi_application()
if "bodylimit" not in settings.BENCH_WITHOUT:  # switched off only to price it (env.BENCH_LAYERS)
    application = ChunkedBodyLimit(application, max_body_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
