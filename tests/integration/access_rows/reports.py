"""Access rows: comptes-rendus of an (unknown) appointment, through the JSON API and the pages. The booked
expert writes; the expert and the care home's staff read (404 for an unknown appointment); the secretariat,
coordinators and admins never see a report (403)."""

from __future__ import annotations

from teleconsult.identity.model import Role
from tests.integration.access_columns import ANY, CARE_HOME, Column, page
from tests.integration.access_rows.scheduling import unknown_to

EXPERT = (Role.EXPERT,)

ROWS: dict[str, dict[str, Column]] = {
    "api.reports.read": {ANY: unknown_to(CARE_HOME, EXPERT)},
    "api.reports.save": {ANY: unknown_to(EXPERT)},
    "api.reports.finalise": {ANY: unknown_to(EXPERT)},
    "api.reports.addendum": {ANY: unknown_to(EXPERT)},
    "reports.page": {ANY: page(hidden=(*CARE_HOME, Role.EXPERT))},
    "reports.pdf": {ANY: page(hidden=(*CARE_HOME, Role.EXPERT))},
    "reports.save": {ANY: unknown_to(EXPERT)},
    "reports.addendum": {ANY: unknown_to(EXPERT)},
    # A resident's timeline: the care home's staff (404 for an unknown resident), nobody else.
    "residents.timeline": {ANY: page(hidden=CARE_HOME)},
}
