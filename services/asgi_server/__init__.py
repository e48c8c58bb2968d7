"""uvicorn as both uvicorn-served services run it (FastAPI, and Django's async variant)."""
