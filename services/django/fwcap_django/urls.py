"""Routes. Each path's template, as written here, is also its `http_route` metric label."""

from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path

from items.views import HealthView, ReadyView

urlpatterns: list[URLPattern | URLResolver] = [
    path("healthz", HealthView.as_view()),
    path("readyz", ReadyView.as_view()),
    path("api/", include("items.urls")),
]

if settings.SERVICE_VARIANT == "lean":
    from items import lean_views

    # The same paths (so the same metric route labels), served by plain Django views.
    urlpatterns = [
        path("healthz", lean_views.healthz),
        path("readyz", lean_views.readyz),
        path("api/items", lean_views.items),
        path("api/items/<str:id>", lean_views.item_detail),
        path("api/stats", lean_views.stats),
        path("api/upstream", lean_views.upstream_view),
        path("api/cpu", lean_views.cpu),
    ]

if settings.METRICS_ENABLED:
    from fwcap_django.metrics import MetricsView

    urlpatterns.append(path("metrics", MetricsView.as_view()))

# Unknown routes and failures outside DRF views answer in the contract's JSON error shape.
handler400 = "fwcap_django.errors.bad_request"
handler404 = "fwcap_django.errors.not_found"
handler500 = "fwcap_django.errors.server_error"
