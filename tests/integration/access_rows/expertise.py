"""Access rows: tele-expertise (JSON API and pages). The request id in every path is unknown: those allowed
to ask get 404 from the service (exactly what they would get for a request not addressed to them); POSTs
carry a form, not JSON, so those allowed get 400 (the pages' POSTs re-render their form: 422), except where
the id is looked up before any body is read (withdraw: 404)."""

from __future__ import annotations

import uuid

from teleconsult.identity.model import Role
from tests.integration.access_columns import (
    ANY,
    CARE_HOME,
    FORBIDDEN,
    UNAUTHORIZED,
    Column,
    _column,
    action,
    page,
)

PATH_VALUES: dict[str, object] = {"expertise_id": uuid.UUID(int=6)}


def unknown_to(*roles: Role) -> Column:
    """Logged-in users the route is for get 404 for an unknown id; the others 403."""
    return _column(UNAUTHORIZED, FORBIDDEN, (), hidden=roles)


ROWS: dict[str, dict[str, Column]] = {
    # The care home's side: send, list, take back. The secretariat answers no tele-expertise.
    "api.expertise.submit": {ANY: action(*CARE_HOME)},
    "api.expertise": {ANY: action(*CARE_HOME)},
    "api.expertise.withdraw": {ANY: unknown_to(*CARE_HOME)},
    # Both sides read one request.
    "api.expertise.view": {ANY: unknown_to(*CARE_HOME, Role.EXPERT)},
    # The experts' side: the queue, claim, answer, convert into a teleconsultation.
    "api.expertise.queue": {ANY: action(Role.EXPERT)},
    "api.expertise.claim": {ANY: action(Role.EXPERT)},
    "api.expertise.answer": {ANY: action(Role.EXPERT)},
    "api.expertise.slots": {ANY: unknown_to(Role.EXPERT)},
    "api.expertise.convert": {ANY: action(Role.EXPERT)},
    # The compte-rendu of an answer (a PDF): whoever may read the request.
    "api.expertise.pdf": {ANY: unknown_to(*CARE_HOME, Role.EXPERT)},
    # Pages: the care home's list and form, the expert's queue; their forms re-render with 422 when empty.
    "expertise.list": {ANY: page(*CARE_HOME)},
    "expertise.new": {ANY: page(*CARE_HOME)},
    "expertise.create": {ANY: action(*CARE_HOME)},
    "expertise.withdraw": {ANY: unknown_to(*CARE_HOME)},
    "expertise.queue": {ANY: page(Role.EXPERT)},
    "expertise.claim": {ANY: action(Role.EXPERT)},
    "expertise.answer": {ANY: action(Role.EXPERT)},
    "expertise.convert": {ANY: action(Role.EXPERT)},
    "expertise.pdf": {ANY: page(hidden=(*CARE_HOME, Role.EXPERT))},
}
