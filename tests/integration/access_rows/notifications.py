"""Access rows: notifications (page and JSON API), the account's calendar-feed address, and the public feed.

Every logged-in person has notifications and reads only their own: the notification id in the path is
unknown, so they get 404, exactly as for another person's. The feed is public (its token is the credential):
an unknown token is 404 for everyone, logged in or not.
"""

from __future__ import annotations

import uuid

from tests.integration.access_columns import (
    ALL_ROLES,
    ANY,
    CARE_HOME,
    FORBIDDEN,
    HIDDEN,
    HOSPITAL,
    UNAUTHORIZED,
    Column,
    _column,
    action,
    page,
)

PATH_VALUES: dict[str, object] = {
    "notification_id": uuid.UUID(int=6),
    "token": "unknown-token-unknown-token-unknown-token43",
}

ROWS: dict[str, dict[str, Column]] = {
    "notifications": {ANY: page(*ALL_ROLES)},
    "notifications.read": {ANY: _column(UNAUTHORIZED, FORBIDDEN, (), hidden=ALL_ROLES)},
    "notifications.read_all": {ANY: action(*ALL_ROLES)},
    "api.notifications": {ANY: action(*ALL_ROLES)},
    "api.notifications.read": {ANY: _column(UNAUTHORIZED, FORBIDDEN, (), hidden=ALL_ROLES)},
    # Those who have appointments have a calendar to subscribe to.
    "account.calendar.create": {ANY: action(*CARE_HOME, *HOSPITAL)},
    "account.calendar.revoke": {ANY: action(*CARE_HOME, *HOSPITAL)},
    "calendar.feed": {ANY: _column(HIDDEN, HIDDEN, (), hidden=ALL_ROLES)},
}
