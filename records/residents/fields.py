"""The one mechanism by which residents' health fields reach the database: an explicit mapper between a
resident and its row, sealing every health field under the resident's data key, bound to its place
(table, column, resident id, EHPAD id), and computing the blind indexes of the searchable values.

Absent optional values are sealed as the empty string, so a row does not even show which fields are
filled in. See docs/adr/0009-resident-fields-and-blind-indexes.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Protocol
from uuid import UUID

from records.crypto import (
    DataKey,
    KeyProvider,
    RecordRef,
    blind_index,
    blind_indexes,
    open_fields,
    seal_fields,
)
from records.residents.model import (
    IdentityStatus,
    IdentityTraits,
    Ins,
    ResidentDetails,
    Sex,
    name_tokens,
)

TABLE = "residents"

#: Every sealed column of the residents table, in the order of the row.
SEALED_COLUMNS = (
    "birth_name",
    "used_name",
    "first_names",
    "used_first_name",
    "sex",
    "birth_date",
    "birth_place_code",
    "ins_matricule",
    "ins_oid",
    "room",
    "treating_physician",
    "contact_person",
)

INS_PURPOSE = "ins"
NAME_TOKEN_PURPOSE = "name-token"  # noqa: S105 - a label, not a secret
_FIRST_NAMES_SEPARATOR = "\x1f"  # unit separator: never in a validated name (control characters refused)


class SealingKeys(KeyProvider, Protocol):
    """The health-data keys a store needs: KEKs to wrap data keys, and the blind-index key."""

    @property
    def index_key(self) -> bytes: ...


def record_ref(resident_id: UUID, ehpad_id: UUID) -> RecordRef:
    return RecordRef(TABLE, str(resident_id), str(ehpad_id))


def _plain_values(details: ResidentDetails) -> dict[str, str]:
    traits, ins = details.traits, details.ins
    return {
        "birth_name": traits.birth_name,
        "used_name": traits.used_name or "",
        "first_names": _FIRST_NAMES_SEPARATOR.join(traits.first_names),
        "used_first_name": traits.used_first_name or "",
        "sex": traits.sex.value,
        "birth_date": traits.birth_date.isoformat(),
        "birth_place_code": traits.birth_place_code,
        "ins_matricule": ins.matricule if ins else "",
        "ins_oid": ins.oid if ins else "",
        "room": details.room or "",
        "treating_physician": details.treating_physician or "",
        "contact_person": details.contact_person or "",
    }


def seal_details(dek: DataKey, ref: RecordRef, details: ResidentDetails) -> dict[str, bytes]:
    """Column -> ciphertext for every sealed column, each bound to its place (table, column, resident id,
    EHPAD id); ``ref`` is the resident's :func:`record_ref`."""
    plain = {column: value.encode("utf-8") for column, value in _plain_values(details).items()}
    return seal_fields(dek, ref, plain)


def open_details(
    dek: DataKey, ref: RecordRef, sealed: Mapping[str, bytes], identity_status: IdentityStatus
) -> ResidentDetails:
    """The details back from ``sealed`` (at least every sealed column; ``ref`` is the resident's
    :func:`record_ref`); raises IntegrityError / MalformedCiphertext (never partial data)."""
    opened = open_fields(dek, ref, {column: sealed[column] for column in SEALED_COLUMNS})
    plain = {column: value.decode("utf-8") for column, value in opened.items()}
    traits = IdentityTraits(
        birth_name=plain["birth_name"],
        first_names=tuple(plain["first_names"].split(_FIRST_NAMES_SEPARATOR)),
        sex=Sex(plain["sex"]),
        birth_date=date.fromisoformat(plain["birth_date"]),
        birth_place_code=plain["birth_place_code"],
        used_name=plain["used_name"] or None,
        used_first_name=plain["used_first_name"] or None,
    )
    ins = Ins(plain["ins_matricule"], plain["ins_oid"]) if plain["ins_matricule"] else None
    return ResidentDetails(
        traits=traits,
        ins=ins,
        identity_status=identity_status,
        room=plain["room"] or None,
        treating_physician=plain["treating_physician"] or None,
        contact_person=plain["contact_person"] or None,
    )


def ins_index(index_key: bytes, ehpad_id: UUID, matricule: str) -> str:
    """Blind index of an INS, scoped to one EHPAD (the same person in two EHPADs is not linkable)."""
    return blind_index(index_key, INS_PURPOSE, f"{ehpad_id}|{matricule}")


def token_index(index_key: bytes, ehpad_id: UUID, token: str) -> str:
    """Blind index of one name token ("W:DUPONT", "P:DUP"), scoped to one EHPAD."""
    return blind_index(index_key, NAME_TOKEN_PURPOSE, f"{ehpad_id}|{token}")


def name_token_indexes(index_key: bytes, ehpad_id: UUID, traits: IdentityTraits) -> set[str]:
    """:func:`token_index` of each of the resident's name tokens."""
    scope = f"{ehpad_id}|"
    return set(blind_indexes(index_key, NAME_TOKEN_PURPOSE, [scope + token for token in name_tokens(traits)]))
