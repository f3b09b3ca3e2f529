"""HTTP (JSON API) of the residents registry: parse, call one service function, answer JSON.

Bodies are JSON objects; unsafe methods carry the CSRF token in the X-CSRF-Token header. Domain errors
become 4xx with a French message through the error middleware.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from records.residents import service
from records.residents.model import (
    IdentityStatus,
    IdentityTraits,
    Ins,
    RecordAccesses,
    Resident,
    ResidentDetails,
    Sex,
)
from teleconsult.db import UnitOfWork
from teleconsult.errors import InvalidInput, MalformedRequest
from teleconsult.forms import Field, parse, read_json, uuid_in_path
from teleconsult.i18n import N_
from teleconsult.identity.policy import Action
from teleconsult.keys import CLOCK, KEYRING, SESSION_FACTORY
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal
from teleconsult.routing import Routes

routes = Routes()

MAX_FIRST_NAMES = 10


def _utf8(value: str) -> str:
    value.encode("utf-8")  # a lone surrogate from JSON raises UnicodeEncodeError, a ValueError: 422
    return value


def _version(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


DETAIL_FIELDS = [
    Field("birth_name", max_length=100, convert=_utf8),
    Field("used_name", required=False, max_length=100, convert=_utf8),
    Field("used_first_name", required=False, max_length=100, convert=_utf8),
    Field("sex", max_length=1, convert=Sex, invalid=N_("Choose M, F or I.")),
    Field("birth_date", max_length=10, convert=date.fromisoformat, invalid=N_("Give a date as YYYY-MM-DD.")),
    Field("birth_place_code", max_length=5, convert=lambda v: _utf8(v).upper()),
    Field("ins_matricule", required=False, max_length=30, convert=_utf8),
    Field("ins_oid", required=False, max_length=64, convert=_utf8),
    Field("identity_status", required=False, max_length=16, convert=IdentityStatus),
    Field("room", required=False, max_length=50, convert=_utf8),
    Field("treating_physician", required=False, max_length=200, convert=_utf8),
    Field("contact_person", required=False, max_length=200, convert=_utf8),
]


def _first_names(body: dict[str, Any]) -> tuple[str, ...]:
    raw = body.get("first_names")
    if isinstance(raw, str):
        raw = raw.split()
    if not isinstance(raw, list) or not raw or len(raw) > MAX_FIRST_NAMES:
        raise InvalidInput({"first_names": N_("Give the birth first names, as on the identity document.")})
    fields = [Field(f"first_names.{i}", max_length=100, convert=_utf8) for i in range(len(raw))]
    try:
        values = parse({f"first_names.{i}": name for i, name in enumerate(raw)}, fields)
    except InvalidInput as exc:
        raise InvalidInput({"first_names": next(iter(exc.fields.values()))}) from exc
    return tuple(values[f"first_names.{i}"] for i in range(len(raw)))


def parse_details(body: dict[str, Any]) -> ResidentDetails:
    """The resident's details from a JSON body; raises InvalidInput naming every wrong field."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    first_names: tuple[str, ...] = ()
    try:
        values = parse(body, DETAIL_FIELDS)
    except InvalidInput as exc:
        errors.update(exc.fields)
    try:
        first_names = _first_names(body)
    except InvalidInput as exc:
        errors.update(exc.fields)
    if errors:
        raise InvalidInput(errors)
    ins = None
    if values["ins_matricule"] is not None or values["ins_oid"] is not None:
        if values["ins_matricule"] is None:
            raise InvalidInput({"ins_matricule": N_("Give the INS with its authority (OID).")})
        if values["ins_oid"] is None:
            raise InvalidInput({"ins_oid": N_("Give the INS with its authority (OID).")})
        ins = Ins.parse(values["ins_matricule"], values["ins_oid"])
    traits = IdentityTraits(
        birth_name=values["birth_name"],
        first_names=first_names,
        sex=values["sex"],
        birth_date=values["birth_date"],
        birth_place_code=values["birth_place_code"],
        used_name=values["used_name"],
        used_first_name=values["used_first_name"],
    )
    return ResidentDetails(
        traits=traits,
        ins=ins,
        identity_status=values["identity_status"] or IdentityStatus.PROVISOIRE,
        room=values["room"],
        treating_physician=values["treating_physician"],
        contact_person=values["contact_person"],
    )


def resident_json(resident: Resident) -> dict[str, Any]:
    details, traits = resident.details, resident.details.traits
    return {
        "id": str(resident.id),
        "ehpad_id": str(resident.ehpad_id),
        "version": resident.version,
        "identity_status": details.identity_status.value,
        "birth_name": traits.birth_name,
        "used_name": traits.used_name,
        "first_names": list(traits.first_names),
        "used_first_name": traits.used_first_name,
        "sex": traits.sex.value,
        "birth_date": traits.birth_date.isoformat(),
        "birth_place_code": traits.birth_place_code,
        "ins_matricule": details.ins.matricule if details.ins else None,
        "ins_oid": details.ins.oid if details.ins else None,
        "room": details.room,
        "treating_physician": details.treating_physician,
        "contact_person": details.contact_person,
        "created_at": resident.created_at.isoformat(),
        "updated_at": resident.updated_at.isoformat(),
    }


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


@routes.get("/api/v1/residents", name="api.residents", action=Action.VIEW_RESIDENTS)
async def list_residents(request: web.Request) -> web.Response:
    """The residents of the user's care home. Searching is a POST: names and INS never go in a URL, where
    proxies, browser histories and access logs would keep them."""
    if request.query:
        raise MalformedRequest(N_("Search residents by sending the search terms in the request body."))
    return await _search(request, None)


@routes.post("/api/v1/residents/search", name="api.residents.search", action=Action.VIEW_RESIDENTS)
async def search_residents(request: web.Request) -> web.Response:
    query = parse(await read_json(request), [Field("q", required=False, max_length=100, convert=_utf8)])["q"]
    return await _search(request, query)


async def _search(request: web.Request, query: str | None) -> web.Response:
    found = await service.search_residents(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        query,
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.json_response({"residents": [resident_json(r) for r in found]})


@routes.post("/api/v1/residents", name="api.residents.create", action=Action.EDIT_RESIDENTS)
async def create_resident(request: web.Request) -> web.Response:
    details = parse_details(await read_json(request))
    resident = await service.create_resident(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        details,
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.json_response(resident_json(resident), status=201)


async def load_resident(request: web.Request) -> Resident:
    """The resident named in the URL, decrypted for the current principal (policy and audit included)."""
    return await service.view_resident(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        uuid_in_path(request, "resident_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )


@routes.get("/api/v1/residents/{resident_id}", name="api.residents.view", action=Action.VIEW_RESIDENTS)
async def view_resident(request: web.Request) -> web.Response:
    return web.json_response(resident_json(await load_resident(request)))


ACCESSES_QUERY = [Field("older_than", required=False, max_length=20, convert=_version)]


def accesses_json(page: RecordAccesses) -> dict[str, Any]:
    return {
        "resident_id": str(page.resident_id),
        "accesses": [
            {
                "at": access.at.isoformat(),
                "action": access.action,
                "outcome": access.outcome,
                "user_id": str(access.user_id) if access.user_id else None,
                "user_name": access.user_name,
                "role": access.role,
                "establishment_id": str(access.establishment_id) if access.establishment_id else None,
                "establishment_name": access.establishment_name,
            }
            for access in page.accesses
        ],
        "older_than": page.older_than,
    }


async def load_accesses(request: web.Request) -> RecordAccesses:
    """One page of who accessed the resident named in the URL (``?older_than=`` for the next ones)."""
    older_than = parse(request.query, ACCESSES_QUERY)["older_than"]
    return await service.list_record_accesses(
        _uow(request),
        current_principal(request),
        uuid_in_path(request, "resident_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
        older_than,
    )


@routes.get(
    "/api/v1/residents/{resident_id}/accesses",
    name="api.residents.accesses",
    action=Action.VIEW_RECORD_ACCESSES,
)
async def resident_accesses(request: web.Request) -> web.Response:
    """Who accessed a resident's record, newest first: for the EHPAD's médecin coordonnateur."""
    return web.json_response(accesses_json(await load_accesses(request)))


@routes.route(
    "PUT", "/api/v1/residents/{resident_id}", name="api.residents.edit", action=Action.EDIT_RESIDENTS
)
async def edit_resident(request: web.Request) -> web.Response:
    resident_id = uuid_in_path(request, "resident_id")
    body = await read_json(request)
    version = parse(body, [Field("version", max_length=12, convert=_version)])["version"]
    resident = await service.edit_resident(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        resident_id,
        version,
        parse_details(body),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.json_response(resident_json(resident))
