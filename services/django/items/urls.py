from __future__ import annotations

from django.urls import path

from items.views import CpuView, ItemDetailView, ItemListCreateView, StatsView, UpstreamView

urlpatterns = [
    path("items", ItemListCreateView.as_view()),
    # Any one path segment: the view decides what is a valid id (see ItemDetailView).
    path("items/<str:id>", ItemDetailView.as_view()),
    path("stats", StatsView.as_view()),
    path("upstream", UpstreamView.as_view()),
    path("cpu", CpuView.as_view()),
]
