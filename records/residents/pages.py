"""HTML pages of the residents registry, for care-home staff on a shared tablet: list and search, create,
read and edit a resident. Input is read with the JSON API's parse_details, so both share one set of rules.

Searching is a POST (names and INS never go in a URL). Another care home's resident is a 404, as in the API.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from records.audit.model import Outcome
from records.documents.labels import DOCUMENT_LABELS
from records.documents.routes import list_for, upload_limits
from records.residents import service
from records.residents.model import (
    OID_NIA,
    OID_NIR,
    OID_TEST_NIA,
    OID_TEST_NIR,
    IdentityStatus,
    InsTaken,
    Resident,
    Sex,
    StaleResident,
)
from records.residents.routes import (
    _uow,
    _utf8,
    _version,
    load_accesses,
    load_resident,
    parse_details,
    resident_json,
)
from teleconsult.errors import InvalidInput
from teleconsult.forms import Field, parse, read_form, uuid_in_path
from teleconsult.i18n import N_
from teleconsult.identity.model import Role
from teleconsult.identity.policy import Action
from teleconsult.keys import CLOCK, KEYRING, SETTINGS
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal, redirect, render_page
from teleconsult.routing import PageSpec, Routes

routes = Routes()

CARE_HOME_PAGE = PageSpec(role=Role.IDE, care_home=True)

STATUS_LABELS: dict[str, str] = {
    IdentityStatus.PROVISOIRE: N_("Provisional"),
    IdentityStatus.RECUPEREE: N_("Retrieved"),
    IdentityStatus.VALIDEE: N_("Validated"),
    IdentityStatus.QUALIFIEE: N_("Qualified"),
}

#: Why the INS may not be used yet, by identity status (qualifiée: it may).
STATUS_EXPLANATIONS: dict[str, str] = {
    IdentityStatus.PROVISOIRE: N_(
        "The identity has been neither checked against an identity document nor retrieved from the INSi "
        "service: its INS cannot be used yet."
    ),
    IdentityStatus.RECUPEREE: N_(
        "The INS was retrieved from the INSi service, but the identity has not been checked against an "
        "identity document yet: the INS cannot be used until it is."
    ),
    IdentityStatus.VALIDEE: N_(
        "The identity was checked against an identity document, but the INS has not been retrieved from "
        "the INSi service yet: the INS cannot be used until it is."
    ),
}

SEX_LABELS: dict[str, str] = {Sex.FEMALE: N_("Female"), Sex.MALE: N_("Male"), Sex.UNKNOWN: N_("Undetermined")}

OID_LABELS: dict[str, str] = {
    OID_TEST_NIR: N_("Test NIR (fictitious identity)"),
    OID_TEST_NIA: N_("Test NIA (fictitious identity)"),
    OID_NIR: N_("NIR (social security number)"),
    OID_NIA: N_("NIA (person without a NIR)"),
}

#: The audit trail's actions on a resident's record, in plain words (others are shown as their code).
ACCESS_ACTION_LABELS: dict[str, str] = {
    "resident.create": N_("Created the record"),
    "resident.read": N_("Opened the record"),
    "resident.update": N_("Changed the record"),
    "resident.accesses": N_("Looked at who accessed the record"),
    "document.list": N_("Listed the record's documents"),
}

OUTCOME_LABELS: dict[str, str] = {
    Outcome.SUCCESS: N_("Done"),
    Outcome.FAILURE: N_("Failed"),
    Outcome.DENIED: N_("Refused"),
}

SEARCH_FIELDS = [Field("q", required=False, max_length=100, convert=_utf8)]

FORM_FIELDS = (
    "birth_name",
    "used_name",
    "first_names",
    "used_first_name",
    "sex",
    "birth_date",
    "birth_place_code",
    "ins_matricule",
    "ins_oid",
    "identity_status",
    "room",
    "treating_physician",
    "contact_person",
)


def french_date(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def _labels() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "status_explanations": STATUS_EXPLANATIONS,
        "sex_labels": SEX_LABELS,
        "oid_labels": OID_LABELS,
        "french_date": french_date,
    }


def _default_oid(request: web.Request) -> str:
    return OID_TEST_NIR if request.app[SETTINGS].is_demo else OID_NIR


def _form_values(form: dict[str, str]) -> dict[str, str]:
    """What was typed, for the form shown again (only the fields the form has)."""
    return {name: form[name] for name in FORM_FIELDS if name in form}


def _details_input(form: dict[str, str]) -> dict[str, Any]:
    """The form as parse_details expects it: no INS typed means no INS (the authority list has a default)."""
    body: dict[str, Any] = _form_values(form)
    if not body.get("ins_matricule", "").strip():
        body.pop("ins_matricule", None)
        body.pop("ins_oid", None)
    return body


def _field_errors(fields: dict[str, str]) -> dict[str, str]:
    """The domain names the INS "ins"; on the form it is the matricule's field."""
    errors = dict(fields)
    if "ins" in errors:
        errors.setdefault("ins_matricule", errors.pop("ins"))
    return errors


def _render_list(
    request: web.Request, residents: list[Resident], query: str = "", status: int = 200, **context: Any
) -> web.Response:
    return render_page(
        request, "residents/list.html", status, residents=residents, query=query, **_labels(), **context
    )


def _render_form(
    request: web.Request,
    values: dict[str, str],
    status: int = 200,
    resident_id: str | None = None,
    **context: Any,
) -> web.Response:
    return render_page(
        request,
        "residents/form.html",
        status,
        values=values,
        resident_id=resident_id,
        oid_options=list(OID_LABELS.items()),
        status_options=[(status.value, STATUS_LABELS[status]) for status in IdentityStatus],
        sexes=[Sex.FEMALE, Sex.MALE, Sex.UNKNOWN],
        **_labels(),
        **context,
    )


@routes.get("/residents", name="residents.list", action=Action.VIEW_RESIDENTS, page=CARE_HOME_PAGE)
async def residents_list(request: web.Request) -> web.StreamResponse:
    found = await service.search_residents(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        None,
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return _render_list(request, found)


@routes.post("/residents/search", name="residents.search", action=Action.VIEW_RESIDENTS)
async def residents_search(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    query = (form.get("q") or "").strip()
    try:
        query = parse(form, SEARCH_FIELDS)["q"] or ""
        found = await service.search_residents(
            _uow(request),
            request.app[KEYRING],
            current_principal(request),
            query,
            request.app[CLOCK].now(),
            client_address_of(request),
        )
    except InvalidInput as exc:
        return _render_list(request, [], query[:100], exc.status, errors=exc.fields, searched=True)
    return _render_list(request, found, query, searched=bool(query))


@routes.get("/residents/new", name="residents.new", action=Action.EDIT_RESIDENTS, page=CARE_HOME_PAGE)
async def residents_new(request: web.Request) -> web.StreamResponse:
    values = {"ins_oid": _default_oid(request), "identity_status": IdentityStatus.PROVISOIRE.value}
    return _render_form(request, values)


@routes.post("/residents", name="residents.create", action=Action.EDIT_RESIDENTS)
async def residents_create(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    try:
        resident = await service.create_resident(
            _uow(request),
            request.app[KEYRING],
            current_principal(request),
            parse_details(_details_input(form)),
            request.app[CLOCK].now(),
            client_address_of(request),
        )
    except InvalidInput as exc:
        return _render_form(
            request, _form_values(form), exc.status, errors=_field_errors(exc.fields), error=exc.text
        )
    except InsTaken as exc:
        return _render_form(request, _form_values(form), exc.status, error=exc.text)
    raise redirect(request, "residents.view", resident_id=str(resident.id))


async def render_resident(
    request: web.Request, resident: Resident, status: int = 200, **context: Any
) -> web.Response:
    """The resident's page with its documents (their listing is audited) and the upload form; ``context``
    carries a refused upload's message and typed title."""
    documents = await list_for(request)
    context.setdefault("upload_error", None)
    context.setdefault("upload_error_params", {})
    context.setdefault("upload_errors", {})
    context.setdefault("upload_title", "")
    return render_page(
        request,
        "residents/view.html",
        status,
        resident=resident,
        documents=documents,
        upload_limits=upload_limits(request),
        **DOCUMENT_LABELS,
        **_labels(),
        **context,
    )


@routes.get("/residents/{resident_id}", name="residents.view", action=Action.VIEW_RESIDENTS)
async def residents_view(request: web.Request) -> web.StreamResponse:
    return await render_resident(request, await load_resident(request))


@routes.get(
    "/residents/{resident_id}/accesses", name="residents.accesses", action=Action.VIEW_RECORD_ACCESSES
)
async def residents_accesses(request: web.Request) -> web.StreamResponse:
    page = await load_accesses(request)
    return render_page(
        request,
        "residents/accesses.html",
        page=page,
        first_page=request.query.get("older_than") is None,
        action_labels=ACCESS_ACTION_LABELS,
        outcome_labels=OUTCOME_LABELS,
    )


@routes.get("/residents/{resident_id}/edit", name="residents.edit", action=Action.EDIT_RESIDENTS)
async def residents_edit(request: web.Request) -> web.StreamResponse:
    resident = await load_resident(request)
    stored = resident_json(resident)
    values = {name: str(stored[name]) for name in FORM_FIELDS if stored.get(name) is not None}
    values["first_names"] = " ".join(resident.details.traits.first_names)
    values.setdefault("ins_oid", _default_oid(request))
    values["version"] = str(resident.version)
    return _render_form(request, values, resident_id=str(resident.id))


@routes.post("/residents/{resident_id}/edit", name="residents.update", action=Action.EDIT_RESIDENTS)
async def residents_update(request: web.Request) -> web.StreamResponse:
    resident_id = uuid_in_path(request, "resident_id")
    form = await read_form(request)
    values = {**_form_values(form), "version": form.get("version", "")}
    try:
        version = parse(form, [Field("version", max_length=12, convert=_version)])["version"]
        resident = await service.edit_resident(
            _uow(request),
            request.app[KEYRING],
            current_principal(request),
            resident_id,
            version,
            parse_details(_details_input(form)),
            request.app[CLOCK].now(),
            client_address_of(request),
        )
    except InvalidInput as exc:
        return _render_form(
            request,
            values,
            exc.status,
            resident_id=str(resident_id),
            errors=_field_errors(exc.fields),
            error=exc.text,
        )
    except StaleResident:
        return render_page(request, "residents/stale.html", 409, resident_id=str(resident_id))
    except InsTaken as exc:
        return _render_form(request, values, exc.status, resident_id=str(resident_id), error=exc.text)
    raise redirect(request, "residents.view", resident_id=str(resident.id))
