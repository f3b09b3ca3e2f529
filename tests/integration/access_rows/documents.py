"""Access rows: residents' documents (JSON API and the resident page's upload and download)."""

from __future__ import annotations

import uuid

from tests.integration.access_columns import ANY, CARE_HOME, FORBIDDEN, UNAUTHORIZED, Column, _column, page

#: The document id is unknown to everyone (and so is the resident id, see residents.py).
PATH_VALUES: dict[str, object] = {"document_id": uuid.UUID(int=2)}

#: Care-home staff only; the resident is unknown, so they get 404 exactly as for another care home's
#: resident. The policy and the resident are checked before an upload's body is read, so the matrix's
#: url-encoded form gets the same 404 (never the 400 its body would earn).
_HIDDEN_FROM_CARE_HOME = _column(UNAUTHORIZED, FORBIDDEN, (), hidden=CARE_HOME)

ROWS: dict[str, dict[str, Column]] = {
    "api.documents.upload": {ANY: _HIDDEN_FROM_CARE_HOME},
    "api.documents": {ANY: _HIDDEN_FROM_CARE_HOME},
    "api.documents.download": {ANY: _HIDDEN_FROM_CARE_HOME},
    "residents.documents.upload": {ANY: _HIDDEN_FROM_CARE_HOME},
    "residents.documents.download": {ANY: page(hidden=CARE_HOME)},
}
