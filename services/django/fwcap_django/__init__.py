"""The Django service's project package: settings, URLs, WSGI entry and cross-cutting HTTP."""
