"""The OpenAPI document (teleconsult/openapi.py) stays true: every /api/ route of the router is in it and
nothing else, it is a valid OpenAPI 3.1 document, its enumerations are the model's, and real answers of
the scheduling API match the schemas it gives."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from records.crypto import generate_key_file
from records.residents.model import IdentityStatus, Sex
from scheduling.model import (
    AppointmentStatus,
    Attendee,
    ChecklistItem,
    ConsentGiver,
    ConsentMethod,
    Readiness,
    Reason,
    Urgency,
)
from teleconsult.app import create_app
from teleconsult.identity.model import Role, Specialty
from teleconsult.keys import ROUTE_SPECS
from teleconsult.middleware import CSRF_HEADER, SESSION_COOKIE
from teleconsult.openapi import DOCUMENT
from teleconsult.settings import Settings
from tests.integration.conftest import Env
from tests.integration.test_scheduling import TUESDAY_2PM, book, booking, headers, new_resident, setup

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def router_api_operations(tmp_path: Path) -> set[tuple[str, str]]:
    """(METHOD, path) of every route the application declares under /api/ (no database is opened)."""
    key_file = tmp_path / "keys.json"
    generate_key_file(key_file, demo=True)
    settings = Settings(
        mode="test",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}",
        data_dir=tmp_path / "data",
        key_file=key_file,
    )
    specs = create_app(settings)[ROUTE_SPECS].values()
    return {(spec.method, spec.path) for spec in specs if spec.path.startswith("/api/")}


def document_operations() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_api_route_of_the_router_is_documented_and_nothing_else(tmp_path: Path) -> None:
    routed = router_api_operations(tmp_path)
    documented = document_operations()
    missing = sorted(routed - documented)
    assert not missing, (
        f"API routes missing from the OpenAPI document: {missing}. Describe each one in "
        "teleconsult/openapi.py (PATHS): request body, answers and errors."
    )
    stale = sorted(documented - routed)
    assert not stale, (
        f"The OpenAPI document lists operations the router does not have: {stale}. Remove or fix them in "
        "teleconsult/openapi.py."
    )


def test_the_document_is_a_valid_openapi_3_1_document() -> None:
    assert DOCUMENT["openapi"].startswith("3.1.")
    validate(DOCUMENT)


def test_every_operation_needs_the_session_and_unsafe_ones_the_csrf_header_too() -> None:
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert schemes["session"] == {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE}
    assert schemes["csrf"] == {"type": "apiKey", "in": "header", "name": CSRF_HEADER}
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if path == "/api/openapi.json":
                assert operation["security"] == []
                continue
            expected = [{"session": []}] if method == "get" else [{"session": [], "csrf": []}]
            assert operation["security"] == expected, (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)


ENUMS: dict[str, type[StrEnum]] = {
    "Specialty": Specialty,
    "Reason": Reason,
    "Urgency": Urgency,
    "Attendee": Attendee,
    "ConsentGiver": ConsentGiver,
    "ConsentMethod": ConsentMethod,
    "AppointmentStatus": AppointmentStatus,
    "ChecklistItem": ChecklistItem,
    "Readiness": Readiness,
}


@pytest.mark.parametrize("name", sorted(ENUMS))
def test_each_enumeration_is_the_models(name: str) -> None:
    assert DOCUMENT["components"]["schemas"][name]["enum"] == [member.value for member in ENUMS[name]]


def test_the_residents_enumerations_are_the_models() -> None:
    details = DOCUMENT["components"]["schemas"]["ResidentDetails"]["properties"]
    assert details["sex"]["enum"] == [member.value for member in Sex]
    assert details["identity_status"]["oneOf"][0]["enum"] == [member.value for member in IdentityStatus]


# --------------------------------------------------------------------- real answers against the schemas


def check(payload: Any, schema_name: str) -> None:
    """Validate ``payload`` against a schema of the document (its $refs resolved inside the document)."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": DOCUMENT["components"]}
    errors = sorted(OAS31Validator(schema).iter_errors(payload), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


async def test_the_document_is_served_to_anyone(env: Env) -> None:
    response = await env.client.get("/api/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == DOCUMENT


async def test_the_scheduling_answers_match_the_documented_schemas(env: Env) -> None:
    resident_id, expert_id = await setup(env)
    response = await env.client.get("/api/v1/slots?specialty=geriatrie&limit=3")
    check(await response.json(), "SlotList")

    body = booking(resident_id, expert_id)
    check(body, "BookingRequest")
    status, created = await book(env, body)
    assert status == 201
    check(created, "Appointment")

    status, taken = await book(env, booking(await new_resident(env, "Bernard"), expert_id, TUESDAY_2PM))
    assert status == 409 and taken["alternatives"]
    check(taken, "SlotTaken")

    status, invalid = await book(env, booking(resident_id, expert_id, attendees=[], details=""))
    assert status == 422 and invalid["fields"]
    check(invalid, "Error")

    listing = await (await env.client.get("/api/v1/appointments")).json()
    check(listing, "AppointmentList")
    await env.login(Role.EXPERT)
    agenda = await env.client.get(f"/api/v1/experts/{expert_id}/agenda?from=2026-11-23&days=31")
    check(await agenda.json(), "AppointmentList")
    availability = await env.client.get(f"/api/v1/experts/{expert_id}/availability")
    check(await availability.json(), "Availability")
    cancelled = await env.client.post(
        f"/api/v1/appointments/{created['id']}/cancel",
        json={"reason": "Bloc opératoire imprévu"},
        headers=await headers(env),
    )
    assert cancelled.status == 200
    check(await cancelled.json(), "Appointment")
