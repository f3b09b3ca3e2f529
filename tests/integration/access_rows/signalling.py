"""Access rows: the video rooms. The call page and its fresh ticket are for the appointment's booked expert
and its care home's staff: for an unknown appointment they get 404 (as for one that is not theirs); the
secretariat, who books but does not take part, gets 403. The signalling socket is public at the route
level (its first message's join token is what admits it); a plain GET, without the WebSocket upgrade, is
answered 400 to everyone."""

from __future__ import annotations

from teleconsult.identity.model import Role
from tests.integration.access_columns import ANY, CARE_HOME, Column, page, public

ROWS: dict[str, dict[str, Column]] = {
    "call.page": {ANY: page(hidden=(*CARE_HOME, Role.EXPERT))},
    "call.ticket": {ANY: page(hidden=(*CARE_HOME, Role.EXPERT))},
    "call.ws": {ANY: public()},
}
