"""Access rows: who accessed a resident's record (JSON API and page).

The médecin coordonnateur only (not the IDEC, nor the nurses: 403). The resident id of the matrix is
unknown to everyone, so the médecin coordonnateur gets 404, exactly as for another care home's resident.
"""

from __future__ import annotations

from teleconsult.identity.model import Role
from tests.integration.access_columns import ANY, FORBIDDEN, UNAUTHORIZED, Column, _column, page

ROWS: dict[str, dict[str, Column]] = {
    "api.residents.accesses": {ANY: _column(UNAUTHORIZED, FORBIDDEN, (), hidden=(Role.MEDECIN_CO,))},
    "residents.accesses": {ANY: page(hidden=(Role.MEDECIN_CO,))},
}
