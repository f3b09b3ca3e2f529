"""Access rows: an appointment's preparation documents (JSON API and the appointment page's upload and
download). The appointment is unknown (``appointment_id`` from scheduling.py) and so is the document: those
the route is for get 404 from the service, the policy being asked about the appointment before an upload's
body is read; the others 403."""

from __future__ import annotations

from tests.integration.access_columns import ANY, CARE_HOME, HOSPITAL, Column, page
from tests.integration.access_rows.scheduling import unknown_to

ROWS: dict[str, dict[str, Column]] = {
    # Only the care home attaches; both sides list and download.
    "api.appointments.documents.upload": {ANY: unknown_to(CARE_HOME)},
    "api.appointments.documents": {ANY: unknown_to(CARE_HOME, HOSPITAL)},
    "api.appointments.documents.download": {ANY: unknown_to(CARE_HOME, HOSPITAL)},
    "appointments.documents.upload": {ANY: unknown_to(CARE_HOME)},
    "appointments.documents.download": {ANY: page(hidden=(*CARE_HOME, *HOSPITAL))},
}
