"""Imports every package's store so that :data:`metadata` knows every table (for Alembic and tests)."""

from records.activity import store as _activity_store  # noqa: F401
from records.audit import store as _audit_store  # noqa: F401
from records.documents import store as _documents_store  # noqa: F401
from records.reports import store as _reports_store  # noqa: F401
from records.residents import store as _residents_store  # noqa: F401
from records.rotation import store as _rotation_store  # noqa: F401
from scheduling import notifications_store as _notifications_store  # noqa: F401
from scheduling import store as _scheduling_store  # noqa: F401
from scheduling.expertise import store as _expertise_store  # noqa: F401
from signalling import invitations_store as _invitations_store  # noqa: F401
from signalling import recordings_store as _recordings_store  # noqa: F401
from signalling import store as _signalling_store  # noqa: F401
from teleconsult.db import metadata
from teleconsult.identity import calendar_feeds as _calendar_feeds  # noqa: F401
from teleconsult.identity import store as _identity_store  # noqa: F401

__all__ = ["metadata"]
