"""HTML pages of scheduling, tablet-first and in French.

The nurse: "Mes rendez-vous", and "Demander une téléconsultation" in three steps (resident and specialty,
slot, qualification and consent), each step a plain GET page whose state lives in its query string (ids
only, never a name or a reason), the last one a POST that keeps every input on errors. From a resident's
page the slots come at once: two taps to the form. The booking form carries an idempotency key, so a double
tap or a retry after a Wi-Fi drop books once.
The expert: the agenda, a week of afternoons. The secretariat: the experts' availability.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from aiohttp import web

from records.documents.labels import DOCUMENT_LABELS
from records.documents.routes import upload_limits
from records.residents import service as residents_service
from records.residents.model import Resident
from scheduling import attachments_service, service
from scheduling.labels import (
    ATTENDEE_LABELS,
    CONSENT_GIVER_LABELS,
    CONSENT_METHOD_LABELS,
    REASON_LABELS,
    URGENCY_LABELS,
    WEEKDAY_LABELS,
)
from scheduling.model import (
    PARIS,
    Attendee,
    ChecklistItem,
    ConsentGiver,
    ConsentMethod,
    Reason,
    SlotOffer,
    SlotTaken,
    Urgency,
)
from scheduling.routes import CONSENT_FIELD_NAMES, booking_request, parse_instant
from signalling import journal as call_journal_labels
from signalling.service import call_journal, is_room_open
from teleconsult.db import UnitOfWork
from teleconsult.errors import DomainError, InvalidInput, NotFound
from teleconsult.forms import Field, parse, read_form, read_form_lists, uuid_in_path
from teleconsult.i18n import N_
from teleconsult.identity.model import Role, Specialty
from teleconsult.identity.policy import Action, Principal
from teleconsult.keys import CALL_CONFIG, CLOCK, KEYRING, SESSION_FACTORY
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal, redirect, render_page
from teleconsult.routing import PageSpec, Routes
from web.labels import SPECIALTY_LABELS

routes = Routes()

CARE_HOME_PAGE = PageSpec(role=Role.IDE, care_home=True)
EXPERT_PAGE = PageSpec(role=Role.EXPERT)
SECRETARIAT_PAGE = PageSpec(role=Role.SECRETARIAT)

#: The fields of step 3, as the form names them (kept and shown again on errors).
REQUEST_FIELDS = (
    "resident_id",
    "expert_id",
    "starts_at",
    "specialty",
    "reason",
    "details",
    "urgency",
    "record_call",
    "consent_given_by",
    "consent_person",
    "consent_given_on",
    "consent_method",
    "physician_agreement",
    "physician_note",
    "idempotency_key",
)


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


def _query_uuid(request: web.Request, name: str) -> UUID | None:
    raw = request.query.get(name, "")
    try:
        return UUID(raw) if raw else None
    except ValueError:
        return None


def _query_specialty(request: web.Request) -> Specialty | None:
    try:
        return Specialty(request.query["specialty"]) if request.query.get("specialty") else None
    except ValueError:
        return None


async def _resident(request: web.Request, resident_id: UUID) -> Resident:
    return await residents_service.view_resident(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        resident_id,
        request.app[CLOCK].now(),
        client_address_of(request),
    )


async def _residents(request: web.Request) -> list[Resident]:
    return await residents_service.search_residents(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        None,
        request.app[CLOCK].now(),
        client_address_of(request),
    )


def _days_of(offers: list[SlotOffer]) -> list[tuple[date, list[SlotOffer]]]:
    """Slots grouped by Paris day, in order."""
    days: dict[date, list[SlotOffer]] = {}
    for offer in offers:
        days.setdefault(offer.slot.local_start.date(), []).append(offer)
    return list(days.items())


# ------------------------------------------------------------------------------------ the nurse's side


@routes.get("/appointments", name="appointments.list", action=Action.BOOK_APPOINTMENTS, page=CARE_HOME_PAGE)
async def appointments_list(request: web.Request) -> web.StreamResponse:
    now = request.app[CLOCK].now()
    views = await service.care_home_appointments(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        now,
        client_address=client_address_of(request),
    )
    today = now.astimezone(PARIS).date()
    upcoming: dict[date, list[service.AppointmentView]] = {}
    for view in views:
        if view.appointment.local_start.date() > today:
            upcoming.setdefault(view.appointment.local_start.date(), []).append(view)
    return render_page(
        request,
        "scheduling/appointments.html",
        today=[v for v in views if v.appointment.local_start.date() == today],
        upcoming=list(upcoming.items()),
        now=now,
    )


@routes.get(
    "/appointments/new", name="appointments.new", action=Action.BOOK_APPOINTMENTS, page=CARE_HOME_PAGE
)
async def appointments_new(request: web.Request) -> web.StreamResponse:
    """Steps 1 and 2 (and 3 when a slot is chosen), by what the query string already says."""
    principal = current_principal(request)
    resident_id = _query_uuid(request, "resident")
    specialty = _query_specialty(request) or Specialty.GERIATRIE
    specialties = await service.specialties_available(_uow(request), principal)
    if resident_id is None:
        return render_page(
            request,
            "scheduling/new_step1.html",
            residents=await _residents(request),
            specialty_options=[(sp.value, SPECIALTY_LABELS[sp]) for sp in specialties],
            values={"specialty": specialty.value},
        )
    resident = await _resident(request, resident_id)
    expert_id = _query_uuid(request, "expert")
    start = request.query.get("start", "")
    if expert_id is not None and start:
        values = {
            "resident_id": str(resident.id),
            "expert_id": str(expert_id),
            "starts_at": start,
            "specialty": specialty.value,
            "urgency": Urgency.PROGRAMMEE.value,
            "consent_given_by": ConsentGiver.RESIDENT.value,
            "consent_method": ConsentMethod.ORAL.value,
            "consent_given_on": request.app[CLOCK].now().astimezone(PARIS).date().isoformat(),
            "physician_agreement": "yes",
            "idempotency_key": uuid.uuid4().hex,
        }
        return await _render_step3(request, resident, values, [Attendee.IDEC.value])
    return await _render_step2(request, resident, specialty, specialties)


async def _render_step2(
    request: web.Request,
    resident: Resident,
    specialty: Specialty,
    specialties: list[Specialty],
    status: int = 200,
    error: str | None = None,
    offers: list[SlotOffer] | None = None,
) -> web.Response:
    if offers is None:
        after = None
        if request.query.get("after"):
            try:
                after = parse_instant(request.query["after"])
            except ValueError:
                after = None
        offers = await service.find_slots(
            _uow(request), current_principal(request), specialty, request.app[CLOCK].now(), after=after
        )
    return render_page(
        request,
        "scheduling/new_step2.html",
        status,
        resident=resident,
        specialty=specialty,
        specialties=specialties,
        days=_days_of(offers),
        first=offers[0] if offers else None,
        last=offers[-1] if offers else None,
        error=error,
    )


async def _render_step3(
    request: web.Request,
    resident: Resident,
    values: Mapping[str, str],
    attendees: list[str],
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    error: str | None = None,
) -> web.Response:
    expert_name = ""
    start: datetime | None = None
    try:
        start = parse_instant(values.get("starts_at", ""))
    except ValueError:
        start = None
    expert_id = values.get("expert_id", "")
    offers = []
    if start is not None and expert_id:
        try:
            offers = await service.find_slots(
                _uow(request),
                current_principal(request),
                Specialty(values.get("specialty", "")),
                request.app[CLOCK].now(),
                after=start,
                limit=1,
                expert_id=UUID(expert_id),
            )
        except ValueError:
            offers = []
    if offers and offers[0].slot.starts_at == start:
        expert_name = offers[0].expert.display_name
    return render_page(
        request,
        "scheduling/new_step3.html",
        status,
        resident=resident,
        values=dict(values),
        attendees=attendees,
        start=start,
        expert_name=expert_name,
        slot_still_free=bool(expert_name),
        errors=dict(errors or {}),
        error=error,
        reason_options=[("", N_("Choose a reason")), *((r.value, REASON_LABELS[r]) for r in Reason)],
        urgency_options=[(u.value, URGENCY_LABELS[u]) for u in Urgency],
        attendee_options=[(x.value, ATTENDEE_LABELS[x]) for x in Attendee],
        consent_giver_options=[(g.value, CONSENT_GIVER_LABELS[g]) for g in ConsentGiver],
        consent_method_options=[(m.value, CONSENT_METHOD_LABELS[m]) for m in ConsentMethod],
    )


def _yes(value: str | None) -> bool:
    return value in ("yes", "on", "true", "1")


def _form_booking(form: Mapping[str, str], attendees: list[str]) -> service.BookingRequest:
    """The booking form, read by the JSON API's own parser (one set of rules): the flat form becomes the
    API's nested body, and its errors come back under the form's field names."""
    flat = ("resident_id", "expert_id", "starts_at", "specialty", "reason", "details", "urgency")
    body: dict[str, Any] = {name: form.get(name) for name in flat}
    body["attendees"] = attendees
    body["record_call"] = "true" if _yes(form.get("record_call")) else "false"
    body["consent"] = {api: form.get(page) for api, page in CONSENT_FIELD_NAMES.items()}
    body["physician_agreement"] = {
        "obtained": "true" if _yes(form.get("physician_agreement")) else "false",
        "note": form.get("physician_note"),
    }
    return booking_request(body)


@routes.post("/appointments", name="appointments.create", action=Action.BOOK_APPOINTMENTS)
async def appointments_create(request: web.Request) -> web.StreamResponse:
    principal = current_principal(request)
    lists = await read_form_lists(request)
    form = {key: values[-1] for key, values in lists.items()}
    attendees = lists.get("attendees", [])
    values = {name: form[name] for name in REQUEST_FIELDS if name in form}
    resident_id = _form_uuid(form.get("resident_id"))
    if resident_id is None:
        raise redirect(request, "appointments.new")
    resident = await _resident(request, resident_id)
    key = form.get("idempotency_key", "")
    try:
        booked = await service.book(
            _uow(request),
            request.app[KEYRING],
            principal,
            _form_booking(form, attendees),
            request.app[CLOCK].now(),
            idempotency_key=key if key.isalnum() and len(key) <= 64 else None,
            client_address=client_address_of(request),
        )
    except InvalidInput as exc:
        return await _render_step3(request, resident, values, attendees, exc.status, exc.fields, exc.text)
    except SlotTaken as exc:
        specialties = await service.specialties_available(_uow(request), principal)
        specialty = Specialty(values.get("specialty", Specialty.GERIATRIE.value))
        return await _render_step2(
            request, resident, specialty, specialties, exc.status, exc.text, exc.alternatives
        )
    except DomainError as exc:
        if exc.status == 404:
            raise
        specialties = await service.specialties_available(_uow(request), principal)
        specialty = _specialty_or_default(values.get("specialty"))
        return await _render_step2(request, resident, specialty, specialties, exc.status, exc.text)
    location = request.app.router["appointments.view"].url_for(appointment_id=str(booked.appointment.id))
    raise web.HTTPSeeOther(str(location.with_query(booked="1")))


def _form_uuid(raw: str | None) -> UUID | None:
    try:
        return UUID(raw) if raw else None
    except ValueError:
        return None


def _specialty_or_default(raw: str | None) -> Specialty:
    try:
        return Specialty(raw or "")
    except ValueError:
        return Specialty.GERIATRIE


# ------------------------------------------------------------------------------------ one appointment


async def _view(request: web.Request, appointment_id: UUID) -> service.AppointmentView:
    return await service.view_appointment(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        appointment_id,
        request.app[CLOCK].now(),
        client_address_of(request),
    )


async def _render_appointment(
    request: web.Request, view: service.AppointmentView, status: int = 200, **context: Any
) -> web.Response:
    """The appointment page, with its preparation documents (their listing is audited) and, for the care
    home, their upload form; ``context`` carries a refused upload's message and typed title."""
    now = request.app[CLOCK].now()
    documents = await attachments_service.appointment_documents(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        view.appointment.id,
        now,
        client_address_of(request),
    )
    # The call's journal once its room has opened (reading it is audited: not before there can be one).
    journal = None
    if now >= view.appointment.starts_at - request.app[CALL_CONFIG].rules.opens_before:
        journal = await call_journal(
            _uow(request), current_principal(request), view.appointment.id, now, client_address_of(request)
        )
    context.setdefault("upload_error", None)
    context.setdefault("upload_error_params", {})
    context.setdefault("upload_errors", {})
    context.setdefault("upload_title", "")
    return render_page(
        request,
        "scheduling/appointment.html",
        status,
        view=view,
        a=view.appointment,
        started=now >= view.appointment.starts_at,
        call_open=view.appointment.is_open
        and is_room_open(request.app[CALL_CONFIG], view.appointment.starts_at, view.appointment.ends_at, now),
        checklist_items=list(ChecklistItem),
        booked=request.query.get("booked") == "1",
        documents=documents,
        upload_limits=upload_limits(request),
        journal=journal if journal is not None and journal.events else None,
        journal_labels=call_journal_labels,
        **DOCUMENT_LABELS,
        **context,
    )


async def render_appointment_page(
    request: web.Request, appointment_id: UUID, status: int = 200, **context: Any
) -> web.Response:
    return await _render_appointment(request, await _view(request, appointment_id), status, **context)


@routes.get("/appointments/{appointment_id}", name="appointments.view", action=Action.VIEW_APPOINTMENT)
async def appointments_view(request: web.Request) -> web.StreamResponse:
    return await _render_appointment(request, await _view(request, uuid_in_path(request, "appointment_id")))


@routes.post(
    "/appointments/{appointment_id}/checklist",
    name="appointments.checklist",
    action=Action.PREPARE_APPOINTMENT,
)
async def appointments_checklist(request: web.Request) -> web.StreamResponse:
    appointment_id = uuid_in_path(request, "appointment_id")
    lists = await read_form_lists(request)
    done = frozenset(ChecklistItem(v) for v in lists.get("done", []) if v in set(ChecklistItem))
    await service.save_checklist(
        _uow(request),
        current_principal(request),
        appointment_id,
        done,
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    raise redirect(request, "appointments.view", appointment_id=str(appointment_id))


@routes.post(
    "/appointments/{appointment_id}/cancel", name="appointments.cancel", action=Action.CANCEL_APPOINTMENT
)
async def appointments_cancel(request: web.Request) -> web.StreamResponse:
    appointment_id = uuid_in_path(request, "appointment_id")
    form = await read_form(request)
    try:
        await service.cancel(
            _uow(request),
            request.app[KEYRING],
            current_principal(request),
            appointment_id,
            (form.get("reason") or "")[:2000],
            request.app[CLOCK].now(),
            client_address=client_address_of(request),
        )
    except InvalidInput as exc:
        view = await _view(request, appointment_id)
        return await _render_appointment(request, view, exc.status, errors=exc.fields, values=form)
    raise redirect(request, "appointments.view", appointment_id=str(appointment_id))


@routes.post(
    "/appointments/{appointment_id}/no-show", name="appointments.no_show", action=Action.MARK_NO_SHOW
)
async def appointments_no_show(request: web.Request) -> web.StreamResponse:
    appointment_id = uuid_in_path(request, "appointment_id")
    try:
        await service.mark_no_show(
            _uow(request),
            request.app[KEYRING],
            current_principal(request),
            appointment_id,
            request.app[CLOCK].now(),
            client_address_of(request),
        )
    except InvalidInput as exc:
        view = await _view(request, appointment_id)
        return await _render_appointment(
            request, view, exc.status, error=next(iter(exc.fields.values()), exc.text)
        )
    raise redirect(request, "appointments.view", appointment_id=str(appointment_id))


@routes.get(
    "/appointments/{appointment_id}/reschedule",
    name="appointments.reschedule",
    action=Action.PREPARE_APPOINTMENT,
)
async def appointments_reschedule(request: web.Request) -> web.StreamResponse:
    view = await _view(request, uuid_in_path(request, "appointment_id"))
    return await _render_reschedule(request, view)


async def _render_reschedule(
    request: web.Request, view: service.AppointmentView, status: int = 200, error: str | None = None
) -> web.Response:
    offers = await service.find_slots(
        _uow(request), current_principal(request), view.appointment.specialty, request.app[CLOCK].now()
    )
    return render_page(
        request,
        "scheduling/reschedule.html",
        status,
        view=view,
        a=view.appointment,
        days=_days_of(offers),
        error=error,
    )


@routes.post(
    "/appointments/{appointment_id}/reschedule",
    name="appointments.reschedule.submit",
    action=Action.PREPARE_APPOINTMENT,
)
async def appointments_reschedule_submit(request: web.Request) -> web.StreamResponse:
    appointment_id = uuid_in_path(request, "appointment_id")
    form = await read_form(request)
    try:
        values = parse(
            form,
            [
                Field("expert_id", convert=UUID, invalid=N_("Choose a slot from the list.")),
                Field(
                    "starts_at",
                    max_length=40,
                    convert=parse_instant,
                    invalid=N_("Choose a slot from the list."),
                ),
            ],
        )
        moved = await service.reschedule(
            _uow(request),
            request.app[KEYRING],
            current_principal(request),
            appointment_id,
            values["expert_id"],
            values["starts_at"],
            request.app[CLOCK].now(),
            client_address=client_address_of(request),
        )
    except DomainError as exc:
        if exc.status == 404:
            raise
        view = await _view(request, appointment_id)
        return await _render_reschedule(request, view, exc.status, exc.text)
    raise redirect(request, "appointments.view", appointment_id=str(moved.id))


# ---------------------------------------------------------------------------------- the expert's side


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _week_start(request: web.Request, today: date) -> date:
    raw = request.query.get("week", "")
    try:
        return _monday(date.fromisoformat(raw)) if raw else _monday(today)
    except ValueError:
        return _monday(today)


async def _chosen_expert(request: web.Request, principal: Principal) -> tuple[UUID | None, list[Any]]:
    """The expert whose agenda or availability is shown: oneself, or the one a secretariat picked."""
    experts = await service.experts_i_manage(_uow(request), principal)
    chosen = _query_uuid(request, "expert")
    if chosen is None or chosen not in {e.id for e in experts}:
        chosen = experts[0].id if experts else None
    return chosen, experts


@routes.get("/agenda", name="agenda", action=Action.VIEW_AGENDA, page=EXPERT_PAGE)
async def agenda(request: web.Request) -> web.StreamResponse:
    principal = current_principal(request)
    now = request.app[CLOCK].now()
    today = now.astimezone(PARIS).date()
    monday = _week_start(request, today)
    expert_id, experts = await _chosen_expert(request, principal)
    views: list[service.AppointmentView] = []
    if expert_id is not None:
        views = await service.expert_agenda(
            _uow(request),
            request.app[KEYRING],
            principal,
            expert_id,
            monday,
            7,
            now,
            client_address_of(request),
        )
    days = [monday + timedelta(days=n) for n in range(5)]
    weekend = [v for v in views if v.appointment.local_start.date().weekday() >= 5]
    if weekend:
        days += sorted({v.appointment.local_start.date() for v in weekend})
    by_day = {day: [v for v in views if v.appointment.local_start.date() == day] for day in days}
    return render_page(
        request,
        "scheduling/agenda.html",
        by_day=by_day,
        monday=monday,
        previous=(monday - timedelta(days=7)).isoformat(),
        next=(monday + timedelta(days=7)).isoformat(),
        today=today,
        experts=experts,
        expert_id=expert_id,
    )


@routes.get("/availability", name="availability", action=Action.MANAGE_AVAILABILITY, page=SECRETARIAT_PAGE)
async def availability(request: web.Request) -> web.StreamResponse:
    return await _render_availability(request)


async def _render_availability(
    request: web.Request, status: int = 200, expert_id: UUID | None = None, **context: Any
) -> web.Response:
    principal = current_principal(request)
    chosen, experts = await _chosen_expert(request, principal)
    chosen = expert_id or chosen
    found = None
    if chosen is not None:
        found = await service.availability(_uow(request), principal, chosen, request.app[CLOCK].now())
    context.setdefault(
        "values",
        {
            "start": "14:00",
            "end": "17:30",
            "consultation_minutes": "30",
            "report_minutes": "15",
            "valid_from": request.app[CLOCK].now().astimezone(PARIS).date().isoformat(),
        },
    )
    specialties = sorted(found.expert.specialties) if found else []
    return render_page(
        request,
        "scheduling/availability.html",
        status,
        experts=experts,
        expert_id=chosen,
        found=found,
        weekday_options=[(str(day), WEEKDAY_LABELS[day]) for day in range(7)],
        specialty_options=[(sp.value, SPECIALTY_LABELS[sp]) for sp in specialties],
        **context,
    )


def _back_to_availability(request: web.Request, expert_id: object) -> web.HTTPSeeOther:
    """After a change, the availability page of the expert it was for."""
    return web.HTTPSeeOther(
        str(request.app.router["availability"].url_for().with_query(expert=str(expert_id)))
    )


def _minutes(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 240:
        raise ValueError(value)
    return number


def _hhmm(value: str) -> time:
    parsed = time.fromisoformat(value)
    if parsed.second or parsed.microsecond:
        raise ValueError(value)
    return parsed


@routes.post("/availability/windows", name="availability.windows.add", action=Action.MANAGE_AVAILABILITY)
async def availability_add_window(request: web.Request) -> web.StreamResponse:
    lists = await read_form_lists(request)
    form = {key: values[-1] for key, values in lists.items()}
    expert_id = _form_uuid(form.get("expert_id"))
    try:
        values = parse(
            form,
            [
                Field("expert_id", convert=UUID),
                Field(
                    "specialty",
                    max_length=32,
                    convert=Specialty,
                    invalid=N_("Choose a specialty from the list."),
                ),
                Field("start", max_length=5, convert=_hhmm, invalid=N_("Give a time as HH:MM.")),
                Field("end", max_length=5, convert=_hhmm, invalid=N_("Give a time as HH:MM.")),
                Field(
                    "valid_from",
                    max_length=10,
                    convert=date.fromisoformat,
                    invalid=N_("Give a date as YYYY-MM-DD."),
                ),
                Field(
                    "valid_until",
                    required=False,
                    max_length=10,
                    convert=date.fromisoformat,
                    invalid=N_("Give a date as YYYY-MM-DD."),
                ),
                Field("consultation_minutes", max_length=3, convert=_minutes),
                Field("report_minutes", max_length=3, convert=_minutes),
            ],
        )
        weekdays = frozenset(int(d) for d in lists.get("weekdays", []) if d.isdigit() and len(d) == 1)
        await service.publish_window(
            _uow(request),
            current_principal(request),
            values["expert_id"],
            values["specialty"],
            weekdays,
            values["start"],
            values["end"],
            values["valid_from"],
            values["valid_until"],
            values["consultation_minutes"],
            values["report_minutes"],
            request.app[CLOCK].now(),
            client_address_of(request),
            for_team=form.get("for_team") == "1",
        )
    except InvalidInput as exc:
        return await _render_availability(
            request,
            exc.status,
            expert_id,
            values=form,
            weekdays=lists.get("weekdays", []),
            errors=exc.fields,
            error=exc.text,
        )
    raise _back_to_availability(request, str(expert_id))


@routes.post(
    "/availability/windows/{window_id}/remove",
    name="availability.windows.remove",
    action=Action.MANAGE_AVAILABILITY,
)
async def availability_remove_window(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    await service.remove_window(
        _uow(request),
        current_principal(request),
        uuid_in_path(request, "window_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
        for_team=form.get("for_team") == "1",
    )
    raise _back_to_availability(request, form.get("expert_id", ""))


@routes.post(
    "/availability/team-windows/{team_window_id}/apply",
    name="availability.team_windows.apply",
    action=Action.MANAGE_AVAILABILITY,
)
async def availability_apply_team_window(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    expert_id = _form_uuid(form.get("expert_id"))
    if expert_id is None:
        raise NotFound()
    await service.apply_team_window(
        _uow(request),
        current_principal(request),
        expert_id,
        uuid_in_path(request, "team_window_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    raise _back_to_availability(request, str(expert_id))


def _local_instant(value: str) -> datetime:
    """A datetime-local field: Paris wall-clock time."""
    return datetime.fromisoformat(value).replace(tzinfo=PARIS).astimezone(UTC)


@routes.post("/availability/leaves", name="availability.leaves.add", action=Action.MANAGE_AVAILABILITY)
async def availability_add_leave(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    expert_id = _form_uuid(form.get("expert_id"))
    try:
        values = parse(
            form,
            [
                Field("expert_id", convert=UUID),
                Field(
                    "leave_start", max_length=16, convert=_local_instant, invalid=N_("Give a date and time.")
                ),
                Field(
                    "leave_end", max_length=16, convert=_local_instant, invalid=N_("Give a date and time.")
                ),
                Field("label", required=False, max_length=100),
            ],
        )
        await service.add_leave(
            _uow(request),
            current_principal(request),
            values["expert_id"],
            values["leave_start"],
            values["leave_end"],
            values["label"] or "",
            request.app[CLOCK].now(),
            client_address_of(request),
        )
    except InvalidInput as exc:
        fields = {("leave_end" if k == "ends_at" else k): v for k, v in exc.fields.items()}
        return await _render_availability(
            request, exc.status, expert_id, leave_values=form, errors=fields, error=exc.text
        )
    raise _back_to_availability(request, str(expert_id))


@routes.post(
    "/availability/leaves/{leave_id}/remove",
    name="availability.leaves.remove",
    action=Action.MANAGE_AVAILABILITY,
)
async def availability_remove_leave(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    await service.remove_leave(
        _uow(request),
        current_principal(request),
        uuid_in_path(request, "leave_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    raise _back_to_availability(request, form.get("expert_id", ""))
