"""Access rows: the connection test (/connection-test). Whoever takes part in calls runs it: the care
home's staff and the experts; not the secretariat, the coordination or the admins. The socket answers a
plain GET (no WebSocket upgrade) with 400; the offer and the result answer an empty body with 400; an
unknown test's result is 404 only once its body is read, so the empty body's 400 comes first."""

from __future__ import annotations

import uuid

from teleconsult.identity.model import Role
from tests.integration.access_columns import ANY, CARE_HOME, Column, action, page

CALLERS = (*CARE_HOME, Role.EXPERT)

PATH_VALUES: dict[str, object] = {"test_id": uuid.UUID(int=61)}

ROWS: dict[str, dict[str, Column]] = {
    "conntest.page": {ANY: page(*CALLERS)},
    "conntest.ws": {ANY: page(*CALLERS)},
    "conntest.offer": {ANY: action(*CALLERS)},
    "conntest.result": {ANY: action(*CALLERS)},
}
