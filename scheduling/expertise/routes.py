"""HTTP (JSON API) of tele-expertise: parse, call one service function, answer JSON.

Bodies are flat JSON objects (the pages post the same fields as forms and share the parsing below); unsafe
methods carry the CSRF token in the X-CSRF-Token header. Instants are ISO 8601 with an offset; a naive one
is read as Paris time. Domain errors become 4xx with a French message through the error middleware.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

from aiohttp import web

from scheduling.expertise import service
from scheduling.expertise.model import (
    MAX_ANSWER,
    MAX_CONTEXT,
    MAX_QUESTION,
    AnswerOutcome,
    ExpertiseUrgency,
    Level,
)
from scheduling.model import (
    PARIS,
    Consent,
    ConsentGiver,
    ConsentMethod,
    PhysicianAgreement,
    Reason,
    SlotTaken,
)
from scheduling.routes import offer_json, parse_instant, slot_taken_response
from teleconsult.db import UnitOfWork
from teleconsult.forms import Field, parse, read_json, uuid_in_path
from teleconsult.i18n import N_
from teleconsult.identity.model import Specialty
from teleconsult.identity.policy import Action
from teleconsult.keys import CLOCK, KEYRING, SESSION_FACTORY
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal
from teleconsult.routing import Routes

routes = Routes()


class AnswerFollowUp(Protocol):
    async def __call__(self, request: web.Request, expertise_id: UUID) -> None: ...


#: What follows an answer once saved: records.reports makes its compte-rendu (a PDF) and never raises.
#: Installed by create_app, so that scheduling does not import records.reports (which imports scheduling).
ANSWER_FOLLOW_UP = web.AppKey("expertise_answer_follow_up", AnswerFollowUp)


def uow_of(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _local(moment: datetime) -> str:
    return moment.astimezone(PARIS).isoformat()


def expertise_json(view: service.ExpertiseView) -> dict[str, Any]:
    r = view.request
    return {
        "id": str(r.id),
        "version": r.version,
        "status": r.status.value,
        "is_late": view.is_late,
        "deadline": _iso(r.deadline),
        "local_deadline": _local(r.deadline),
        "wished_deadline": _iso(r.wished_deadline),
        "ehpad_id": str(r.ehpad_id),
        "ehpad_name": view.ehpad_name,
        "resident_id": str(r.resident_id),
        "resident_name": view.resident.details.traits.display_name() if view.resident else None,
        "specialty": r.specialty.value,
        "level": int(r.level),
        "urgency": r.urgency.value,
        "reason": r.reason.value,
        "question": r.question,
        "context": r.context,
        "consent": {
            "given_by": r.consent.given_by.value,
            "given_on": r.consent.given_on.isoformat(),
            "method": r.consent.method.value,
            "person_name": r.consent.person_name,
        },
        "physician_agreement": {"obtained": r.agreement.obtained, "note": r.agreement.note},
        "requested_by": str(r.requested_by),
        "requester_name": view.requester.display_name if view.requester else None,
        "requested_at": _iso(r.requested_at),
        "claim": (
            {
                "expert_id": str(r.claim.expert_id),
                "expert_name": view.expert.display_name if view.expert else None,
                "at": _iso(r.claim.at),
                "deadline": _iso(r.claim.deadline),
            }
            if r.claim
            else None
        ),
        "answer": (
            {"outcome": r.answer.outcome.value, "text": r.answer.text, "at": _iso(r.answer.at)}
            if r.answer
            else None
        ),
        "withdrawn_at": _iso(r.withdrawal.at) if r.withdrawal else None,
        "appointment_id": str(r.appointment_id) if r.appointment_id else None,
        "news": [kind.value for kind in view.news],
    }


# ------------------------------------------------------------------------------------------ parsing


def _bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "on", "oui", "yes"):
        return True
    if lowered in ("false", "0", "off", "non", "no"):
        return False
    raise ValueError(value)


def _level(value: str) -> Level:
    return Level(int(value))


SUBMISSION_FIELDS = [
    Field("resident_id", convert=UUID, invalid=N_("Choose a resident from the list.")),
    Field("specialty", max_length=32, convert=Specialty, invalid=N_("Choose a specialty from the list.")),
    Field("level", max_length=1, convert=_level, invalid=N_("Choose the level of the request.")),
    Field("urgency", max_length=16, convert=ExpertiseUrgency, invalid=N_("Choose the urgency.")),
    Field("reason", max_length=40, convert=Reason, invalid=N_("Choose a reason from the list.")),
    Field(
        "wished_deadline",
        max_length=40,
        convert=parse_instant,
        invalid=N_("Give a date and time."),
    ),
    Field("question", max_length=MAX_QUESTION),
    Field("context", required=False, max_length=MAX_CONTEXT),
    Field("consent_given_by", max_length=32, convert=ConsentGiver, invalid=N_("Say who gave the consent.")),
    Field(
        "consent_given_on",
        max_length=10,
        convert=date.fromisoformat,
        invalid=N_("Give a date as YYYY-MM-DD."),
    ),
    Field(
        "consent_method", max_length=16, convert=ConsentMethod, invalid=N_("Say how the consent was given.")
    ),
    Field("consent_person", required=False, max_length=200),
    Field(
        "physician_agreement",
        max_length=5,
        convert=_bool,
        invalid=N_("Say whether the treating physician agrees."),
    ),
    Field("physician_note", required=False, max_length=2000),
]


def submission(body: Mapping[str, Any]) -> service.Submission:
    values = parse(body, SUBMISSION_FIELDS)
    return service.Submission(
        resident_id=values["resident_id"],
        specialty=values["specialty"],
        level=values["level"],
        urgency=values["urgency"],
        reason=values["reason"],
        wished_deadline=values["wished_deadline"],
        question=values["question"],
        context=values["context"] or "",
        consent=Consent(
            values["consent_given_by"],
            values["consent_given_on"],
            values["consent_method"],
            values["consent_person"] or "",
        ),
        agreement=PhysicianAgreement(values["physician_agreement"], values["physician_note"] or ""),
    )


CLAIM_FIELDS = [
    Field("deadline", max_length=40, convert=parse_instant, invalid=N_("Give a date and time.")),
]
ANSWER_FIELDS = [
    Field("outcome", max_length=32, convert=AnswerOutcome, invalid=N_("Choose the outcome of your answer.")),
    Field("text", max_length=MAX_ANSWER),
]
CONVERT_FIELDS = [
    Field("starts_at", max_length=40, convert=parse_instant, invalid=N_("Choose a slot from the list.")),
]


# ------------------------------------------------------------------------------------------- routes


async def view_json(request: web.Request, expertise_id: UUID, status: int = 200) -> web.Response:
    found = await service.view(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        expertise_id,
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.json_response(expertise_json(found), status=status)


@routes.post("/api/v1/expertise", name="api.expertise.submit", action=Action.REQUEST_EXPERTISE)
async def submit(request: web.Request) -> web.Response:
    created = await service.submit(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        submission(await read_json(request)),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return await view_json(request, created.id, status=201)


@routes.get("/api/v1/expertise", name="api.expertise", action=Action.REQUEST_EXPERTISE)
async def care_home_requests(request: web.Request) -> web.Response:
    views = await service.care_home_requests(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.json_response({"requests": [expertise_json(v) for v in views]})


@routes.get("/api/v1/expertise/queue", name="api.expertise.queue", action=Action.VIEW_EXPERTISE_QUEUE)
async def queue(request: web.Request) -> web.Response:
    found = await service.queue(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.json_response(
        {
            "waiting": [expertise_json(v) for v in found.waiting],
            "mine": [expertise_json(v) for v in found.mine],
            "answered": [expertise_json(v) for v in found.answered],
        }
    )


@routes.get("/api/v1/expertise/{expertise_id}", name="api.expertise.view", action=Action.VIEW_EXPERTISE)
async def view(request: web.Request) -> web.Response:
    return await view_json(request, uuid_in_path(request, "expertise_id"))


@routes.post(
    "/api/v1/expertise/{expertise_id}/claim", name="api.expertise.claim", action=Action.CLAIM_EXPERTISE
)
async def claim(request: web.Request) -> web.Response:
    expertise_id = uuid_in_path(request, "expertise_id")
    body = parse(await read_json(request), CLAIM_FIELDS)
    await service.claim(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        expertise_id,
        body["deadline"],
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return await view_json(request, expertise_id)


@routes.post(
    "/api/v1/expertise/{expertise_id}/answer", name="api.expertise.answer", action=Action.ANSWER_EXPERTISE
)
async def answer(request: web.Request) -> web.Response:
    expertise_id = uuid_in_path(request, "expertise_id")
    body = parse(await read_json(request), ANSWER_FIELDS)
    await service.answer(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        expertise_id,
        body["outcome"],
        body["text"],
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    await request.app[ANSWER_FOLLOW_UP](request, expertise_id)
    return await view_json(request, expertise_id)


@routes.post(
    "/api/v1/expertise/{expertise_id}/withdraw",
    name="api.expertise.withdraw",
    action=Action.WITHDRAW_EXPERTISE,
)
async def withdraw(request: web.Request) -> web.Response:
    expertise_id = uuid_in_path(request, "expertise_id")
    await service.withdraw(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        expertise_id,
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return await view_json(request, expertise_id)


@routes.get(
    "/api/v1/expertise/{expertise_id}/slots", name="api.expertise.slots", action=Action.ANSWER_EXPERTISE
)
async def conversion_slots(request: web.Request) -> web.Response:
    offers = await service.conversion_slots(
        uow_of(request),
        current_principal(request),
        uuid_in_path(request, "expertise_id"),
        request.app[CLOCK].now(),
    )
    return web.json_response({"slots": [offer_json(offer) for offer in offers]})


@routes.post(
    "/api/v1/expertise/{expertise_id}/convert",
    name="api.expertise.convert",
    action=Action.ANSWER_EXPERTISE,
)
async def convert(request: web.Request) -> web.Response:
    expertise_id = uuid_in_path(request, "expertise_id")
    body = parse(await read_json(request), CONVERT_FIELDS)
    try:
        done = await service.convert(
            uow_of(request),
            request.app[KEYRING],
            current_principal(request),
            expertise_id,
            body["starts_at"],
            request.app[CLOCK].now(),
            client_address_of(request),
        )
    except SlotTaken as exc:
        return slot_taken_response(exc)
    return await view_json(request, done.request.id)
