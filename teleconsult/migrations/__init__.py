"""Alembic environment and versions: one history that runs on SQLite and PostgreSQL."""
