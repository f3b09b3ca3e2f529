"""Access rows: scheduling (JSON API). Every id in a path is unknown: those allowed to ask get 404 from the
service (exactly what they would get for an appointment or expert that is not theirs); POSTs carry a form,
not JSON, so those allowed get 400."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from teleconsult.identity.model import Role
from tests.integration.access_columns import (
    ANY,
    CARE_HOME,
    FORBIDDEN,
    HOSPITAL,
    UNAUTHORIZED,
    Column,
    _column,
    action,
    page,
)

PATH_VALUES: dict[str, object] = {
    "appointment_id": uuid.UUID(int=2),
    "expert_id": uuid.UUID(int=3),
    "window_id": uuid.UUID(int=4),
    "leave_id": uuid.UUID(int=5),
    "team_window_id": uuid.UUID(int=6),
    "item": "dlu",
}


def unknown_to(*groups: Iterable[Role]) -> Column:
    """Logged-in users the route is for get 404 for an unknown id; the others 403."""
    return _column(UNAUTHORIZED, FORBIDDEN, (), hidden=[role for group in groups for role in group])


ROWS: dict[str, dict[str, Column]] = {
    # The nurse's side: slots, booking, the care home's appointments, preparation.
    "api.slots": {ANY: action(*CARE_HOME)},
    "api.specialties": {ANY: action(*CARE_HOME)},
    "api.appointments": {ANY: action(*CARE_HOME)},
    "api.appointments.book": {ANY: action(*CARE_HOME)},
    "api.appointments.reschedule": {ANY: action(*CARE_HOME)},
    "api.appointments.checklist": {ANY: action(*CARE_HOME)},
    # Both sides of an appointment.
    "api.appointments.view": {ANY: unknown_to(CARE_HOME, HOSPITAL)},
    "api.appointments.cancel": {ANY: action(*CARE_HOME, *HOSPITAL)},
    "api.appointments.no_show": {ANY: unknown_to(CARE_HOME, HOSPITAL)},
    # The hospital's side: agendas and availability.
    "api.agenda": {ANY: unknown_to(HOSPITAL)},
    "api.availability": {ANY: unknown_to(HOSPITAL)},
    "api.windows.add": {ANY: action(*HOSPITAL)},
    "api.windows.remove": {ANY: unknown_to(HOSPITAL)},
    "api.team_windows.apply": {ANY: unknown_to(HOSPITAL)},
    "api.leaves.add": {ANY: action(*HOSPITAL)},
    "api.leaves.remove": {ANY: unknown_to(HOSPITAL)},
    # Pages. The nurse's: the list, the three steps (an empty POST goes back to step 1), one appointment.
    "appointments.list": {ANY: page(*CARE_HOME)},
    "appointments.new": {ANY: page(*CARE_HOME)},
    "appointments.create": {ANY: action(*CARE_HOME)},
    "appointments.view": {ANY: page(hidden=(*CARE_HOME, *HOSPITAL))},
    "appointments.checklist": {ANY: unknown_to(CARE_HOME)},
    "appointments.cancel": {ANY: unknown_to(CARE_HOME, HOSPITAL)},
    "appointments.no_show": {ANY: unknown_to(CARE_HOME, HOSPITAL)},
    "appointments.reschedule": {ANY: page(hidden=CARE_HOME)},
    "appointments.reschedule.submit": {ANY: unknown_to(CARE_HOME)},
    # The hospital's: the week's agenda and availability (an empty form re-renders with 422).
    "agenda": {ANY: page(*HOSPITAL)},
    "availability": {ANY: page(*HOSPITAL)},
    "availability.windows.add": {ANY: action(*HOSPITAL)},
    "availability.windows.remove": {ANY: unknown_to(HOSPITAL)},
    "availability.team_windows.apply": {ANY: unknown_to(HOSPITAL)},
    "availability.leaves.add": {ANY: action(*HOSPITAL)},
    "availability.leaves.remove": {ANY: unknown_to(HOSPITAL)},
}
