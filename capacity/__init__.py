"""Capacity engine: measure Django and FastAPI pods and turn it into nodes and cost."""
