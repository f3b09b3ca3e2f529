"""Imports every package's store so that :data:`metadata` knows every table (for Alembic and tests)."""

from teleconsult.db import metadata
from teleconsult.identity import store as _identity_store  # noqa: F401

__all__ = ["metadata"]
