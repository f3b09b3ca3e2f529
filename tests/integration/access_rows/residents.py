"""Access rows: the residents' registry (JSON API and pages)."""

from __future__ import annotations

import uuid

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

#: Values for the path parameters of these routes. The resident id is unknown to everyone.
PATH_VALUES: dict[str, object] = {"resident_id": uuid.UUID(int=1)}

ROWS: dict[str, dict[str, Column]] = {
    # Residents (JSON API): care-home staff only. POST/PUT get a form, not JSON, so their staff get 400.
    # The resident id is unknown: care-home staff get 404, exactly as for another care home's resident.
    "api.residents": {ANY: action(*CARE_HOME)},
    "api.residents.search": {ANY: action(*CARE_HOME)},
    "api.residents.create": {ANY: action(*CARE_HOME)},
    "api.residents.view": {ANY: _column(UNAUTHORIZED, FORBIDDEN, (), hidden=CARE_HOME)},
    "api.residents.edit": {ANY: action(*CARE_HOME)},
    # Residents (pages): the same rules. An empty form re-renders with 422 (update: before any lookup, so
    # nothing is learnt about the id); an unknown resident's pages are 404 for care-home staff.
    "residents.list": {ANY: page(*CARE_HOME)},
    "residents.search": {ANY: action(*CARE_HOME)},
    "residents.new": {ANY: page(*CARE_HOME)},
    "residents.create": {ANY: action(*CARE_HOME)},
    "residents.view": {ANY: page(hidden=CARE_HOME)},
    "residents.edit": {ANY: page(hidden=CARE_HOME)},
    "residents.update": {ANY: action(*CARE_HOME)},
}
