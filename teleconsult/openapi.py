"""The OpenAPI 3.1 description of the JSON API (every ``/api/`` route), served at ``GET /api/openapi.json``.

A maintained document, written by hand next to the code: tests/integration/test_openapi.py fails when a
route under ``/api/`` is missing from it, when it lists a path or method the router does not have, and
when one of its enumerations drifts from the model's. Adding an API route means adding its operation here.

The document is public: it describes the shape of requests and answers, never data, and every operation
it lists still requires a session (and the CSRF header for unsafe methods) as the policy says.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from teleconsult.identity.policy import Action
from teleconsult.middleware import CSRF_HEADER, SESSION_COOKIE
from teleconsult.routing import Routes

routes = Routes()

Schema = dict[str, Any]

UUID_: Schema = {"type": "string", "format": "uuid"}
INSTANT: Schema = {"type": "string", "format": "date-time", "description": "ISO 8601 with its offset"}
DATE: Schema = {"type": "string", "format": "date"}
TEXT: Schema = {"type": "string"}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


def nullable(schema: Schema) -> Schema:
    return {"oneOf": [schema, {"type": "null"}]}


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


def json_body(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def answer(description: str, schema: Schema | None = None) -> Schema:
    return {"description": description, **(json_body(schema) if schema is not None else {})}


def error_ref(name: str) -> Schema:
    return {"$ref": f"#/components/responses/{name}"}


def path_parameter(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": UUID_}


def query_parameter(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


SAFE = {"GET", "HEAD"}


def operation(
    method: str,
    operation_id: str,
    tag: str,
    summary: str,
    ok: tuple[str, str, Schema | None],
    *,
    body: Schema | None = None,
    parameters: list[Schema] | None = None,
    errors: tuple[str, ...] = (),
) -> Schema:
    """One operation: logged in (plus the CSRF header when unsafe); 401 and 403 always possible."""
    status, description, schema = ok
    responses: dict[str, Schema] = {status: answer(description, schema)}
    for name in ("Unauthorized", "Forbidden", *errors):
        responses[ERROR_STATUS[name]] = error_ref(name)
    found: Schema = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        "security": [{"session": []}] if method in SAFE else [{"session": [], "csrf": []}],
        "responses": responses,
    }
    if parameters:
        found["parameters"] = parameters
    if body is not None:
        found["requestBody"] = {"required": True, **json_body(body)}
    return found


ERROR_STATUS = {
    "Malformed": "400",
    "Unauthorized": "401",
    "Forbidden": "403",
    "NotFound": "404",
    "Conflict": "409",
    "SlotTaken": "409",
    "ExpertiseConflict": "409",
    "TooLarge": "413",
    "UnsupportedType": "415",
    "RangeNotSatisfiable": "416",
    "Invalid": "422",
}

# ------------------------------------------------------------------------------------------- schemas

ERROR = obj(
    ["error", "message"],
    error=TEXT | {"description": "a stable code, e.g. not_found, invalid_input, slot_in_past"},
    message=TEXT | {"description": "for the user, in their language"},
    fields={
        "type": "object",
        "additionalProperties": TEXT,
        "description": "422 only: field name -> what is wrong with it, in the user's language",
    },
)

SPECIALTY = enum(
    "geriatrie",
    "psychogeriatrie",
    "soins_palliatifs",
    "plaies_cicatrisation",
    "nutrition",
    "douleur",
    "pharmacie_clinique",
    "cardiologie",
    "medecine_vasculaire",
)

SCHEMAS: dict[str, Schema] = {
    "Error": ERROR,
    "Specialty": SPECIALTY,
    "Reason": enum(
        "avis_geriatrique",
        "troubles_comportement",
        "situation_urgente",
        "plaie",
        "douleur",
        "denutrition",
        "conciliation_medicamenteuse",
        "chutes",
        "decision_ethique",
        "autre",
    ),
    "Urgency": enum("programmee", "semi_urgente"),
    "Attendee": enum("ide", "idec", "medecin_co", "famille", "medecin_traitant"),
    "ConsentGiver": enum("resident", "famille", "representant_legal", "personne_de_confiance"),
    "ConsentMethod": enum("oral", "ecrit"),
    "AppointmentStatus": enum("booked", "cancelled", "no_show", "done"),
    "ChecklistItem": enum("constantes", "traitement", "dlu", "photos", "consentement", "test_connexion"),
    "Readiness": enum("ready", "incomplete", "not_started"),
    "Me": obj(
        ["id", "username", "display_name", "role", "establishment_id", "specialties", "second_factor"],
        id=UUID_,
        username=TEXT,
        display_name=TEXT,
        role=TEXT,
        establishment_id=UUID_,
        specialties={"type": "array", "items": ref("Specialty")},
        second_factor={"type": "boolean"},
    ),
    "ResidentDetails": obj(
        ["birth_name", "first_names", "sex", "birth_date", "birth_place_code"],
        birth_name=TEXT | {"maxLength": 100},
        used_name=nullable(TEXT | {"maxLength": 100}),
        first_names={"type": "array", "items": TEXT | {"maxLength": 100}, "minItems": 1},
        used_first_name=nullable(TEXT | {"maxLength": 100}),
        sex=enum("M", "F", "I"),
        birth_date=DATE,
        birth_place_code=TEXT | {"maxLength": 5, "description": "INSEE code of the place of birth"},
        ins_matricule=nullable(TEXT | {"maxLength": 30}),
        ins_oid=nullable(TEXT | {"maxLength": 64}),
        identity_status=nullable(enum("provisoire", "recuperee", "validee", "qualifiee")),
        room=nullable(TEXT | {"maxLength": 50}),
        treating_physician=nullable(TEXT | {"maxLength": 200}),
        contact_person=nullable(TEXT | {"maxLength": 200}),
    ),
    "ResidentEdit": {
        "allOf": [ref("ResidentDetails"), obj(["version"], version={"type": "integer", "minimum": 1})]
    },
    "Resident": {
        "allOf": [
            ref("ResidentDetails"),
            obj(
                ["id", "ehpad_id", "version", "created_at", "updated_at"],
                id=UUID_,
                ehpad_id=UUID_,
                version={"type": "integer"},
                created_at=INSTANT,
                updated_at=INSTANT,
            ),
        ]
    },
    "ResidentList": obj(["residents"], residents={"type": "array", "items": ref("Resident")}),
    "ResidentSearch": obj([], q=TEXT | {"maxLength": 100, "description": "name or INS, never in the URL"}),
    "SlotOffer": obj(
        ["expert_id", "expert_name", "specialty", "starts_at", "ends_at", "local_start"],
        expert_id=UUID_,
        expert_name=TEXT,
        specialty=ref("Specialty"),
        starts_at=INSTANT | {"description": "UTC"},
        ends_at=INSTANT | {"description": "UTC, after the report time"},
        local_start=INSTANT | {"description": "the same instant on the Paris wall clock"},
    ),
    "SlotList": obj(["slots"], slots={"type": "array", "items": ref("SlotOffer")}),
    "SpecialtyList": obj(["specialties"], specialties={"type": "array", "items": ref("Specialty")}),
    "Consent": obj(
        ["given_by", "given_on", "method"],
        given_by=ref("ConsentGiver"),
        given_on=DATE | {"description": "not in the future"},
        method=ref("ConsentMethod"),
        person_name=TEXT
        | {"maxLength": 200, "description": "required unless the resident consented themself"},
    ),
    "PhysicianAgreement": obj(
        ["obtained"],
        obtained={"type": "boolean"},
        note=TEXT | {"maxLength": 2000, "description": "required when not obtained: why"},
    ),
    "BookingRequest": obj(
        [
            "resident_id",
            "expert_id",
            "starts_at",
            "specialty",
            "reason",
            "urgency",
            "attendees",
            "consent",
            "physician_agreement",
        ],
        resident_id=UUID_,
        expert_id=UUID_,
        starts_at=INSTANT | {"description": "a slot's starts_at; without an offset: Paris time"},
        specialty=ref("Specialty"),
        reason=ref("Reason"),
        details=TEXT | {"maxLength": 2000, "description": "required when the reason is 'autre'"},
        urgency=ref("Urgency"),
        attendees={"type": "array", "items": ref("Attendee"), "minItems": 1, "uniqueItems": True},
        record_call={"type": "boolean", "default": False},
        consent=ref("Consent"),
        physician_agreement=ref("PhysicianAgreement"),
    ),
    "Cancellation": obj(["by", "at", "reason"], by=enum("care_home", "hospital"), at=INSTANT, reason=TEXT),
    "Appointment": obj(
        [
            "id",
            "version",
            "status",
            "expert_id",
            "expert_name",
            "ehpad_id",
            "ehpad_name",
            "resident_id",
            "resident_name",
            "specialty",
            "starts_at",
            "ends_at",
            "local_start",
            "reason",
            "details",
            "urgency",
            "attendees",
            "record_call",
            "consent",
            "physician_agreement",
            "cancellation",
            "rescheduled_from",
            "checklist",
            "readiness",
        ],
        id=UUID_,
        version={"type": "integer", "minimum": 1},
        status=ref("AppointmentStatus"),
        expert_id=UUID_,
        expert_name=nullable(TEXT),
        ehpad_id=UUID_,
        ehpad_name=TEXT,
        resident_id=UUID_,
        resident_name=nullable(TEXT | {"description": "null when the dossier is unreadable (shredded)"}),
        specialty=ref("Specialty"),
        starts_at=INSTANT,
        ends_at=INSTANT,
        local_start=INSTANT,
        reason=ref("Reason"),
        details=TEXT,
        urgency=ref("Urgency"),
        attendees={"type": "array", "items": ref("Attendee")},
        record_call={"type": "boolean"},
        consent=ref("Consent"),
        physician_agreement=ref("PhysicianAgreement"),
        cancellation=nullable(ref("Cancellation")),
        rescheduled_from=nullable(UUID_),
        checklist={
            "type": "object",
            "description": "each ChecklistItem -> whether it is done",
            "additionalProperties": {"type": "boolean"},
        },
        readiness=ref("Readiness"),
    ),
    "AppointmentList": obj(["appointments"], appointments={"type": "array", "items": ref("Appointment")}),
    "SlotTaken": {
        "allOf": [
            ref("Error"),
            obj(
                ["alternatives"],
                error={"const": "slot_taken"},
                alternatives={
                    "type": "array",
                    "items": ref("SlotOffer"),
                    "description": "the next free slots after the one asked for",
                },
            ),
        ]
    },
    "CancelRequest": obj(
        ["reason"],
        reason=TEXT | {"maxLength": 2000, "description": "the other side reads it"},
        version={"type": "integer", "description": "the version seen; 409 if it changed meanwhile"},
    ),
    "RescheduleRequest": obj(["expert_id", "starts_at"], expert_id=UUID_, starts_at=INSTANT),
    "ChecklistUpdate": obj(["done"], done={"type": "boolean"}),
    "WindowRequest": obj(
        ["specialty", "weekdays", "start", "end", "valid_from"],
        specialty=ref("Specialty"),
        weekdays={
            "type": "array",
            "items": {"type": "integer", "minimum": 0, "maximum": 6},
            "minItems": 1,
            "description": "0 = Monday ... 6 = Sunday",
        },
        start=TEXT | {"pattern": "^[0-2][0-9]:[0-5][0-9]$", "description": "HH:MM, Paris wall clock"},
        end=TEXT | {"pattern": "^[0-2][0-9]:[0-5][0-9]$"},
        valid_from=DATE,
        valid_until=nullable(DATE),
        consultation_minutes={"type": "integer", "minimum": 10, "default": 30},
        report_minutes={"type": "integer", "minimum": 0, "default": 15},
        team={
            "type": "boolean",
            "default": False,
            "description": "for every active expert of the expert's team who practises the specialty "
            "(a copy each; the hospital's secretariat only)",
        },
    ),
    "Window": obj(
        [
            "id",
            "expert_id",
            "specialty",
            "weekdays",
            "start",
            "end",
            "valid_from",
            "valid_until",
            "consultation_minutes",
            "report_minutes",
            "team_window_id",
            "team_id",
        ],
        id=UUID_,
        expert_id=UUID_,
        team_window_id=nullable(UUID_) | {"description": "the team publication this window is a copy of"},
        team_id=nullable(UUID_) | {"description": "the team (department) it was published for"},
        specialty=ref("Specialty"),
        weekdays={"type": "array", "items": {"type": "integer"}},
        start=TEXT,
        end=TEXT,
        valid_from=DATE,
        valid_until=nullable(DATE),
        consultation_minutes={"type": "integer"},
        report_minutes={"type": "integer"},
    ),
    "LeaveRequest": obj(
        ["starts_at", "ends_at"], starts_at=INSTANT, ends_at=INSTANT, label=TEXT | {"maxLength": 100}
    ),
    "Leave": obj(
        ["id", "expert_id", "starts_at", "ends_at", "label"],
        id=UUID_,
        expert_id=UUID_,
        starts_at=INSTANT,
        ends_at=INSTANT,
        label=TEXT,
    ),
    "Availability": obj(
        ["windows", "leaves"],
        windows={"type": "array", "items": ref("Window")},
        leaves={"type": "array", "items": ref("Leave")},
    ),
    # ------------------------------------------------------------------------------------ tele-expertise
    "ExpertiseLevel": {
        "type": "integer",
        "enum": [1, 2],
        "description": "1: answerable from the request alone; 2: a complex case needing a study of the file",
    },
    "ExpertiseUrgency": enum("non_urgente", "urgente"),
    "ExpertiseStatus": enum("submitted", "claimed", "answered", "withdrawn", "converted"),
    "AnswerOutcome": enum(
        "avis_conseils",
        "modification_therapeutique",
        "demande_teleconsultation",
        "consultation_physique",
        "orientation_urgences",
        "autre",
    ),
    "ExpertiseNews": enum("claimed", "answered", "converted"),
    "ExpertiseSubmission": obj(
        [
            "resident_id",
            "specialty",
            "level",
            "urgency",
            "reason",
            "wished_deadline",
            "question",
            "consent_given_by",
            "consent_given_on",
            "consent_method",
            "physician_agreement",
        ],
        resident_id=UUID_,
        specialty=ref("Specialty"),
        level=ref("ExpertiseLevel"),
        urgency=ref("ExpertiseUrgency"),
        reason=ref("Reason"),
        wished_deadline=INSTANT
        | {"description": "in the future, within 60 days; without an offset: Paris time"},
        question=TEXT | {"maxLength": 500},
        context=TEXT
        | {"maxLength": 1498, "description": "what the expert needs to know beside the question"},
        consent_given_by=ref("ConsentGiver"),
        consent_given_on=DATE | {"description": "not in the future"},
        consent_method=ref("ConsentMethod"),
        consent_person=TEXT
        | {"maxLength": 200, "description": "required unless the resident consented themself"},
        physician_agreement={"type": "boolean", "description": "the treating physician agrees"},
        physician_note=TEXT | {"maxLength": 2000, "description": "required when they do not: why"},
    ),
    "ExpertiseClaim": obj(
        ["expert_id", "expert_name", "at", "deadline"],
        expert_id=UUID_,
        expert_name=nullable(TEXT),
        at=INSTANT,
        deadline=INSTANT | {"description": "the response deadline the expert accepted"},
    ),
    "ExpertiseAnswer": obj(["outcome", "text", "at"], outcome=ref("AnswerOutcome"), text=TEXT, at=INSTANT),
    "ExpertiseRequest": obj(
        [
            "id",
            "version",
            "status",
            "is_late",
            "deadline",
            "local_deadline",
            "wished_deadline",
            "ehpad_id",
            "ehpad_name",
            "resident_id",
            "resident_name",
            "specialty",
            "level",
            "urgency",
            "reason",
            "question",
            "context",
            "consent",
            "physician_agreement",
            "requested_by",
            "requester_name",
            "requested_at",
            "claim",
            "answer",
            "withdrawn_at",
            "appointment_id",
            "news",
        ],
        id=UUID_,
        version={"type": "integer", "minimum": 1},
        status=ref("ExpertiseStatus"),
        is_late={"type": "boolean", "description": "still open and its deadline has passed"},
        deadline=INSTANT | {"description": "the one that counts: accepted by the expert, else wished"},
        local_deadline=INSTANT | {"description": "the same instant on the Paris wall clock"},
        wished_deadline=INSTANT,
        ehpad_id=UUID_,
        ehpad_name=TEXT,
        resident_id=UUID_,
        resident_name=nullable(TEXT | {"description": "null when the dossier is unreadable (shredded)"}),
        specialty=ref("Specialty"),
        level=ref("ExpertiseLevel"),
        urgency=ref("ExpertiseUrgency"),
        reason=ref("Reason"),
        question=TEXT,
        context=TEXT,
        consent=ref("Consent"),
        physician_agreement=ref("PhysicianAgreement"),
        requested_by=UUID_,
        requester_name=nullable(TEXT),
        requested_at=INSTANT,
        claim=nullable(ref("ExpertiseClaim")),
        answer=nullable(ref("ExpertiseAnswer")),
        withdrawn_at=nullable(INSTANT),
        appointment_id=nullable(UUID_ | {"description": "the teleconsultation it was converted into"}),
        news={
            "type": "array",
            "items": ref("ExpertiseNews"),
            "description": "care-home list only: what happened since the caller last saw the list",
        },
    ),
    "ExpertiseList": obj(["requests"], requests={"type": "array", "items": ref("ExpertiseRequest")}),
    "ExpertiseQueue": obj(
        ["waiting", "mine", "answered"],
        waiting={
            "type": "array",
            "items": ref("ExpertiseRequest"),
            "description": "nobody has taken them on yet, earliest wished deadline first",
        },
        mine={
            "type": "array",
            "items": ref("ExpertiseRequest"),
            "description": "taken on by the caller, nearest accepted deadline first",
        },
        answered={
            "type": "array",
            "items": ref("ExpertiseRequest"),
            "description": "the caller's last 20 answered or converted, newest first",
        },
    ),
    "ClaimRequest": obj(
        ["deadline"],
        deadline=INSTANT | {"description": "the response deadline accepted: in the future, within 60 days"},
    ),
    "AnswerRequest": obj(["outcome", "text"], outcome=ref("AnswerOutcome"), text=TEXT | {"maxLength": 4000}),
    "ConvertRequest": obj(
        ["starts_at"],
        starts_at=INSTANT | {"description": "one of the expertise's slots; without an offset: Paris time"},
    ),
    # ------------------------------------------------------------------------------------- notifications
    "NotificationKind": enum("booked", "cancelled", "rescheduled", "no_show", "reminder"),
    "Notification": obj(
        [
            "id",
            "kind",
            "offset_minutes",
            "appointment_id",
            "appointment_status",
            "created_at",
            "read_at",
            "starts_at",
            "local_start",
            "ehpad_name",
            "expert_name",
            "title",
            "text",
        ],
        id=UUID_,
        kind=ref("NotificationKind"),
        offset_minutes=nullable(
            {"type": "integer", "description": "reminders only: how long before the start it is due"}
        ),
        appointment_id=UUID_,
        appointment_status=ref("AppointmentStatus"),
        created_at=INSTANT,
        read_at=nullable(INSTANT),
        starts_at=INSTANT,
        local_start=INSTANT | {"description": "the same instant on the Paris wall clock"},
        ehpad_name=TEXT,
        expert_name=TEXT,
        title=TEXT | {"description": "in the reader's language"},
        text=TEXT | {"description": "when, which care home, which expert; never health data"},
    ),
    "NotificationList": obj(
        ["unread", "notifications"],
        unread={"type": "integer", "minimum": 0, "description": "all unread, not only those listed"},
        notifications={
            "type": "array",
            "items": ref("Notification"),
            "description": "the latest 50, newest first",
        },
    ),
    # ----------------------------------------------------------------------------------------- documents
    "DocumentType": enum("image/jpeg", "image/png", "application/pdf"),
    "DocumentUpload": obj(
        ["title", "file"],
        csrf_token=TEXT
        | {"description": "instead of the X-CSRF-Token header, as the first part (what the pages send)"},
        title=TEXT | {"maxLength": 200, "description": "e.g. DLU, wound photo"},
        file={
            "type": "string",
            "contentMediaType": "application/octet-stream",
            "description": "a JPEG, PNG or HEIC photo, or a PDF (its type is read from its bytes); "
            "photos are stored as JPEG or PNG without their metadata",
        },
    ),
    "Document": obj(
        [
            "id",
            "resident_id",
            "title",
            "file_name",
            "content_type",
            "byte_length",
            "sha256",
            "uploaded_by",
            "uploaded_at",
            "context_type",
            "context_id",
            "download_url",
        ],
        id=UUID_,
        resident_id=UUID_,
        title=TEXT,
        file_name=TEXT | {"description": "the uploaded file's own name"},
        content_type=ref("DocumentType"),
        byte_length={"type": "integer", "minimum": 0, "description": "of the stored file"},
        sha256=TEXT | {"pattern": "^[0-9a-f]{64}$", "description": "of the stored file, in hex"},
        uploaded_by=UUID_,
        uploaded_at=INSTANT,
        context_type=nullable(TEXT | {"description": "what it was attached for, e.g. appointment"}),
        context_id=nullable(UUID_),
        download_url=TEXT | {"description": "the path of downloadDocument"},
    ),
    "AppointmentDocumentUpload": obj(
        ["title", "file"],
        csrf_token=TEXT
        | {"description": "instead of the X-CSRF-Token header, as the first part (what the pages send)"},
        title=TEXT | {"maxLength": 200, "description": "e.g. DLU, prescription, wound photo"},
        is_dlu=TEXT
        | {
            "enum": ["1", "0"],
            "description": "1 when the file is the resident's DLU: ticks the checklist's DLU item too "
            "(every document ticks photos)",
        },
        file={
            "type": "string",
            "contentMediaType": "application/octet-stream",
            "description": "a JPEG, PNG or HEIC photo, or a PDF (its type is read from its bytes); "
            "photos are stored as JPEG or PNG without their metadata",
        },
    ),
    "DocumentList": obj(
        ["documents"],
        documents={"type": "array", "items": ref("Document"), "description": "newest first"},
    ),
    # ------------------------------------------------------------------------------- record accesses
    "AccessOutcome": enum("success", "failure", "denied"),
    "RecordAccess": obj(
        [
            "at",
            "action",
            "outcome",
            "user_id",
            "user_name",
            "role",
            "establishment_id",
            "establishment_name",
        ],
        at=INSTANT,
        action=TEXT | {"description": "the audit trail's code, e.g. resident.read"},
        outcome=ref("AccessOutcome"),
        user_id=nullable(UUID_),
        user_name=nullable(TEXT | {"description": "null for the host's operator or a removed account"}),
        role=nullable(TEXT),
        establishment_id=nullable(UUID_),
        establishment_name=nullable(TEXT),
    ),
    "RecordAccesses": obj(
        ["resident_id", "accesses", "older_than"],
        resident_id=UUID_,
        accesses={"type": "array", "items": ref("RecordAccess"), "description": "50 at most, newest first"},
        older_than=nullable(
            {"type": "integer", "description": "pass it as ?older_than= for the next page; null on the last"}
        ),
    ),
}

RESPONSES: dict[str, Schema] = {
    "Malformed": answer("The body is not a JSON object (malformed_request)", ref("Error")),
    "Unauthorized": answer("No session, or the session has expired", ref("Error")),
    "Forbidden": answer(
        "The role may not do this, the second factor is pending, or the X-CSRF-Token header is missing",
        ref("Error"),
    ),
    "NotFound": answer(
        "Unknown, or not the caller's to know (another care home's resident, appointment, request or "
        "document, another person's notification)",
        ref("Error"),
    ),
    "Conflict": answer(
        "A conflict: resident_busy, not_bookable, stale_appointment (changed meanwhile)", ref("Error")
    ),
    "SlotTaken": answer(
        "slot_taken: someone booked this slot first; the next free slots are given. "
        "Other conflicts (resident_busy; for a conversion also not_claimed, expertise_closed) carry no "
        "alternatives.",
        {"oneOf": [ref("SlotTaken"), ref("Error")]},
    ),
    "ExpertiseConflict": answer(
        "already_claimed (another expert was first), not_claimed (take it on before answering), "
        "expertise_closed (answered, withdrawn or converted), stale_expertise (changed meanwhile)",
        ref("Error"),
    ),
    "TooLarge": answer(
        "document.too_large (over the size cap) or document.too_many_pixels (an image over the pixel cap)",
        ref("Error"),
    ),
    "UnsupportedType": answer(
        "document.unsupported_type (not a JPEG, PNG, HEIC or PDF) or document.damaged (unreadable as one)",
        ref("Error"),
    ),
    "RangeNotSatisfiable": {
        **answer("The Range asked for is outside the file", ref("Error")),
        "headers": {
            "Content-Range": {
                "schema": TEXT,
                "description": "bytes */<length of the file>",
            },
            "Accept-Ranges": {"schema": {"const": "bytes"}},
        },
    },
    "Invalid": answer(
        "invalid_input with a message per field, or a rule of the domain: slot_in_past, "
        "outside_availability, no_convention",
        ref("Error"),
    ),
}

# -------------------------------------------------------------------------------------------- paths

APPOINTMENT_ID = path_parameter("appointment_id")
EXPERT_ID = path_parameter("expert_id")
RESIDENT_ID = path_parameter("resident_id")
EXPERTISE_ID = path_parameter("expertise_id")

DOCUMENT_ID = path_parameter("document_id")
RESIDENTS, SCHEDULING, ACCOUNT, AVAILABILITY = "residents", "scheduling", "account", "availability"
EXPERTISE, NOTIFICATIONS, DOCUMENTS = "expertise", "notifications", "documents"
UNSAFE_ERRORS = ("Malformed", "Invalid")
ONE_APPOINTMENT = ("200", "The appointment as it now is", ref("Appointment"))
ONE_EXPERTISE = ("200", "The request as it now is", ref("ExpertiseRequest"))
#: What a download may be: the stored type of the document (HEIC photos are stored as JPEG).
DOCUMENT_MEDIA_TYPES = ("image/jpeg", "image/png", "application/pdf")
BINARY: Schema = {"type": "string", "contentMediaType": "application/octet-stream"}
DOWNLOAD_HEADERS: dict[str, Schema] = {
    "Content-Disposition": {
        "schema": TEXT,
        "description": "attachment, named after the title (ASCII filename and UTF-8 filename*)",
    },
    "Accept-Ranges": {"schema": {"const": "bytes"}},
    "Content-Length": {"schema": {"type": "integer", "minimum": 0}},
}


def binary_answer(description: str, headers: dict[str, Schema]) -> Schema:
    return {
        "description": description,
        "headers": headers,
        "content": {media_type: {"schema": BINARY} for media_type in DOCUMENT_MEDIA_TYPES},
    }


def download_operation(
    operation_id: str = "downloadDocument",
    summary: str = "Download one of a resident's documents, whole or one byte range of it (read audited)",
    owner: Schema = RESIDENT_ID,
) -> Schema:
    """The download: the whole file (200) or one byte range of it (206), decrypted as it is sent."""
    found = operation(
        "GET",
        operation_id,
        DOCUMENTS,
        summary,
        ("200", "The whole file", None),
        parameters=[
            owner,
            DOCUMENT_ID,
            {
                "name": "Range",
                "in": "header",
                "required": False,
                "schema": TEXT | {"examples": ["bytes=0-1023", "bytes=-500"]},
                "description": "a single byte range; several ranges, or any If-Range, get the whole file",
            },
        ],
        errors=("NotFound", "RangeNotSatisfiable"),
    )
    responses = found["responses"]
    responses["200"] = binary_answer("The whole file, verified before its first byte", DOWNLOAD_HEADERS)
    responses["206"] = binary_answer(
        "The byte range asked for",
        {
            **DOWNLOAD_HEADERS,
            "Content-Range": {"schema": TEXT, "description": "bytes <first>-<last>/<length of the file>"},
        },
    )
    found["responses"] = dict(sorted(responses.items()))
    return found


def expertise_pdf_operation() -> Schema:
    """The compte-rendu of an answered tele-expertise request: made at the first download if the answer
    could not make it; 503 when no PDF can be produced on this server (the answer itself is kept)."""
    found = download_operation(
        "downloadExpertisePdf",
        "The compte-rendu of an answered tele-expertise request as a PDF, whole or one byte range, for "
        "those who may read the request (read audited; 404 while it has no answer)",
        EXPERTISE_ID,
    )
    found["tags"] = [EXPERTISE]
    found["parameters"] = [EXPERTISE_ID, found["parameters"][2]]  # no document id: the newest PDF
    pdf = {"application/pdf": {"schema": BINARY}}
    found["responses"]["200"]["content"] = pdf
    found["responses"]["206"]["content"] = pdf
    found["responses"]["503"] = answer(
        "pdf_unavailable: no PDF can be produced on this server for now (the answer is kept)", ref("Error")
    )
    return found


def upload_operation(
    operation_id: str = "uploadDocument",
    summary: str = "Attach a photo (JPEG, PNG, HEIC) or a PDF to a resident, as a multipart form",
    owner: Schema = RESIDENT_ID,
    form: str = "DocumentUpload",
    errors: tuple[str, ...] = (),
) -> Schema:
    """The upload: a multipart form, not JSON (streamed and capped while it is read)."""
    found = operation(
        "POST",
        operation_id,
        DOCUMENTS,
        summary,
        ("201", "The document as stored", ref("Document")),
        parameters=[owner],
        errors=("NotFound", *errors, "TooLarge", "UnsupportedType", *UNSAFE_ERRORS),
    )
    found["requestBody"] = {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": ref(form),
                "encoding": {
                    "file": {"contentType": "image/jpeg, image/png, image/heic, image/heif, application/pdf"}
                },
            }
        },
    }
    return found


PATHS: dict[str, dict[str, Schema]] = {
    "/api/openapi.json": {
        "get": {
            "operationId": "openapi",
            "tags": ["meta"],
            "summary": "This document",
            "security": [],
            "responses": {"200": answer("The OpenAPI 3.1 document", {"type": "object"})},
        }
    },
    "/api/v1/me": {
        "get": operation("GET", "me", ACCOUNT, "The logged-in user", ("200", "Who I am", ref("Me")))
    },
    "/api/v1/residents": {
        "get": operation(
            "GET",
            "listResidents",
            RESIDENTS,
            "The residents of my care home (no query string: search with POST)",
            ("200", "Residents", ref("ResidentList")),
            errors=("Malformed",),
        ),
        "post": operation(
            "POST",
            "createResident",
            RESIDENTS,
            "Register a resident",
            ("201", "Created", ref("Resident")),
            body=ref("ResidentDetails"),
            errors=UNSAFE_ERRORS,
        ),
    },
    "/api/v1/residents/search": {
        "post": operation(
            "POST",
            "searchResidents",
            RESIDENTS,
            "Search my care home's residents by name or INS",
            ("200", "Matching residents", ref("ResidentList")),
            body=ref("ResidentSearch"),
            errors=UNSAFE_ERRORS,
        )
    },
    "/api/v1/residents/{resident_id}": {
        "get": operation(
            "GET",
            "viewResident",
            RESIDENTS,
            "One resident (read audited)",
            ("200", "The resident", ref("Resident")),
            parameters=[RESIDENT_ID],
            errors=("NotFound",),
        ),
        "put": operation(
            "PUT",
            "editResident",
            RESIDENTS,
            "Edit a resident (optimistic: the version read)",
            ("200", "The resident as saved", ref("Resident")),
            body=ref("ResidentEdit"),
            parameters=[RESIDENT_ID],
            errors=("NotFound", "Conflict", *UNSAFE_ERRORS),
        ),
    },
    "/api/v1/residents/{resident_id}/accesses": {
        "get": operation(
            "GET",
            "listResidentAccesses",
            RESIDENTS,
            "Who accessed a resident's record, newest first, 50 at a time (médecin coordonnateur only)",
            ("200", "One page of accesses", ref("RecordAccesses")),
            parameters=[
                RESIDENT_ID,
                query_parameter(
                    "older_than",
                    {"type": "integer", "minimum": 1},
                    "the older_than of the previous page: the next page starts after it",
                ),
            ],
            errors=("NotFound", "Invalid"),
        )
    },
    "/api/v1/residents/{resident_id}/documents": {
        "get": operation(
            "GET",
            "listDocuments",
            DOCUMENTS,
            "A resident's documents, newest first (read audited)",
            ("200", "Documents", ref("DocumentList")),
            parameters=[RESIDENT_ID],
            errors=("NotFound",),
        ),
        "post": upload_operation(),
    },
    "/api/v1/residents/{resident_id}/documents/{document_id}": {"get": download_operation()},
    "/api/v1/slots": {
        "get": operation(
            "GET",
            "findSlots",
            SCHEDULING,
            "The next free slots for my care home, earliest first, across its conventions",
            ("200", "Free slots", ref("SlotList")),
            parameters=[
                query_parameter("specialty", ref("Specialty"), "only this specialty"),
                query_parameter("after", INSTANT, "only slots starting at or after this instant"),
                query_parameter("expert_id", UUID_, "only this expert's slots"),
                query_parameter(
                    "limit", {"type": "integer", "minimum": 1, "maximum": 50, "default": 12}, "at most"
                ),
            ],
            errors=("Invalid",),
        )
    },
    "/api/v1/specialties": {
        "get": operation(
            "GET",
            "listSpecialties",
            SCHEDULING,
            "The specialties my care home can ask for",
            ("200", "Specialties", ref("SpecialtyList")),
        )
    },
    "/api/v1/appointments": {
        "get": operation(
            "GET",
            "listAppointments",
            SCHEDULING,
            "My care home's appointments for 30 days from today, cancelled ones included",
            ("200", "Appointments", ref("AppointmentList")),
        ),
        "post": {
            **operation(
                "POST",
                "bookAppointment",
                SCHEDULING,
                "Book a slot for a resident (qualification, consent, physician's agreement)",
                ("201", "Booked", ref("Appointment")),
                body=ref("BookingRequest"),
                errors=("NotFound", "SlotTaken", *UNSAFE_ERRORS),
            ),
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": TEXT | {"maxLength": 64},
                    "description": "a retry with the same key answers 200 with the first booking",
                }
            ],
        },
    },
    "/api/v1/appointments/{appointment_id}": {
        "get": operation(
            "GET",
            "viewAppointment",
            SCHEDULING,
            "One appointment (read audited)",
            ("200", "The appointment", ref("Appointment")),
            parameters=[APPOINTMENT_ID],
            errors=("NotFound",),
        )
    },
    "/api/v1/appointments/{appointment_id}/cancel": {
        "post": operation(
            "POST",
            "cancelAppointment",
            SCHEDULING,
            "Cancel, saying why (either side)",
            ONE_APPOINTMENT,
            body=ref("CancelRequest"),
            parameters=[APPOINTMENT_ID],
            errors=("NotFound", "Conflict", *UNSAFE_ERRORS),
        )
    },
    "/api/v1/appointments/{appointment_id}/reschedule": {
        "post": operation(
            "POST",
            "rescheduleAppointment",
            SCHEDULING,
            "Move to another slot, atomically (the old one is cancelled)",
            ("201", "The new appointment", ref("Appointment")),
            body=ref("RescheduleRequest"),
            parameters=[APPOINTMENT_ID],
            errors=("NotFound", "SlotTaken", *UNSAFE_ERRORS),
        )
    },
    "/api/v1/appointments/{appointment_id}/no-show": {
        "post": operation(
            "POST",
            "markNoShow",
            SCHEDULING,
            "Mark missed, once it has started",
            ONE_APPOINTMENT,
            body={"type": "object"},
            parameters=[APPOINTMENT_ID],
            errors=("NotFound", "Conflict", *UNSAFE_ERRORS),
        )
    },
    "/api/v1/appointments/{appointment_id}/checklist/{item}": {
        "put": operation(
            "PUT",
            "setChecklistItem",
            SCHEDULING,
            "Tick or untick one item of the preparation checklist",
            ONE_APPOINTMENT,
            body=ref("ChecklistUpdate"),
            parameters=[
                APPOINTMENT_ID,
                {"name": "item", "in": "path", "required": True, "schema": ref("ChecklistItem")},
            ],
            errors=("NotFound", "Conflict", *UNSAFE_ERRORS),
        )
    },
    "/api/v1/appointments/{appointment_id}/documents": {
        "get": operation(
            "GET",
            "listAppointmentDocuments",
            DOCUMENTS,
            "An appointment's preparation documents, newest first, for either side (read audited)",
            ("200", "Documents", ref("DocumentList")),
            parameters=[APPOINTMENT_ID],
            errors=("NotFound",),
        ),
        "post": upload_operation(
            "uploadAppointmentDocument",
            "The care home attaches a photo or a PDF to a booked appointment (ticks photos, and DLU)",
            APPOINTMENT_ID,
            "AppointmentDocumentUpload",
            ("Conflict",),
        ),
    },
    "/api/v1/appointments/{appointment_id}/documents/{document_id}": {
        "get": download_operation(
            "downloadAppointmentDocument",
            "Download one of an appointment's documents, whole or one byte range of it (read audited)",
            APPOINTMENT_ID,
        )
    },
    "/api/v1/expertise/{expertise_id}/documents": {
        "get": operation(
            "GET",
            "listExpertiseDocuments",
            DOCUMENTS,
            "A tele-expertise request's photos and documents, newest first, for those who may read it "
            "(read audited)",
            ("200", "Documents", ref("DocumentList")),
            parameters=[EXPERTISE_ID],
            errors=("NotFound",),
        ),
        "post": upload_operation(
            "uploadExpertiseDocument",
            "The care home attaches a photo or a PDF to its open tele-expertise request",
            EXPERTISE_ID,
            errors=("Conflict",),
        ),
    },
    "/api/v1/expertise/{expertise_id}/documents/{document_id}": {
        "get": download_operation(
            "downloadExpertiseDocument",
            "Download one of a tele-expertise request's documents, whole or one byte range (read audited)",
            EXPERTISE_ID,
        )
    },
    "/api/v1/experts/{expert_id}/agenda": {
        "get": operation(
            "GET",
            "expertAgenda",
            SCHEDULING,
            "An expert's appointments (read audited)",
            ("200", "Appointments", ref("AppointmentList")),
            parameters=[
                EXPERT_ID,
                query_parameter("from", DATE, "first day (Paris); default today"),
                query_parameter(
                    "days", {"type": "integer", "minimum": 1, "maximum": 62, "default": 7}, "how many days"
                ),
            ],
            errors=("NotFound", "Invalid"),
        )
    },
    "/api/v1/experts/{expert_id}/availability": {
        "get": operation(
            "GET",
            "expertAvailability",
            AVAILABILITY,
            "An expert's current and future windows and leave",
            ("200", "Availability", ref("Availability")),
            parameters=[EXPERT_ID],
            errors=("NotFound",),
        )
    },
    "/api/v1/experts/{expert_id}/windows": {
        "post": operation(
            "POST",
            "publishWindow",
            AVAILABILITY,
            "Publish a weekly window (Paris wall clock)",
            ("201", "The window", ref("Window")),
            body=ref("WindowRequest"),
            parameters=[EXPERT_ID],
            errors=("NotFound", *UNSAFE_ERRORS),
        )
    },
    "/api/v1/experts/{expert_id}/leaves": {
        "post": operation(
            "POST",
            "addLeave",
            AVAILABILITY,
            "Add leave: no slot is offered during it",
            ("201", "The leave", ref("Leave")),
            body=ref("LeaveRequest"),
            parameters=[EXPERT_ID],
            errors=("NotFound", *UNSAFE_ERRORS),
        )
    },
    "/api/v1/experts/{expert_id}/team-windows/{team_window_id}": {
        "post": operation(
            "POST",
            "applyTeamWindow",
            AVAILABILITY,
            "Give an expert a copy of one of their team's windows (an expert who joined the team after it "
            "was published; the hospital's secretariat only)",
            ("201", "The expert's copy", ref("Window")),
            parameters=[EXPERT_ID, path_parameter("team_window_id")],
            errors=("NotFound", *UNSAFE_ERRORS),
        )
    },
    "/api/v1/windows/{window_id}": {
        "delete": operation(
            "DELETE",
            "removeWindow",
            AVAILABILITY,
            "Remove a window (booked appointments stay); with team=true, every expert's copy of a team's "
            "window",
            ("204", "Removed", None),
            parameters=[
                path_parameter("window_id"),
                query_parameter("team", {"type": "boolean", "default": False}, "the whole team's window"),
            ],
            errors=("NotFound", "Invalid"),
        )
    },
    "/api/v1/leaves/{leave_id}": {
        "delete": operation(
            "DELETE",
            "removeLeave",
            AVAILABILITY,
            "Remove leave",
            ("204", "Removed", None),
            parameters=[path_parameter("leave_id")],
            errors=("NotFound",),
        )
    },
    "/api/v1/expertise": {
        "get": operation(
            "GET",
            "listExpertiseRequests",
            EXPERTISE,
            "My care home's tele-expertise requests, newest first, with what is new since I last looked",
            ("200", "Requests", ref("ExpertiseList")),
        ),
        "post": operation(
            "POST",
            "submitExpertise",
            EXPERTISE,
            "Send a tele-expertise request about a resident to a specialty's queue",
            ("201", "Submitted", ref("ExpertiseRequest")),
            body=ref("ExpertiseSubmission"),
            errors=("NotFound", *UNSAFE_ERRORS),
        ),
    },
    "/api/v1/expertise/queue": {
        "get": operation(
            "GET",
            "expertiseQueue",
            EXPERTISE,
            "My expert queue: requests waiting in my specialties, those I took on, the last I answered",
            ("200", "The queue", ref("ExpertiseQueue")),
        )
    },
    "/api/v1/expertise/{expertise_id}": {
        "get": operation(
            "GET",
            "viewExpertise",
            EXPERTISE,
            "One tele-expertise request (read audited)",
            ("200", "The request", ref("ExpertiseRequest")),
            parameters=[EXPERTISE_ID],
            errors=("NotFound",),
        )
    },
    "/api/v1/expertise/{expertise_id}/claim": {
        "post": operation(
            "POST",
            "claimExpertise",
            EXPERTISE,
            "Take a waiting request on, committing to answer by a deadline (one expert wins a race)",
            ONE_EXPERTISE,
            body=ref("ClaimRequest"),
            parameters=[EXPERTISE_ID],
            errors=("NotFound", "ExpertiseConflict", *UNSAFE_ERRORS),
        )
    },
    "/api/v1/expertise/{expertise_id}/answer": {
        "post": operation(
            "POST",
            "answerExpertise",
            EXPERTISE,
            "Answer a request I took on, with a structured outcome and a text",
            ONE_EXPERTISE,
            body=ref("AnswerRequest"),
            parameters=[EXPERTISE_ID],
            errors=("NotFound", "ExpertiseConflict", *UNSAFE_ERRORS),
        )
    },
    "/api/v1/expertise/{expertise_id}/withdraw": {
        "post": operation(
            "POST",
            "withdrawExpertise",
            EXPERTISE,
            "Take back a request that is still open (no body is read)",
            ONE_EXPERTISE,
            parameters=[EXPERTISE_ID],
            errors=("NotFound", "ExpertiseConflict"),
        )
    },
    "/api/v1/expertise/{expertise_id}/slots": {
        "get": operation(
            "GET",
            "expertiseSlots",
            EXPERTISE,
            "My next free slots a request I took on could be converted into (at most 8)",
            ("200", "Free slots", ref("SlotList")),
            parameters=[EXPERTISE_ID],
            errors=("NotFound",),
        )
    },
    "/api/v1/expertise/{expertise_id}/pdf": {"get": expertise_pdf_operation()},
    "/api/v1/expertise/{expertise_id}/convert": {
        "post": operation(
            "POST",
            "convertExpertise",
            EXPERTISE,
            "Turn a request I took on into a teleconsultation in one of my free slots",
            ("200", "The request, converted, with its appointment_id", ref("ExpertiseRequest")),
            body=ref("ConvertRequest"),
            parameters=[EXPERTISE_ID],
            errors=("NotFound", "SlotTaken", *UNSAFE_ERRORS),
        )
    },
    "/api/v1/notifications": {
        "get": operation(
            "GET",
            "listNotifications",
            NOTIFICATIONS,
            "My latest notifications about appointments, newest first, with the unread count",
            ("200", "Notifications", ref("NotificationList")),
        )
    },
    "/api/v1/notifications/{notification_id}/read": {
        "post": operation(
            "POST",
            "markNotificationRead",
            NOTIFICATIONS,
            "Mark one of my notifications read (again is harmless; no body is read)",
            ("204", "Marked read", None),
            parameters=[path_parameter("notification_id")],
            errors=("NotFound",),
        )
    },
}


# ------------------------------------------------------------------------------------ comptes-rendus

REPORTS = "reports"
OUTCOME = enum(
    "advice", "treatment_change", "direct_admission", "second_consultation", "emergency_referral", "other"
)
REPORT_FIELDS: dict[str, Schema] = {
    "outcome": nullable(OUTCOME),
    "findings": TEXT | {"description": "observations and conclusion (sealed)"},
    "prescriptions": TEXT | {"description": "advice on prescriptions (sealed)"},
    "participants": TEXT,
    "admission_department": TEXT | {"description": "for a direct admission"},
    "admission_on": nullable(DATE),
    "follow_up_on": nullable(DATE),
}
SCHEMAS.update(
    {
        "ReportInput": obj(
            ["version"],
            version={
                "type": "integer",
                "minimum": 0,
                "description": "the version last read; 0 before the first save",
            },
            **REPORT_FIELDS,
        ),
        "Report": {
            "oneOf": [
                obj(["status", "version"], status={"const": "none"}, version={"const": 0}),
                obj(
                    ["id", "appointment_id", "status", "version", "updated_at", "addenda"],
                    id=UUID_,
                    appointment_id=UUID_,
                    status=enum("draft", "final"),
                    version={"type": "integer", "minimum": 1},
                    updated_at=INSTANT,
                    finalised_at=nullable(INSTANT),
                    addenda={"type": "array", "items": ref("Addendum")},
                    **REPORT_FIELDS,
                ),
            ]
        },
        "AddendumInput": obj(["text"], text=TEXT),
        "Addendum": obj(
            ["id", "created_at", "text"], id=UUID_, author_id=UUID_, created_at=INSTANT, text=TEXT
        ),
    }
)
ONE_REPORT = ("200", "The report as it now is", ref("Report"))
PATHS.update(
    {
        "/api/v1/appointments/{appointment_id}/report": {
            "get": operation(
                "GET",
                "readReport",
                REPORTS,
                "The appointment's compte-rendu (read audited)",
                ONE_REPORT,
                parameters=[APPOINTMENT_ID],
                errors=("NotFound",),
            ),
            "put": operation(
                "PUT",
                "saveReportDraft",
                REPORTS,
                "Save the draft (autosave); 409 when final (add an addendum) or changed elsewhere",
                ONE_REPORT,
                body=ref("ReportInput"),
                parameters=[APPOINTMENT_ID],
                errors=("NotFound", "Conflict", *UNSAFE_ERRORS),
            ),
        },
        "/api/v1/appointments/{appointment_id}/report/finalise": {
            "post": operation(
                "POST",
                "finaliseReport",
                REPORTS,
                "Finalise: 422 lists every missing field; then immutable, the PDF is made",
                ONE_REPORT,
                body=ref("ReportInput"),
                parameters=[APPOINTMENT_ID],
                errors=("NotFound", "Conflict", *UNSAFE_ERRORS),
            )
        },
        "/api/v1/appointments/{appointment_id}/report/addenda": {
            "post": operation(
                "POST",
                "addReportAddendum",
                REPORTS,
                "Correct or complete a final report (own audit event; a new PDF is made)",
                ("201", "The addendum", ref("Addendum")),
                body=ref("AddendumInput"),
                parameters=[APPOINTMENT_ID],
                errors=("NotFound", "Conflict", *UNSAFE_ERRORS),
            )
        },
    }
)

DOCUMENT: Schema = {
    "openapi": "3.1.0",
    "info": {
        "title": "teleconsult JSON API",
        "version": "1",
        "description": (
            "Teleconsultations between care homes (EHPAD) and hospital geriatricians. Log in through the "
            "/login form to get the session cookie; send the X-CSRF-Token header (the token of any page's "
            "forms) with every unsafe method. Instants are ISO 8601 with an offset: answers give UTC and "
            "the Paris wall-clock time side by side. Errors are JSON {error, message[, fields]} with the "
            "message in the user's language."
        ),
    },
    "servers": [{"url": "/"}],
    "security": [{"session": []}],
    "tags": [
        {"name": name}
        for name in (
            "meta",
            ACCOUNT,
            RESIDENTS,
            DOCUMENTS,
            SCHEDULING,
            AVAILABILITY,
            EXPERTISE,
            NOTIFICATIONS,
            REPORTS,
        )
    ],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
            "csrf": {"type": "apiKey", "in": "header", "name": CSRF_HEADER},
        },
        "schemas": SCHEMAS,
        "responses": RESPONSES,
    },
}


# ------------------------------------------------------------------------- call recordings (ADR 0016)

RECORDING_ID = path_parameter("recording_id")
RECORDINGS = "recordings"
ERROR_STATUS["Unavailable"] = "503"
RESPONSES["Unavailable"] = answer(
    "recording.unavailable: the recorder cannot run on this server now", ref("Error")
)
SCHEMAS["RecordingOffer"] = obj(["sdp"], sdp=TEXT | {"description": "the browser's SDP offer (send-only)"})
SCHEMAS["RecordingAnswer"] = obj(
    ["recording_id", "sdp", "type"],
    recording_id=UUID_,
    sdp=TEXT | {"description": "the recorder's SDP answer (receive-only, VP8 and Opus)"},
    type=enum("answer"),
)
SCHEMAS["Recording"] = obj(
    ["id", "participant_id", "started_at", "ended_at", "duration_ms", "byte_length", "playable", "play_url"],
    id=UUID_,
    participant_id=UUID_ | {"description": "whose camera and microphone"},
    started_at=INSTANT,
    ended_at=nullable(INSTANT),
    duration_ms=nullable({"type": "integer"}),
    byte_length=nullable({"type": "integer"}),
    playable={"type": "boolean"},
    play_url=nullable(TEXT),
)
SCHEMAS["RecordingList"] = obj(["recordings"], recordings={"type": "array", "items": ref("Recording")})
_PLAY = download_operation(
    "playRecording",
    "Play a recording back (WebM), whole or one byte range of it, decrypted as it is sent (read audited)",
    APPOINTMENT_ID,
)
_PLAY["tags"] = [RECORDINGS]
_PLAY["parameters"] = [APPOINTMENT_ID, RECORDING_ID, _PLAY["parameters"][2]]
PATHS.update(
    {
        "/api/v1/appointments/{appointment_id}/recording/offer": {
            "post": operation(
                "POST",
                "offerRecording",
                RECORDINGS,
                "A participant's browser offers its tracks to the server's receive-only recorder (only with "
                "the appointment's consent to record, once in the call; audited)",
                ("200", "The recorder's answer", ref("RecordingAnswer")),
                body=ref("RecordingOffer"),
                parameters=[APPOINTMENT_ID],
                errors=("NotFound", "Conflict", "Unavailable", *UNSAFE_ERRORS),
            )
        },
        "/api/v1/appointments/{appointment_id}/recording/stop": {
            "post": operation(
                "POST",
                "stopRecording",
                RECORDINGS,
                "The participant hangs up: their recorder leg stops and its file is finished",
                ("200", "Stopped", obj(["stopped"], stopped={"type": "boolean"})),
                body=obj(["recording_id"], recording_id=UUID_),
                parameters=[APPOINTMENT_ID],
                errors=("NotFound", *UNSAFE_ERRORS),
            )
        },
        "/api/v1/appointments/{appointment_id}/recordings": {
            "get": operation(
                "GET",
                "listRecordings",
                RECORDINGS,
                "An appointment's recordings, for the booked expert and the care home's médecin "
                "coordonnateur (audited)",
                ("200", "Recordings, oldest first", ref("RecordingList")),
                parameters=[APPOINTMENT_ID],
                errors=("NotFound",),
            )
        },
        "/api/v1/appointments/{appointment_id}/recordings/{recording_id}": {"get": _PLAY},
    }
)
DOCUMENT["tags"].append({"name": RECORDINGS})


# ---------------------------------------------------------------------------------- call journal (issue 6)

CALL_JOURNAL = "call journal"
_KBPS = {"type": "integer", "minimum": 0}
SCHEMAS["CallJournalEvent"] = obj(
    ["at", "kind", "detail", "incident", "participant", "bitrate_kbps", "packet_loss_pct", "rtt_ms"],
    at=INSTANT,
    kind=enum("join", "reconnect", "leave", "ice_state", "quality", "end"),
    detail=nullable(TEXT) | {"description": "the ICE state, the leave's or the end's reason"},
    incident={"type": "boolean", "description": "a technical incident (counted by activity)"},
    participant=nullable(TEXT)
    | {"description": "the staff member's display name; null for a guest or the end"},
    bitrate_kbps=nullable(_KBPS),
    packet_loss_pct=nullable({"type": "number", "minimum": 0, "maximum": 100}),
    rtt_ms=nullable(_KBPS),
)
SCHEMAS["CallJournal"] = obj(
    ["summary", "events"],
    summary=obj(
        [
            "started_at",
            "ended_at",
            "duration_seconds",
            "reconnections",
            "incidents",
            "mean_bitrate_kbps",
            "worst_packet_loss_pct",
            "median_rtt_ms",
            "end_reason",
        ],
        started_at=nullable(INSTANT),
        ended_at=nullable(INSTANT),
        duration_seconds=nullable({"type": "integer"}),
        reconnections={"type": "integer"},
        incidents={"type": "integer"},
        mean_bitrate_kbps=nullable(_KBPS),
        worst_packet_loss_pct=nullable({"type": "number"}),
        median_rtt_ms=nullable(_KBPS),
        end_reason=nullable(enum("normal", "ice_failed", "timeout", "removed")),
    ),
    events={"type": "array", "items": ref("CallJournalEvent")},
)
PATHS["/api/v1/appointments/{appointment_id}/call-journal"] = {
    "get": operation(
        "GET",
        "callJournal",
        CALL_JOURNAL,
        "The session journal of the appointment's call (joins, leaves, reconnections, network states, "
        "quality summaries, end): ids and measurements only, for whoever may read the appointment (audited)",
        ("200", "The journal, oldest event first, and its summary", ref("CallJournal")),
        parameters=[APPOINTMENT_ID],
        errors=("NotFound",),
    )
}
DOCUMENT["tags"].append({"name": CALL_JOURNAL})


@routes.get("/api/openapi.json", name="api.openapi", action=Action.PUBLIC)
async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)
