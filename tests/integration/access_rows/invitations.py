"""Access rows: invited participants. The booked expert, the care home's IDEC and médecin coordonnateur
invite; the nurses (IDE) and the secretariat may not (403). The appointment is unknown (``appointment_id``
from scheduling.py): the list and the revocation answer 404 to those the route is for; creating answers
an empty form with 422 before the appointment is looked up. The guest's pages are public: an unknown
link is 404 to everyone (its page says so in French); a guest's page asking for a new token is refused
(403) to everyone; the guest socket answers a plain GET (no WebSocket upgrade) with 400."""

from __future__ import annotations

import uuid

from teleconsult.identity.model import Role
from tests.integration.access_columns import (
    ANY,
    FORBIDDEN,
    HIDDEN,
    PRINCIPALS,
    Column,
    action,
    page,
    public,
)
from tests.integration.access_rows.scheduling import unknown_to

LEADS = (Role.IDEC, Role.MEDECIN_CO, Role.EXPERT)

PATH_VALUES: dict[str, object] = {
    "invitation_id": uuid.UUID(int=62),
    "invitation_token": "unknown-link-token",
}


def everyone(outcome: str) -> Column:
    return dict.fromkeys(PRINCIPALS, outcome)


ROWS: dict[str, dict[str, Column]] = {
    "invitations.list": {ANY: page(hidden=LEADS)},
    "invitations.create": {ANY: action(*LEADS)},
    "invitations.revoke": {ANY: unknown_to(LEADS)},
    "invitations.landing": {ANY: everyone(HIDDEN)},
    "invitations.join": {ANY: everyone(HIDDEN)},
    "invitations.ticket": {ANY: everyone(FORBIDDEN)},
    "call.ws.guest": {ANY: public()},
}
