"""Access rows: the video rooms. The call page and its fresh ticket are for the appointment's booked expert
and its care home's staff: for an unknown appointment they get 404 (as for one that is not theirs); the
secretariat, who books but does not take part, gets 403. The signalling socket is public at the route
level (its first message's join token is what admits it); a plain GET, without the WebSocket upgrade, is
answered 400 to everyone. The call's journal is read like the appointment: both sides (the hospital's
secretariat included) get 404 for an unknown one."""

from __future__ import annotations

from teleconsult.identity.model import Role
from tests.integration.access_columns import ANY, CARE_HOME, HOSPITAL, Column, page, public
from tests.integration.access_rows.scheduling import unknown_to

ROWS: dict[str, dict[str, Column]] = {
    "call.page": {ANY: page(hidden=(*CARE_HOME, Role.EXPERT))},
    "call.ticket": {ANY: page(hidden=(*CARE_HOME, Role.EXPERT))},
    "call.ws": {ANY: public()},
    "api.call_journal": {ANY: unknown_to(CARE_HOME, HOSPITAL)},
}
