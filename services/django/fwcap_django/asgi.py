"""The ASGI application uvicorn serves for the async variant (launch.py, SERVICE_VARIANT=async)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fwcap_django.settings")

from django.conf import settings
from django.core.asgi import get_asgi_application

from fwcap_django.body_limit import AsgiBodyLimit

application = AsgiBodyLimit(
    get_asgi_application(), max_body_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE
)
