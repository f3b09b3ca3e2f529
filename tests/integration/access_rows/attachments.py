"""Access rows: attachments of an appointment (its preparation documents) and of a tele-expertise request
(its photos), through the JSON API and the pages. The appointment and the request are unknown
(``appointment_id`` from scheduling.py, ``expertise_id`` from expertise.py) and so is the document: those the
route is for get 404 from the service, the policy being asked before an upload's body is read; the others
403."""

from __future__ import annotations

from teleconsult.identity.model import Role
from tests.integration.access_columns import ANY, CARE_HOME, HOSPITAL, Column, page
from tests.integration.access_rows.scheduling import unknown_to

ROWS: dict[str, dict[str, Column]] = {
    # Only the care home attaches; both sides list and download.
    "api.appointments.documents.upload": {ANY: unknown_to(CARE_HOME)},
    "api.appointments.documents": {ANY: unknown_to(CARE_HOME, HOSPITAL)},
    "api.appointments.documents.download": {ANY: unknown_to(CARE_HOME, HOSPITAL)},
    "appointments.documents.upload": {ANY: unknown_to(CARE_HOME)},
    "appointments.documents.download": {ANY: page(hidden=(*CARE_HOME, *HOSPITAL))},
    # Tele-expertise: the care home attaches; the care home and the experts (not their secretariat) read.
    "api.expertise.documents.upload": {ANY: unknown_to(CARE_HOME)},
    "api.expertise.documents": {ANY: unknown_to(CARE_HOME, (Role.EXPERT,))},
    "api.expertise.documents.download": {ANY: unknown_to(CARE_HOME, (Role.EXPERT,))},
    "expertise.documents.upload": {ANY: unknown_to(CARE_HOME)},
    "expertise.documents.download": {ANY: page(hidden=(*CARE_HOME, Role.EXPERT))},
}
