"""HTTP (JSON API) of scheduling: parse, call one service function, answer JSON.

Bodies are JSON objects; unsafe methods carry the CSRF token in the X-CSRF-Token header. Instants are
ISO 8601 with an offset (answers give UTC and the Paris wall-clock time side by side). Domain errors become
4xx with a French message through the error middleware; a lost booking race answers 409 with the next
free slots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any
from uuid import UUID

from aiohttp import web

from scheduling import service
from scheduling.model import (
    PARIS,
    Appointment,
    Attendee,
    ChecklistItem,
    Consent,
    ConsentGiver,
    ConsentMethod,
    Leave,
    PhysicianAgreement,
    Qualification,
    Reason,
    SlotOffer,
    SlotTaken,
    Urgency,
    Window,
)
from teleconsult import i18n
from teleconsult.db import UnitOfWork
from teleconsult.errors import InvalidInput
from teleconsult.forms import Field, parse, read_json, uuid_in_path
from teleconsult.i18n import N_
from teleconsult.identity.model import Specialty
from teleconsult.identity.policy import Action
from teleconsult.keys import CLOCK, KEYRING, SESSION_FACTORY
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal
from teleconsult.routing import Routes

routes = Routes()

MAX_IDEMPOTENCY_KEY = 64
MAX_AGENDA_DAYS = 62


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


def parse_instant(value: str) -> datetime:
    """An ISO 8601 instant with its offset; a naive one is read as Paris time."""
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=PARIS)).astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _local(moment: datetime) -> str:
    return moment.astimezone(PARIS).isoformat()


def offer_json(offer: SlotOffer) -> dict[str, Any]:
    slot = offer.slot
    return {
        "expert_id": str(offer.expert.id),
        "expert_name": offer.expert.display_name,
        "specialty": slot.specialty.value,
        "starts_at": _iso(slot.starts_at),
        "ends_at": _iso(slot.ends_at),
        "local_start": _local(slot.starts_at),
    }


def appointment_json(view: service.AppointmentView) -> dict[str, Any]:
    a: Appointment = view.appointment
    q = a.qualification
    resident = view.resident
    return {
        "id": str(a.id),
        "version": a.version,
        "status": a.status.value,
        "expert_id": str(a.expert_id),
        "expert_name": view.expert.display_name if view.expert else None,
        "ehpad_id": str(a.ehpad_id),
        "ehpad_name": view.ehpad_name,
        "resident_id": str(a.resident_id),
        "resident_name": resident.details.traits.display_name() if resident else None,
        "specialty": a.specialty.value,
        "starts_at": _iso(a.starts_at),
        "ends_at": _iso(a.ends_at),
        "local_start": _local(a.starts_at),
        "reason": q.reason.value,
        "details": q.details,
        "urgency": q.urgency.value,
        "attendees": sorted(x.value for x in q.attendees),
        "record_call": q.record_call,
        "consent": {
            "given_by": a.consent.given_by.value,
            "given_on": a.consent.given_on.isoformat(),
            "method": a.consent.method.value,
            "person_name": a.consent.person_name,
        },
        "physician_agreement": {"obtained": a.agreement.obtained, "note": a.agreement.note},
        "cancellation": (
            {
                "by": a.cancellation.by.value,
                "at": _iso(a.cancellation.at),
                "reason": a.cancellation.reason,
            }
            if a.cancellation
            else None
        ),
        "rescheduled_from": str(a.rescheduled_from) if a.rescheduled_from else None,
        "checklist": {item.value: item in a.checklist for item in ChecklistItem},
        "readiness": a.readiness().value,
    }


def window_json(window: Window) -> dict[str, Any]:
    return {
        "id": str(window.id),
        "expert_id": str(window.expert_id),
        "specialty": window.specialty.value,
        "weekdays": sorted(window.weekdays),
        "start": window.start.strftime("%H:%M"),
        "end": window.end.strftime("%H:%M"),
        "valid_from": window.valid_from.isoformat(),
        "valid_until": window.valid_until.isoformat() if window.valid_until else None,
        "consultation_minutes": window.consultation_minutes,
        "report_minutes": window.report_minutes,
        "team_window_id": str(window.team_window_id) if window.team_window_id else None,
        "team_id": str(window.team_id) if window.team_id else None,
    }


def leave_json(leave: Leave) -> dict[str, Any]:
    return {
        "id": str(leave.id),
        "expert_id": str(leave.expert_id),
        "starts_at": _iso(leave.starts_at),
        "ends_at": _iso(leave.ends_at),
        "label": leave.label,
    }


def slot_taken_response(exc: SlotTaken) -> web.Response:
    """409 with the message in the user's language and the next free slots to choose from."""
    body = {
        "error": exc.code,
        "message": i18n.gettext_(exc.text),
        "alternatives": [offer_json(offer) for offer in exc.alternatives],
    }
    return web.json_response(body, status=exc.status)


# ------------------------------------------------------------------------------------------ parsing


def _bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "on", "oui", "yes"):
        return True
    if lowered in ("false", "0", "off", "non", "no"):
        return False
    raise ValueError(value)


def _time(value: str) -> time:
    parsed = time.fromisoformat(value)
    if parsed.second or parsed.microsecond or parsed.tzinfo:
        raise ValueError(value)
    return parsed


def _weekdays(raw: Any) -> frozenset[int]:
    if not isinstance(raw, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in raw):
        raise InvalidInput({"weekdays": N_("Tick at least one day of the week.")})
    return frozenset(raw)


def _attendees(raw: Any) -> frozenset[Attendee]:
    if not isinstance(raw, list) or len(raw) > len(Attendee):
        raise InvalidInput({"attendees": N_("Say who will be beside the resident during the call.")})
    try:
        return frozenset(Attendee(value) for value in raw)
    except (ValueError, TypeError) as exc:
        raise InvalidInput({"attendees": N_("Say who will be beside the resident during the call.")}) from exc


def _object(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if not isinstance(value, dict):
        raise InvalidInput({name: N_("This field is required.")})
    return value


BOOKING_FIELDS = [
    Field("resident_id", convert=UUID),
    Field("expert_id", convert=UUID),
    Field("starts_at", max_length=40, convert=parse_instant, invalid=N_("Choose a slot from the list.")),
    Field("specialty", max_length=32, convert=Specialty, invalid=N_("Choose a specialty from the list.")),
    Field("reason", max_length=40, convert=Reason, invalid=N_("Choose a reason from the list.")),
    Field("details", required=False, max_length=2000),
    Field("urgency", max_length=16, convert=Urgency, invalid=N_("Choose the urgency.")),
    Field("record_call", required=False, max_length=5, convert=_bool),
]
CONSENT_FIELDS = [
    Field("given_by", max_length=32, convert=ConsentGiver, invalid=N_("Say who gave the consent.")),
    Field("given_on", max_length=10, convert=date.fromisoformat, invalid=N_("Give a date as YYYY-MM-DD.")),
    Field("method", max_length=16, convert=ConsentMethod, invalid=N_("Say how the consent was given.")),
    Field("person_name", required=False, max_length=200),
]
AGREEMENT_FIELDS = [
    Field("obtained", max_length=5, convert=_bool),
    Field("note", required=False, max_length=2000),
]


#: The nested fields' names in error messages: the booking form's flat names, for the API and the page alike.
CONSENT_FIELD_NAMES = {
    "given_by": "consent_given_by",
    "given_on": "consent_given_on",
    "method": "consent_method",
    "person_name": "consent_person",
}
AGREEMENT_FIELD_NAMES = {"obtained": "physician_agreement", "note": "physician_note"}


def booking_request(body: Mapping[str, Any]) -> service.BookingRequest:
    """The booking described by a JSON body (the booking form builds the same shape); raises InvalidInput
    naming every wrong field at once."""
    errors: dict[str, str] = {}

    def collect(read: Callable[[], Any], names: Mapping[str, str] | None = None) -> Any:
        try:
            return read()
        except InvalidInput as exc:
            errors.update({(names or {}).get(name, name): text for name, text in exc.fields.items()})
            return None

    values = collect(lambda: parse(body, BOOKING_FIELDS))
    attendees = collect(lambda: _attendees(body.get("attendees")))
    consent = collect(lambda: parse(_object(body, "consent"), CONSENT_FIELDS), CONSENT_FIELD_NAMES)
    agreement = collect(
        lambda: parse(_object(body, "physician_agreement"), AGREEMENT_FIELDS), AGREEMENT_FIELD_NAMES
    )
    if errors:
        raise InvalidInput(errors)
    return service.BookingRequest(
        resident_id=values["resident_id"],
        expert_id=values["expert_id"],
        starts_at=values["starts_at"],
        qualification=Qualification(
            specialty=values["specialty"],
            reason=values["reason"],
            details=values["details"] or "",
            urgency=values["urgency"],
            attendees=attendees,
            record_call=bool(values["record_call"]),
        ),
        consent=Consent(
            consent["given_by"], consent["given_on"], consent["method"], consent["person_name"] or ""
        ),
        agreement=PhysicianAgreement(agreement["obtained"], agreement["note"] or ""),
    )


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise InvalidInput({"Idempotency-Key": N_("This value is not valid.")})
    return key


# ----------------------------------------------------------------------------------------- slots


@routes.get("/api/v1/slots", name="api.slots", action=Action.BOOK_APPOINTMENTS)
async def find_slots(request: web.Request) -> web.Response:
    query = parse(
        request.query,
        [
            Field("specialty", required=False, max_length=32, convert=Specialty),
            Field("after", required=False, max_length=40, convert=parse_instant),
            Field("expert_id", required=False, convert=UUID),
            Field("limit", required=False, max_length=3, convert=_limit),
        ],
    )
    offers = await service.find_slots(
        _uow(request),
        current_principal(request),
        query["specialty"],
        request.app[CLOCK].now(),
        after=query["after"],
        expert_id=query["expert_id"],
        limit=query["limit"] or service.SLOT_SEARCH_LIMIT,
    )
    return web.json_response({"slots": [offer_json(offer) for offer in offers]})


def _limit(value: str) -> int:
    number = int(value)
    if not 1 <= number <= 50:
        raise ValueError(value)
    return number


@routes.get("/api/v1/specialties", name="api.specialties", action=Action.BOOK_APPOINTMENTS)
async def specialties(request: web.Request) -> web.Response:
    found = await service.specialties_available(_uow(request), current_principal(request))
    return web.json_response({"specialties": [s.value for s in found]})


# ----------------------------------------------------------------------------------- appointments


@routes.post("/api/v1/appointments", name="api.appointments.book", action=Action.BOOK_APPOINTMENTS)
async def book(request: web.Request) -> web.Response:
    booking = booking_request(await read_json(request))
    try:
        booked = await service.book(
            _uow(request),
            request.app[KEYRING],
            current_principal(request),
            booking,
            request.app[CLOCK].now(),
            idempotency_key=idempotency_key(request),
            client_address=client_address_of(request),
        )
    except SlotTaken as exc:
        return slot_taken_response(exc)
    view = await _view(request, booked.appointment.id)
    return web.json_response(appointment_json(view), status=201 if booked.created else 200)


async def _view(request: web.Request, appointment_id: UUID) -> service.AppointmentView:
    return await service.view_appointment(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        appointment_id,
        request.app[CLOCK].now(),
        client_address_of(request),
    )


@routes.get("/api/v1/appointments", name="api.appointments", action=Action.BOOK_APPOINTMENTS)
async def care_home_appointments(request: web.Request) -> web.Response:
    views = await service.care_home_appointments(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        request.app[CLOCK].now(),
        client_address=client_address_of(request),
    )
    return web.json_response({"appointments": [appointment_json(v) for v in views]})


@routes.get(
    "/api/v1/appointments/{appointment_id}", name="api.appointments.view", action=Action.VIEW_APPOINTMENT
)
async def view_appointment(request: web.Request) -> web.Response:
    return web.json_response(appointment_json(await _view(request, uuid_in_path(request, "appointment_id"))))


@routes.post(
    "/api/v1/appointments/{appointment_id}/cancel",
    name="api.appointments.cancel",
    action=Action.CANCEL_APPOINTMENT,
)
async def cancel(request: web.Request) -> web.Response:
    appointment_id = uuid_in_path(request, "appointment_id")
    body = parse(
        await read_json(request),
        [Field("reason", max_length=2000), Field("version", required=False, max_length=9, convert=int)],
    )
    await service.cancel(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        appointment_id,
        body["reason"],
        request.app[CLOCK].now(),
        expected_version=body["version"],
        client_address=client_address_of(request),
    )
    return web.json_response(appointment_json(await _view(request, appointment_id)))


@routes.post(
    "/api/v1/appointments/{appointment_id}/reschedule",
    name="api.appointments.reschedule",
    action=Action.PREPARE_APPOINTMENT,
)
async def reschedule(request: web.Request) -> web.Response:
    appointment_id = uuid_in_path(request, "appointment_id")
    body = parse(
        await read_json(request),
        [
            Field("expert_id", convert=UUID),
            Field(
                "starts_at", max_length=40, convert=parse_instant, invalid=N_("Choose a slot from the list.")
            ),
        ],
    )
    try:
        moved = await service.reschedule(
            _uow(request),
            request.app[KEYRING],
            current_principal(request),
            appointment_id,
            body["expert_id"],
            body["starts_at"],
            request.app[CLOCK].now(),
            client_address=client_address_of(request),
        )
    except SlotTaken as exc:
        return slot_taken_response(exc)
    return web.json_response(appointment_json(await _view(request, moved.id)), status=201)


@routes.post(
    "/api/v1/appointments/{appointment_id}/no-show",
    name="api.appointments.no_show",
    action=Action.MARK_NO_SHOW,
)
async def no_show(request: web.Request) -> web.Response:
    appointment_id = uuid_in_path(request, "appointment_id")
    await service.mark_no_show(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        appointment_id,
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.json_response(appointment_json(await _view(request, appointment_id)))


@routes.route(
    "PUT",
    "/api/v1/appointments/{appointment_id}/checklist/{item}",
    name="api.appointments.checklist",
    action=Action.PREPARE_APPOINTMENT,
)
async def checklist(request: web.Request) -> web.Response:
    appointment_id = uuid_in_path(request, "appointment_id")
    try:
        item = ChecklistItem(request.match_info["item"])
    except ValueError as exc:
        raise web.HTTPNotFound() from exc
    body = parse(await read_json(request), [Field("done", max_length=5, convert=_bool)])
    await service.set_checklist_item(
        _uow(request),
        current_principal(request),
        appointment_id,
        item,
        body["done"],
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.json_response(appointment_json(await _view(request, appointment_id)))


# ------------------------------------------------------------------------------- the expert's side


def _date(value: str) -> date:
    return date.fromisoformat(value)


def _days(value: str) -> int:
    number = int(value)
    if not 1 <= number <= MAX_AGENDA_DAYS:
        raise ValueError(value)
    return number


@routes.get("/api/v1/experts/{expert_id}/agenda", name="api.agenda", action=Action.VIEW_AGENDA)
async def agenda(request: web.Request) -> web.Response:
    now = request.app[CLOCK].now()
    query = parse(
        request.query,
        [
            Field(
                "from", required=False, max_length=10, convert=_date, invalid=N_("Give a date as YYYY-MM-DD.")
            ),
            Field("days", required=False, max_length=2, convert=_days),
        ],
    )
    views = await service.expert_agenda(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        uuid_in_path(request, "expert_id"),
        query["from"] or now.astimezone(PARIS).date(),
        query["days"] or 7,
        now,
        client_address_of(request),
    )
    return web.json_response({"appointments": [appointment_json(v) for v in views]})


@routes.get(
    "/api/v1/experts/{expert_id}/availability", name="api.availability", action=Action.MANAGE_AVAILABILITY
)
async def availability(request: web.Request) -> web.Response:
    found = await service.availability(
        _uow(request),
        current_principal(request),
        uuid_in_path(request, "expert_id"),
        request.app[CLOCK].now(),
    )
    return web.json_response(
        {"windows": [window_json(w) for w in found.windows], "leaves": [leave_json(x) for x in found.leaves]}
    )


WINDOW_FIELDS = [
    Field("specialty", max_length=32, convert=Specialty, invalid=N_("Choose a specialty from the list.")),
    Field("start", max_length=5, convert=_time, invalid=N_("Give a time as HH:MM.")),
    Field("end", max_length=5, convert=_time, invalid=N_("Give a time as HH:MM.")),
    Field("valid_from", max_length=10, convert=_date, invalid=N_("Give a date as YYYY-MM-DD.")),
    Field(
        "valid_until", required=False, max_length=10, convert=_date, invalid=N_("Give a date as YYYY-MM-DD.")
    ),
    Field("consultation_minutes", required=False, max_length=3, convert=int),
    Field("report_minutes", required=False, max_length=3, convert=int),
]


@routes.post("/api/v1/experts/{expert_id}/windows", name="api.windows.add", action=Action.MANAGE_AVAILABILITY)
async def add_window(request: web.Request) -> web.Response:
    body = await read_json(request)
    values = parse(body, WINDOW_FIELDS)
    window = await service.publish_window(
        _uow(request),
        current_principal(request),
        uuid_in_path(request, "expert_id"),
        values["specialty"],
        _weekdays(body.get("weekdays")),
        values["start"],
        values["end"],
        values["valid_from"],
        values["valid_until"],
        values["consultation_minutes"] if values["consultation_minutes"] is not None else 30,
        values["report_minutes"] if values["report_minutes"] is not None else 15,
        request.app[CLOCK].now(),
        client_address_of(request),
        for_team=_flag(body.get("team", False), "team"),
    )
    return web.json_response(window_json(window), status=201)


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput({name: N_("Give true or false.")})
    return value


@routes.post(
    "/api/v1/experts/{expert_id}/team-windows/{team_window_id}",
    name="api.team_windows.apply",
    action=Action.MANAGE_AVAILABILITY,
)
async def apply_team_window(request: web.Request) -> web.Response:
    window = await service.apply_team_window(
        _uow(request),
        current_principal(request),
        uuid_in_path(request, "expert_id"),
        uuid_in_path(request, "team_window_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.json_response(window_json(window), status=201)


@routes.route(
    "DELETE", "/api/v1/windows/{window_id}", name="api.windows.remove", action=Action.MANAGE_AVAILABILITY
)
async def remove_window(request: web.Request) -> web.Response:
    team = request.query.get("team", "false")
    if team not in ("true", "false"):
        raise InvalidInput({"team": N_("Give true or false.")})
    await service.remove_window(
        _uow(request),
        current_principal(request),
        uuid_in_path(request, "window_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
        for_team=team == "true",
    )
    return web.Response(status=204)


@routes.post("/api/v1/experts/{expert_id}/leaves", name="api.leaves.add", action=Action.MANAGE_AVAILABILITY)
async def add_leave(request: web.Request) -> web.Response:
    values = parse(
        await read_json(request),
        [
            Field("starts_at", max_length=40, convert=parse_instant, invalid=N_("Give a date and time.")),
            Field("ends_at", max_length=40, convert=parse_instant, invalid=N_("Give a date and time.")),
            Field("label", required=False, max_length=100),
        ],
    )
    leave = await service.add_leave(
        _uow(request),
        current_principal(request),
        uuid_in_path(request, "expert_id"),
        values["starts_at"],
        values["ends_at"],
        values["label"] or "",
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.json_response(leave_json(leave), status=201)


@routes.route(
    "DELETE", "/api/v1/leaves/{leave_id}", name="api.leaves.remove", action=Action.MANAGE_AVAILABILITY
)
async def remove_leave(request: web.Request) -> web.Response:
    await service.remove_leave(
        _uow(request),
        current_principal(request),
        uuid_in_path(request, "leave_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.Response(status=204)
