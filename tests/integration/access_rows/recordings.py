"""Access rows: call recordings. The appointment and the recording are unknown (``appointment_id`` from
scheduling.py): those who may play recordings back (the experts, the médecin coordonnateur) get 404 from
the service, those who may record (the care home's staff, the experts) the 4xx of the body; the others
403."""

from __future__ import annotations

import uuid

from teleconsult.identity.model import Role
from tests.integration.access_columns import ANY, CARE_HOME, Column, action
from tests.integration.access_rows.scheduling import unknown_to

PATH_VALUES: dict[str, object] = {"recording_id": uuid.UUID(int=14)}

ROWS: dict[str, dict[str, Column]] = {
    # The JSON body is read first (as every JSON route does): those allowed get its 4xx.
    "api.recording.offer": {ANY: action(*CARE_HOME, Role.EXPERT)},
    "api.recording.stop": {ANY: action(*CARE_HOME, Role.EXPERT)},
    "api.recordings": {ANY: unknown_to((Role.EXPERT, Role.MEDECIN_CO))},
    "api.recordings.play": {ANY: unknown_to((Role.EXPERT, Role.MEDECIN_CO))},
}
