"""HTML pages of tele-expertise. For care-home staff on a shared tablet: "Demander une téléexpertise" (the
form, which keeps what was typed when something is wrong) and "Mes demandes de téléexpertise" (the care
home's requests with status, late flag and answer). For experts: "File de téléexpertise" (the requests
waiting in their specialties, the ones they took on with the answer form and the teleconsultation slots,
the last ones answered).

Input is read with the JSON API's field lists (routes.py), so both share one set of rules.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from aiohttp import BodyPartReader, MultipartReader, web

from records.documents.images import prepare_upload
from records.documents.labels import DOCUMENT_LABELS
from records.documents.model import Document, DocumentError, UploadLimits, clean_file_name
from records.documents.routes import READ_CHUNK, upload_limits
from records.documents.service import Upload
from records.residents import service as residents_service
from records.residents.model import Resident
from scheduling import service as scheduling_service
from scheduling.expertise import attachments, service
from scheduling.expertise.model import (
    MAX_ANSWER,
    MAX_CONTEXT,
    MAX_QUESTION,
    AnswerOutcome,
    ExpertiseStatus,
    ExpertiseUrgency,
    Level,
    NotificationKind,
)
from scheduling.expertise.routes import (
    ANSWER_FIELDS,
    ANSWER_FOLLOW_UP,
    CLAIM_FIELDS,
    CONVERT_FIELDS,
    submission,
    uow_of,
)
from scheduling.labels import CONSENT_GIVER_LABELS, CONSENT_METHOD_LABELS, REASON_LABELS
from scheduling.model import PARIS, ConsentGiver, ConsentMethod, Reason, SlotOffer
from teleconsult.errors import Conflict, InvalidInput, MalformedRequest
from teleconsult.forms import UNREADABLE_BODY, parse, read_form, uuid_in_path
from teleconsult.i18n import N_, gettext_
from teleconsult.identity.model import Role
from teleconsult.identity.policy import Action
from teleconsult.keys import BLOB_STORE, CLOCK, KEYRING, MULTIPART
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal, redirect, render_page
from teleconsult.routing import PageSpec, Routes

routes = Routes()

CARE_HOME_PAGE = PageSpec(role=Role.IDE, care_home=True)
EXPERT_PAGE = PageSpec(role=Role.EXPERT)

STATUS_LABELS: dict[str, str] = {
    ExpertiseStatus.SUBMITTED: N_("Waiting for an expert"),
    ExpertiseStatus.CLAIMED: N_("Taken on by an expert"),
    ExpertiseStatus.ANSWERED: N_("Answered"),
    ExpertiseStatus.WITHDRAWN: N_("Withdrawn"),
    ExpertiseStatus.CONVERTED: N_("Teleconsultation booked"),
}
LEVEL_LABELS: dict[int, str] = {
    Level.ONE: N_("Level 1: a precise question"),
    Level.TWO: N_("Level 2: a complex situation"),
}
URGENCY_LABELS: dict[str, str] = {
    ExpertiseUrgency.NON_URGENT: N_("Not urgent"),
    ExpertiseUrgency.URGENT: N_("Urgent"),
}
OUTCOME_LABELS: dict[str, str] = {
    AnswerOutcome.AVIS_CONSEILS: N_("Opinion and advice"),
    AnswerOutcome.MODIFICATION_THERAPEUTIQUE: N_("Change of treatment"),
    AnswerOutcome.DEMANDE_TELECONSULTATION: N_("A teleconsultation is needed"),
    AnswerOutcome.CONSULTATION_PHYSIQUE: N_("A physical consultation is needed"),
    AnswerOutcome.ORIENTATION_URGENCES: N_("Send to the emergency department"),
    AnswerOutcome.AUTRE: N_("Other"),
}
NEWS_LABELS: dict[str, str] = {
    NotificationKind.CLAIMED: N_("New: taken on by an expert"),
    NotificationKind.ANSWERED: N_("New: answer received"),
    NotificationKind.CONVERTED: N_("New: teleconsultation booked"),
}

#: The form's file input: photos sent with the request (checked by content like every upload).
PHOTOS_FIELD = "photos"
MAX_FORM_PHOTOS = 5
MAX_TEXT_PART = 16 * 1024  # the longest text field (the context) is well under this
PHOTO_TITLE = "Photo"

FORM_FIELDS = (
    "resident_id",
    "specialty",
    "level",
    "urgency",
    "reason",
    "wished_deadline",
    "question",
    "context",
    "consent_given_by",
    "consent_given_on",
    "consent_method",
    "consent_person",
    "physician_agreement",
    "physician_note",
)


def _labels() -> dict[str, Any]:
    return {
        "expertise_status_labels": STATUS_LABELS,
        "level_labels": LEVEL_LABELS,
        "urgency_labels": URGENCY_LABELS,
        "reason_labels": REASON_LABELS,
        "outcome_labels": OUTCOME_LABELS,
        "consent_giver_labels": CONSENT_GIVER_LABELS,
        "consent_method_labels": CONSENT_METHOD_LABELS,
        "news_labels": NEWS_LABELS,
    }


def _resident_label(resident: Resident) -> str:
    traits = resident.details.traits
    room = resident.details.room
    born = traits.birth_date.strftime("%d/%m/%Y")
    return f"{traits.display_name()} ({born}" + (f", {room})" if room else ")")


def local_input(moment: datetime) -> str:
    """The value of a datetime-local input: Paris wall-clock time, to the minute."""
    return moment.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")


# ------------------------------------------------------------------------------------ the care home


async def _photos(request: web.Request, request_ids: list[UUID]) -> dict[UUID, list[Document]]:
    return await attachments.documents_of_requests(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        request_ids,
        request.app[CLOCK].now(),
        client_address_of(request),
    )


async def render_list(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    """The care home's requests with their photos and, for open ones, the form to add one; ``context``
    carries a refused upload's message and the request it was for (``upload_failed``)."""
    views = await service.care_home_requests(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    context.setdefault("upload_failed", None)
    context.setdefault("upload_error", None)
    context.setdefault("upload_error_params", {})
    context.setdefault("upload_errors", {})
    return render_page(
        request,
        "expertise/list.html",
        status,
        views=views,
        sent=request.query.get("sent") == "1",
        photos=await _photos(request, [view.request.id for view in views]),
        upload_limits=upload_limits(request),
        **DOCUMENT_LABELS,
        **_labels(),
        **context,
    )


@routes.get("/expertise", name="expertise.list", action=Action.REQUEST_EXPERTISE, page=CARE_HOME_PAGE)
async def expertise_list(request: web.Request) -> web.StreamResponse:
    return await render_list(request)


async def _render_form(
    request: web.Request, values: dict[str, str], status: int = 200, **context: Any
) -> web.Response:
    context = {"error_params": {}, "photo_params": {}, "photos_lost": 0, **context}
    principal = current_principal(request)
    now = request.app[CLOCK].now()
    residents = await residents_service.search_residents(
        uow_of(request), request.app[KEYRING], principal, None, now, client_address_of(request)
    )
    specialties = await service.specialties_for_expertise(uow_of(request), principal)
    _ = gettext_
    return render_page(
        request,
        "expertise/form.html",
        status,
        values=values,
        has_residents=bool(residents),
        resident_options=[("", _("Choose a resident"))]
        + [(str(r.id), _resident_label(r)) for r in residents],
        specialties=specialties,
        reason_options=[(r.value, _(REASON_LABELS[r])) for r in Reason],
        level_options=[(str(int(level)), _(LEVEL_LABELS[level])) for level in Level],
        urgency_options=[(u.value, _(URGENCY_LABELS[u])) for u in ExpertiseUrgency],
        giver_options=[(g.value, _(CONSENT_GIVER_LABELS[g])) for g in ConsentGiver],
        method_options=[(m.value, _(CONSENT_METHOD_LABELS[m])) for m in ConsentMethod],
        agreement_options=[("true", _("Yes")), ("false", _("No"))],
        min_deadline=local_input(now),
        max_question=MAX_QUESTION,
        max_context=MAX_CONTEXT,
        **_labels(),
        **context,
    )


@routes.get("/expertise/new", name="expertise.new", action=Action.REQUEST_EXPERTISE, page=CARE_HOME_PAGE)
async def expertise_new(request: web.Request) -> web.StreamResponse:
    now = request.app[CLOCK].now()
    values = {
        "resident_id": request.query.get("resident_id", "")[:36],
        "level": str(int(Level.ONE)),
        "urgency": ExpertiseUrgency.NON_URGENT.value,
        "wished_deadline": local_input(now + timedelta(days=2)),
        "consent_given_on": now.astimezone(PARIS).date().isoformat(),
        "consent_given_by": ConsentGiver.RESIDENT.value,
        "consent_method": ConsentMethod.ORAL.value,
        "physician_agreement": "true",
    }
    values.update(await _from_appointment(request, now))
    return await _render_form(request, values)


async def _from_appointment(request: web.Request, now: datetime) -> dict[str, str]:
    """``?from_appointment=<id>``: the call page's "continue as a tele-expertise" when the network is too
    weak for video. The request starts from that appointment's resident, specialty, reason and details
    (read through the appointment's policy, audited); nothing of it travels in the URL but its id."""
    try:
        appointment_id = UUID(request.query.get("from_appointment", "")[:36])
    except ValueError:
        return {}
    view = await scheduling_service.view_appointment(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        appointment_id,
        now,
        client_address_of(request),
    )
    a = view.appointment
    local = a.starts_at.astimezone(PARIS)
    lead = gettext_(
        "Continued from the teleconsultation of %(date)s at %(time)s: the network was too weak for video."
    ) % {"date": local.strftime("%d/%m/%Y"), "time": local.strftime("%H:%M")}
    return {
        "resident_id": str(a.resident_id),
        "specialty": a.specialty.value,
        "reason": a.qualification.reason.value,
        "context": f"{lead}\n{a.qualification.details}"[:MAX_CONTEXT],
    }


async def _read_submission(
    request: web.Request, limits: UploadLimits, values: dict[str, str]
) -> list[Upload]:
    """The form's fields and its photos. A multipart form is read part by part (its ``csrf_token`` came
    first and was checked by the middleware): text fields capped, each photo capped at the upload limit
    (413 as soon as one passes it), at most MAX_FORM_PHOTOS; an empty file input sends nothing. The
    fields go into ``values`` as they are read, so that a form refused midway shows them again."""
    if request.content_type != "multipart/form-data":
        form = await read_form(request)
        values.update({name: form[name] for name in FORM_FIELDS if name in form})
        return []
    photos: list[Upload] = []
    try:
        reader: MultipartReader = request.get(MULTIPART) or await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise MalformedRequest()
            if part.name == PHOTOS_FIELD and part.filename is not None:
                data = await _read_part(part, limits.max_bytes, limits.too_large())
                if not data:
                    continue  # the file input left empty
                if len(photos) >= MAX_FORM_PHOTOS:
                    raise InvalidInput({PHOTOS_FIELD: N_("Send at most 5 photos with the request.")})
                name = clean_file_name(part.filename)
                photos.append(Upload(name or PHOTO_TITLE, name, data))
            elif part.filename is None and (part.name in FORM_FIELDS or part.name == "csrf_token"):
                raw = await _read_part(part, MAX_TEXT_PART, MalformedRequest())
                if part.name in FORM_FIELDS and part.name not in values:
                    values[part.name] = raw.decode("utf-8", errors="replace")
            else:
                raise MalformedRequest()
    except UNREADABLE_BODY as exc:
        raise MalformedRequest() from exc
    return photos


async def _read_part(part: BodyPartReader, cap: int, too_big: Exception) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(READ_CHUNK):
        data += chunk
        if len(data) > cap:
            raise too_big
    return bytes(data)


async def _check_photos(photos: list[Upload], limits: UploadLimits) -> None:
    """Every photo checked by its content (type sniffed, decoded, size and pixels) before anything is
    written, so that a refused photo refuses the whole submission and nothing is half-sent."""
    for photo in photos:
        try:
            await asyncio.to_thread(prepare_upload, photo.data, limits)
        except DocumentError as exc:
            raise PhotoRefused(photo.file_name, exc) from exc


class PhotoRefused(Exception):
    def __init__(self, file_name: str, refusal: DocumentError) -> None:
        super().__init__(file_name)
        self.file_name = file_name
        self.refusal = refusal


@routes.post("/expertise", name="expertise.create", action=Action.REQUEST_EXPERTISE, streams_body=True)
async def expertise_create(request: web.Request) -> web.StreamResponse:
    """The request and its photos. The photos are read and checked by content first: if one is refused,
    nothing is created and the form comes back with what was typed and the reason; then the request is
    sent and its photos stored with it (each through records.documents, encrypted, audited)."""
    limits = upload_limits(request)
    values: dict[str, str] = {}
    photos: list[Upload] = []
    try:
        photos = await _read_submission(request, limits, values)
        await _check_photos(photos, limits)
        sent = await service.submit(
            uow_of(request),
            request.app[KEYRING],
            current_principal(request),
            submission(values),
            request.app[CLOCK].now(),
            client_address_of(request),
        )
    except PhotoRefused as exc:
        return await _render_form(
            request,
            values,
            exc.refusal.status,
            errors={PHOTOS_FIELD: exc.refusal.text},
            photo_params=dict(exc.refusal.params),
            error=N_(
                "The photo %(name)s was refused and nothing was sent. Check it, then choose the photos again."
            ),
            error_params={"name": exc.file_name},
        )
    except (InvalidInput, DocumentError) as exc:
        fields = exc.fields if isinstance(exc, InvalidInput) else {PHOTOS_FIELD: exc.text}
        return await _render_form(
            request,
            values,
            exc.status,
            errors=fields,
            error=exc.text,
            error_params=dict(exc.params),
            photo_params=dict(exc.params),
            photos_lost=len(photos),
        )
    for photo in photos:
        await attachments.attach_to_expertise(
            uow_of(request),
            request.app[KEYRING],
            request.app[BLOB_STORE],
            current_principal(request),
            sent.id,
            partial(_given, photo),
            limits,
            request.app[CLOCK].now(),
            client_address_of(request),
        )
    raise web.HTTPSeeOther(str(request.app.router["expertise.list"].url_for().with_query(sent="1")))


async def _given(upload: Upload) -> Upload:
    return upload


@routes.post(
    "/expertise/{expertise_id}/withdraw", name="expertise.withdraw", action=Action.WITHDRAW_EXPERTISE
)
async def expertise_withdraw(request: web.Request) -> web.StreamResponse:
    await service.withdraw(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        uuid_in_path(request, "expertise_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    raise redirect(request, "expertise.list")


# ------------------------------------------------------------------------------------------ the expert


async def _render_queue(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    principal = current_principal(request)
    now = request.app[CLOCK].now()
    found = await service.queue(
        uow_of(request), request.app[KEYRING], principal, now, client_address_of(request)
    )
    slots: dict[UUID, list[SlotOffer]] = {}
    for view in found.mine:
        slots[view.request.id] = await service.conversion_slots(
            uow_of(request), principal, view.request.id, now
        )
    shown = [view.request.id for view in (*found.mine, *found.waiting)]
    return render_page(
        request,
        "expertise/queue.html",
        status,
        queue=found,
        photos=await _photos(request, shown),
        **DOCUMENT_LABELS,
        slots=slots,
        outcomes=list(AnswerOutcome),
        default_deadline=local_input(now + timedelta(days=1)),
        min_deadline=local_input(now),
        max_answer=MAX_ANSWER,
        **_labels(),
        **context,
    )


@routes.get("/expertise/queue", name="expertise.queue", action=Action.VIEW_EXPERTISE_QUEUE, page=EXPERT_PAGE)
async def expertise_queue(request: web.Request) -> web.StreamResponse:
    return await _render_queue(request)


async def _expert_step(request: web.Request, step: str) -> web.StreamResponse:
    """Claim, answer or convert one request from the queue page; on a refusal the page comes back with
    the message beside that request and what was typed."""
    expertise_id = uuid_in_path(request, "expertise_id")
    form = await read_form(request)
    values = {name: form.get(name, "") for name in ("deadline", "outcome", "text", "starts_at")}
    uow, keys, principal = uow_of(request), request.app[KEYRING], current_principal(request)
    now, address = request.app[CLOCK].now(), client_address_of(request)
    try:
        if step == "claim":
            deadline = parse(form, CLAIM_FIELDS)["deadline"]
            await service.claim(uow, keys, principal, expertise_id, deadline, now, address)
        elif step == "answer":
            body = parse(form, ANSWER_FIELDS)
            await service.answer(
                uow, keys, principal, expertise_id, body["outcome"], body["text"], now, address
            )
            await request.app[ANSWER_FOLLOW_UP](request, expertise_id)
        else:
            starts_at = parse(form, CONVERT_FIELDS)["starts_at"]
            await service.convert(uow, keys, principal, expertise_id, starts_at, now, address)
    except InvalidInput as exc:
        return await _render_queue(
            request, exc.status, failed=str(expertise_id), values=values, errors=exc.fields, error=exc.text
        )
    except Conflict as exc:  # already claimed, no longer open, slot taken meanwhile
        return await _render_queue(
            request, exc.status, failed=str(expertise_id), values=values, error=exc.text
        )
    raise redirect(request, "expertise.queue")


@routes.post("/expertise/{expertise_id}/claim", name="expertise.claim", action=Action.CLAIM_EXPERTISE)
async def expertise_claim(request: web.Request) -> web.StreamResponse:
    return await _expert_step(request, "claim")


@routes.post("/expertise/{expertise_id}/answer", name="expertise.answer", action=Action.ANSWER_EXPERTISE)
async def expertise_answer(request: web.Request) -> web.StreamResponse:
    return await _expert_step(request, "answer")


@routes.post("/expertise/{expertise_id}/convert", name="expertise.convert", action=Action.ANSWER_EXPERTISE)
async def expertise_convert(request: web.Request) -> web.StreamResponse:
    return await _expert_step(request, "convert")
