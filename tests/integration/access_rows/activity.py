"""Access rows: the coordinators' activity figures (page, CSV and XLSX exports, monthly PDF). Coordinators and
administrators only; care-home and hospital staff get 403 (aggregates are not theirs to take)."""

from __future__ import annotations

from teleconsult.identity.model import Role
from tests.integration.access_columns import ANY, Column, page

ROWS: dict[str, dict[str, Column]] = {
    "activity": {ANY: page(Role.COORDINATEUR, Role.ADMIN)},
    "activity.csv": {ANY: page(Role.COORDINATEUR, Role.ADMIN)},
    "activity.xlsx": {ANY: page(Role.COORDINATEUR, Role.ADMIN)},
    "activity.pdf": {ANY: page(Role.COORDINATEUR, Role.ADMIN)},
}
