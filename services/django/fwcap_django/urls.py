"""Routes. Each path's template, as written here, is also its `http_route` metric label."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path

from items.views import HealthView, ReadyView

urlpatterns: list[URLPattern | URLResolver] = [
    path("healthz", HealthView.as_view()),
    path("readyz", ReadyView.as_view()),
    path("api/", include("items.urls")),
]

# The same paths (so the same metric route labels), served by plain Django views: sync ones
# (lean) or async ones (async, which uvicorn serves through fwcap_django.asgi).
PLAIN_VIEWS = {"lean": "items.lean_views", "async": "items.views_async"}

if settings.SERVICE_VARIANT in PLAIN_VIEWS:
    views = import_module(PLAIN_VIEWS[settings.SERVICE_VARIANT])
    urlpatterns = [
        path("healthz", views.healthz),
        path("readyz", views.readyz),
        path("api/items", views.items),
        path("api/items/<str:id>", views.item_detail),
        path("api/stats", views.stats),
        path("api/upstream", views.upstream_view),
        path("api/cpu", views.cpu),
    ]

if settings.METRICS_ENABLED:
    from fwcap_django.metrics import MetricsView

    urlpatterns.append(path("metrics", MetricsView.as_view()))

# Unknown routes and failures outside DRF views answer in the contract's JSON error shape.
handler400 = "fwcap_django.errors.bad_request"
handler404 = "fwcap_django.errors.not_found"
handler500 = "fwcap_django.errors.server_error"
