"""Residents' identity per the national health identifier (INS) rules. Pure Python: no I/O, no clock.

The matricule INS is the person's NIR (social security number) or, for people without one, a NIA. An INS may
only be used (in exchanges, on documents) once the identity is *qualifiée*: checked against an identity
document *and* retrieved from the national INSi service. Test identities carry test OIDs so they can never be
mistaken for real ones. Facts from the ANS "Référentiel national d'identitovigilance" and the INS guide.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from teleconsult.errors import DomainError, InvalidInput
from teleconsult.i18n import N_

#: Assigning authorities (OIDs) of the matricule INS.
OID_NIR = "1.2.250.1.213.1.4.8"
OID_NIA = "1.2.250.1.213.1.4.9"
OID_TEST_NIR = "1.2.250.1.213.1.4.10"  # test identities: never a real person
OID_TEST_NIA = "1.2.250.1.213.1.4.11"
KNOWN_OIDS = frozenset({OID_NIR, OID_NIA, OID_TEST_NIR, OID_TEST_NIA})
TEST_OIDS = frozenset({OID_TEST_NIR, OID_TEST_NIA})


class Sex(StrEnum):
    MALE = "M"
    FEMALE = "F"
    UNKNOWN = "I"  # indéterminé


class IdentityStatus(StrEnum):
    """The four identity statuses of the national identity-vigilance reference (RNIV)."""

    PROVISOIRE = "provisoire"  # neither checked against a document nor retrieved from INSi
    RECUPEREE = "recuperee"  # retrieved from INSi, not yet checked against an identity document
    VALIDEE = "validee"  # checked against an identity document, not retrieved from INSi
    QUALIFIEE = "qualifiee"  # both: only then may the INS be used

    @property
    def may_use_ins(self) -> bool:
        return self is IdentityStatus.QUALIFIEE


_NIR = re.compile(r"^([1-478])(\d{2})(\d{2})(\d{2}|2A|2B)(\d{3})(\d{3})(\d{2})$")
_INSEE_PLACE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")


def normalise_nir(raw: str) -> str:
    return re.sub(r"[\s.-]", "", raw).upper()


def nir_key(first_13: str) -> int:
    """The 2-digit control key: 97 minus the 13-character number modulo 97, Corsica's 2A and 2B being
    replaced by 19 and 18 for the computation."""
    number = first_13.replace("2A", "19", 1) if first_13[5:7] == "2A" else first_13
    number = number.replace("2B", "18", 1) if first_13[5:7] == "2B" else number
    return 97 - int(number) % 97


def check_nir(raw: str) -> str:
    """A NIR (15 characters: 13 + a 2-digit key), normalised; raises InvalidInput with a French message."""
    nir = normalise_nir(raw)
    match = _NIR.match(nir)
    if match is None:
        raise InvalidInput(
            {"ins": N_("An INS has 15 characters: 13 digits (2A or 2B for Corsica) and a 2-digit key.")}
        )
    if nir_key(nir[:13]) != int(match.group(7)):
        raise InvalidInput({"ins": N_("The key of this INS is wrong: check the 15 characters again.")})
    return nir


@dataclass(frozen=True, slots=True)
class Ins:
    """A matricule INS with its assigning authority."""

    matricule: str
    oid: str

    @property
    def is_test(self) -> bool:
        return self.oid in TEST_OIDS

    @classmethod
    def parse(cls, matricule: str, oid: str) -> Ins:
        if oid not in KNOWN_OIDS:
            raise InvalidInput({"ins_oid": N_("Unknown INS authority (OID).")})
        return cls(check_nir(matricule), oid)


@dataclass(frozen=True, slots=True)
class IdentityTraits:
    """The strict identity traits of the INS, as on the identity document."""

    birth_name: str
    first_names: tuple[str, ...]  # birth first names, in order; the first is the "premier prénom"
    sex: Sex
    birth_date: date
    birth_place_code: str  # INSEE code of the birth commune, 99xxx for a birth abroad
    used_name: str | None = None
    used_first_name: str | None = None

    @property
    def first_given_name(self) -> str:
        return self.first_names[0]

    def display_name(self) -> str:
        """How staff call the resident: used (else birth) name in capitals, then the used first name."""
        return (
            f"{(self.used_name or self.birth_name).upper()} {self.used_first_name or self.first_given_name}"
        )


def check_traits(traits: IdentityTraits, today: date) -> None:
    fields: dict[str, str] = {}
    if not traits.birth_name.strip():
        fields["birth_name"] = N_("Give the birth name, as on the identity document.")
    if not traits.first_names or not traits.first_names[0].strip():
        fields["first_names"] = N_("Give the birth first names, as on the identity document.")
    if traits.birth_date > today:
        fields["birth_date"] = N_("The birth date cannot be in the future.")
    elif traits.birth_date.year < today.year - 125:
        fields["birth_date"] = N_("This birth date is not plausible.")
    if not _INSEE_PLACE.match(traits.birth_place_code):
        fields["birth_place_code"] = N_("The birth place code has 5 characters (INSEE code, 99xxx abroad).")
    if fields:
        raise InvalidInput(fields)


def check_ins_matches_traits(ins: Ins, traits: IdentityTraits) -> None:
    """The NIR repeats some traits: sex (1 male, 2 female, 3/4/7/8 special cases), year and month of birth
    (a month of 20 or more means unknown). A mismatch usually means a typing error or the wrong person."""
    nir = ins.matricule
    fields: dict[str, str] = {}
    sex_digit = nir[0]
    if (sex_digit == "1" and traits.sex is Sex.FEMALE) or (sex_digit == "2" and traits.sex is Sex.MALE):
        fields["sex"] = N_("The sex does not match the INS (its first digit).")
    if int(nir[1:3]) != traits.birth_date.year % 100:
        fields["birth_date"] = N_("The year of birth does not match the INS.")
    month = int(nir[3:5])
    if 1 <= month <= 12 and month != traits.birth_date.month:
        fields["birth_date"] = N_("The month of birth does not match the INS.")
    if fields:
        raise InvalidInput(fields)


class ResidentError(DomainError):
    """Base of the residents registry's errors."""

    code = "resident.error"


class InsTaken(ResidentError):
    """Another resident of this EHPAD already has this INS (identity-vigilance: no duplicate records)."""

    code = "resident.ins_taken"
    status = 409
    message = N_("A resident of this care home already has this INS: search for them instead.")


class StaleResident(ResidentError):
    """The edit was based on an older version of the record (someone else saved meanwhile)."""

    code = "resident.stale"
    status = 409
    message = N_("Someone changed this resident's record at the same time. Reload it, then edit again.")


class UnreadableRecord(ResidentError):
    """A stored ciphertext failed to decrypt (altered, moved, or its key is gone): never partial data."""

    code = "record.unreadable"
    status = 500
    message = N_("Unreadable record: contact the administrator.")


@dataclass(frozen=True, slots=True)
class ResidentDetails:
    """What the nurse types about a resident: identity traits, INS, status and care-home details."""

    traits: IdentityTraits
    ins: Ins | None
    identity_status: IdentityStatus
    room: str | None = None
    treating_physician: str | None = None  # the médecin traitant's name
    contact_person: str | None = None  # name and telephone of the person to call


@dataclass(frozen=True, slots=True)
class Resident:
    """A resident of one EHPAD. ``version`` grows by one at each saved edit (optimistic concurrency)."""

    id: UUID
    ehpad_id: UUID
    details: ResidentDetails
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RecordAccess:
    """One event of the audit trail about a resident's record, with the names a reader needs. ``action``
    is the trail's code ("resident.read"); ``user_name`` is None for the host's operator (the demo's
    residents, imports) or an account since removed."""

    at: datetime
    action: str
    outcome: str
    user_id: UUID | None
    user_name: str | None
    role: str | None
    establishment_id: UUID | None
    establishment_name: str | None


@dataclass(frozen=True, slots=True)
class RecordAccesses:
    """One page of the accesses to a resident's record, newest first; ``older_than`` is where the next
    page starts (None on the last page)."""

    resident_id: UUID
    accesses: list[RecordAccess]
    older_than: int | None


def check_details(details: ResidentDetails, today: date) -> None:
    """Traits, INS key and INS against traits; an INS is required once the identity came from INSi."""
    check_traits(details.traits, today)
    if details.ins is not None:
        check_ins_matches_traits(details.ins, details.traits)
    elif details.identity_status in (IdentityStatus.RECUPEREE, IdentityStatus.QUALIFIEE):
        raise InvalidInput({"ins": N_("An identity retrieved from INSi has an INS: give it.")})


_NOT_NAME = re.compile(r"[^A-Z0-9]+")
#: Length of the prefix tokens of name search (see docs/adr/0009-resident-fields-and-blind-indexes.md).
PREFIX_LENGTH = 3


def name_words(text: str) -> list[str]:
    """Uppercase words without accents: "Le Bœuf-Hélène" -> ["LE", "BOEUF", "HELENE"]."""
    text = text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("Æ", "AE")
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()
    return [word for word in _NOT_NAME.split(stripped) if word]


def name_tokens(traits: IdentityTraits) -> set[str]:
    """The search tokens of a resident: each word of the birth and used names ("W:DUPONT") and its
    first three letters ("P:DUP"). Only their blind indexes are stored."""
    tokens: set[str] = set()
    for word in name_words(traits.birth_name) + name_words(traits.used_name or ""):
        tokens.add("W:" + word)
        if len(word) >= PREFIX_LENGTH:
            tokens.add("P:" + word[:PREFIX_LENGTH])
    return tokens


def query_token(word: str) -> str:
    """The token a query word is looked up by: its prefix token, or the whole word when shorter."""
    return "P:" + word[:PREFIX_LENGTH] if len(word) >= PREFIX_LENGTH else "W:" + word


def lookup_tokens(query_words: list[str]) -> set[str]:
    """The tokens the index is asked for, every one of which a match must have. A word shorter than the
    prefix length is looked up whole, so it must not be a beginning still being typed: "n'd" (N'DIAYE) or
    "le g" (LE GALL) would find nobody. Short words are therefore left to :func:`matches_name_query`
    whenever a longer word can narrow the lookup, and the last short word (the one being typed) always,
    unless it is the only word."""
    long_words = [word for word in query_words if len(word) >= PREFIX_LENGTH]
    if long_words:
        return {query_token(word) for word in long_words}
    whole = query_words[:-1] or query_words
    return {query_token(word) for word in whole}


def matches_name_query(traits: IdentityTraits, query_words: list[str]) -> bool:
    """Every query word starts some word of the birth or used name (the check after the index lookup)."""
    words = name_words(traits.birth_name) + name_words(traits.used_name or "")
    return all(any(word.startswith(q) for word in words) for q in query_words)


def looks_like_ins(query: str) -> bool:
    return _NIR.match(normalise_nir(query)) is not None
