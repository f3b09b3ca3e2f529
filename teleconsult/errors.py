"""The root of every domain error, and the one table that turns them into HTTP answers.

A domain error carries a stable ``code`` (for JSON clients and logs) and the data its message needs. Its
message is an English msgid looked up in the translation catalogue when the answer is rendered, so the nurse
reads it in French. Domain modules raise; only the error middleware in :mod:`teleconsult.middleware` answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from teleconsult.i18n import N_


class DomainError(Exception):
    """Something the user asked for breaks a rule. Never a bug: a bug is any other exception."""

    code: ClassVar[str] = "invalid"
    status: ClassVar[int] = 422
    message: ClassVar[str] = N_("The request could not be processed.")

    def __init__(self, message: str | None = None, /, **params: Any) -> None:
        self.params: Mapping[str, Any] = params
        self.text = message or self.message
        super().__init__(self.code)


class InvalidInput(DomainError):
    """Fields of a form or JSON body failed validation; ``fields`` maps each to its (msgid) message."""

    code = "invalid_input"
    status = 422
    message = N_("Some fields need your attention.")

    def __init__(self, fields: Mapping[str, str], message: str | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields)


class MalformedRequest(DomainError):
    code = "malformed_request"
    status = 400
    message = N_("The request could not be read. Reload the page and try again.")


class NotFound(DomainError):
    code = "not_found"
    status = 404
    message = N_("This page does not exist or is not accessible to you.")


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    message = N_("Your account does not give access to this page.")


class Conflict(DomainError):
    code = "conflict"
    status = 409
    message = N_("Someone changed this at the same time. Reload the page to see the current state.")


class TooManyRequests(DomainError):
    code = "too_many_requests"
    status = 429
    message = N_("Too many attempts. Wait a moment before trying again.")

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        super().__init__(message, retry_after=retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds
