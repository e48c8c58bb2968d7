"""The services the kit can measure, named once for the plan, the records and the report."""

from __future__ import annotations

from typing import Literal, get_args

# The two reference services (each written the way its community writes production code), and a
# lean variant of each behind the same contract (FastAPI on raw asyncpg, Django with plain views):
# measured side by side they show how much of a difference is the framework and how much its
# ORM/serializer layer (services/README.md, docs/benchmarks.md). django-async is the same Django
# project as async views under uvicorn (services/django/README.md), the third contender.
Framework = Literal["django", "fastapi", "django-lean", "fastapi-lean", "django-async"]
ALL: tuple[Framework, ...] = get_args(Framework)
# The ones gunicorn's gthread workers serve: THREADS is their thread count, a pod setting a
# sizing carries. django-async runs uvicorn (its THREADS only sizes the database pool).
GTHREAD: tuple[Framework, ...] = ("django", "django-lean")
# What a run measures unless told otherwise (`--frameworks`).
REFERENCE: tuple[Framework, ...] = ("django", "fastapi")
# The Django launcher's gthread threads when the plan sets none (fwcap_django/env.py).
DJANGO_THREADS = 16


def present(names: set[str] | list[str]) -> tuple[str, ...]:
    """`names` in the kit's order (references first, then the lean and async variants)."""
    return tuple(fw for fw in ALL if fw in names)
