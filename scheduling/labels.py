"""Display labels (English msgids, translated when rendered) of scheduling's vocabulary."""

from __future__ import annotations

from scheduling.model import (
    AppointmentStatus,
    Attendee,
    CancelledBy,
    ChecklistItem,
    ConsentGiver,
    ConsentMethod,
    Readiness,
    Reason,
    Urgency,
)
from teleconsult.i18n import N_

REASON_LABELS: dict[str, str] = {
    Reason.AVIS_GERIATRIQUE: N_("Geriatric opinion"),
    Reason.TROUBLES_COMPORTEMENT: N_("Behavioural disorders"),
    Reason.SITUATION_URGENTE: N_("Urgent situation"),
    Reason.PLAIE: N_("Wound or healing"),
    Reason.DOULEUR: N_("Pain"),
    Reason.DENUTRITION: N_("Undernutrition"),
    Reason.MEDICAMENTS: N_("Medication review"),
    Reason.CHUTES: N_("Falls"),
    Reason.DECISION_ETHIQUE: N_("Ethical decision"),
    Reason.AUTRE: N_("Other reason"),
}

URGENCY_LABELS: dict[str, str] = {
    Urgency.PROGRAMMEE: N_("Planned"),
    Urgency.SEMI_URGENTE: N_("Semi-urgent"),
}

ATTENDEE_LABELS: dict[str, str] = {
    Attendee.IDE: N_("A nurse (IDE)"),
    Attendee.IDEC: N_("The coordinating nurse (IDEC)"),
    Attendee.MEDECIN_CO: N_("The coordinating physician"),
    Attendee.FAMILY: N_("Family"),
    Attendee.TREATING_PHYSICIAN: N_("The treating physician"),
}

CONSENT_GIVER_LABELS: dict[str, str] = {
    ConsentGiver.RESIDENT: N_("The resident"),
    ConsentGiver.FAMILY: N_("A family member"),
    ConsentGiver.LEGAL_REPRESENTATIVE: N_("The legal representative"),
    ConsentGiver.TRUSTED_PERSON: N_("The trusted person (personne de confiance)"),
}

CONSENT_METHOD_LABELS: dict[str, str] = {
    ConsentMethod.ORAL: N_("Orally"),
    ConsentMethod.WRITTEN: N_("In writing"),
}

APPOINTMENT_STATUS_LABELS: dict[str, str] = {
    AppointmentStatus.BOOKED: N_("Booked"),
    AppointmentStatus.CANCELLED: N_("Cancelled"),
    AppointmentStatus.NO_SHOW: N_("Missed"),
    AppointmentStatus.DONE: N_("Held"),
}

CANCELLED_BY_LABELS: dict[str, str] = {
    CancelledBy.CARE_HOME: N_("by the care home"),
    CancelledBy.HOSPITAL: N_("by the hospital"),
}

CHECKLIST_LABELS: dict[str, str] = {
    ChecklistItem.CONSTANTES: N_("Vital signs taken"),
    ChecklistItem.TRAITEMENT: N_("Current treatment at hand"),
    ChecklistItem.DLU: N_("Emergency liaison file (DLU) up to date"),
    ChecklistItem.PHOTOS: N_("Useful photos and documents attached"),
    ChecklistItem.CONSENTEMENT: N_("Consent explained to the resident or family"),
    ChecklistItem.TEST_CONNEXION: N_("Connection test done on the tablet"),
}

READINESS_LABELS: dict[str, str] = {
    Readiness.READY: N_("Ready"),
    Readiness.INCOMPLETE: N_("Preparation under way"),
    Readiness.NOT_STARTED: N_("Not prepared yet"),
}

WEEKDAY_LABELS: dict[int, str] = {
    0: N_("Monday"),
    1: N_("Tuesday"),
    2: N_("Wednesday"),
    3: N_("Thursday"),
    4: N_("Friday"),
    5: N_("Saturday"),
    6: N_("Sunday"),
}

TEMPLATE_GLOBALS = {
    "reason_labels": REASON_LABELS,
    "urgency_labels": URGENCY_LABELS,
    "attendee_labels": ATTENDEE_LABELS,
    "consent_giver_labels": CONSENT_GIVER_LABELS,
    "consent_method_labels": CONSENT_METHOD_LABELS,
    "appointment_status_labels": APPOINTMENT_STATUS_LABELS,
    "cancelled_by_labels": CANCELLED_BY_LABELS,
    "checklist_labels": CHECKLIST_LABELS,
    "readiness_labels": READINESS_LABELS,
    "weekday_labels": WEEKDAY_LABELS,
}
