"""The FastAPI reference service: the API of services/CONTRACT.md on PostgreSQL via SQLAlchemy."""
