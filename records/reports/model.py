"""The domain of comptes-rendus: the expert's structured report after a teleconsultation or a tele-expertise
answer, its finalisation (then immutable), addenda, and the billing hint. Pure Python: no I/O; ``today``
and ``now`` are parameters.

    (none) --save--> draft --save--> draft --finalise--> final --addendum--> final (+ addendum)

A draft may be incomplete; finalising checks everything at once and names every missing field (422). A
final report is never edited: a correction is an addendum, with its own author, time and audit event (409
otherwise, proposing the addendum).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from teleconsult.errors import Conflict, InvalidInput
from teleconsult.i18n import N_

MAX_TEXT = 8000
MAX_SHORT = 200
MAX_ADDENDUM = 4000


class ReportStatus(StrEnum):
    DRAFT = "draft"
    FINAL = "final"


class ReportKind(StrEnum):
    TELECONSULTATION = "teleconsultation"
    EXPERTISE = "expertise"


class Outcome(StrEnum):
    """The structured outcome of a report (a category, kept in clear for aggregates; see ADR 0014)."""

    ADVICE = "advice"  # avis et conseils
    TREATMENT_CHANGE = "treatment_change"  # modification thérapeutique
    DIRECT_ADMISSION = "direct_admission"  # hospitalisation directe programmée
    SECOND_CONSULTATION = "second_consultation"  # consultation physique de seconde intention
    EMERGENCY_REFERRAL = "emergency_referral"  # orientation vers les urgences
    OTHER = "other"  # autre


# ----------------------------------------------------------------------------------------------- errors


class ReportFinalised(Conflict):
    code = "report_finalised"
    message = N_(
        "This report is final and can no longer be edited. Add an addendum to correct or complete it."
    )


class StaleReport(Conflict):
    code = "stale_report"
    message = N_(
        "This report was changed elsewhere in the meantime. Reload the page to see the latest version."
    )


class NotFinalised(Conflict):
    code = "report_not_final"
    message = N_("An addendum can only be added to a final report.")


# ---------------------------------------------------------------------------------------------- content


@dataclass(frozen=True, slots=True)
class ReportContent:
    """What the expert writes: all of it is sealed, except the outcome category."""

    outcome: Outcome | None = None
    findings: str = ""  # observations and conclusion
    prescriptions: str = ""  # advice on prescriptions
    participants: str = ""  # who was there, beyond the booked attendees
    admission_department: str = ""  # for a direct admission
    admission_on: date | None = None
    follow_up_on: date | None = None

    def sealed_fields(self) -> dict[str, str]:
        """The free fields as strings, for the sealed JSON body (the outcome stays in its column)."""
        return {
            "findings": self.findings,
            "prescriptions": self.prescriptions,
            "participants": self.participants,
            "admission_department": self.admission_department,
            "admission_on": self.admission_on.isoformat() if self.admission_on else "",
            "follow_up_on": self.follow_up_on.isoformat() if self.follow_up_on else "",
        }

    @classmethod
    def from_sealed(cls, outcome: Outcome | None, fields: dict[str, str]) -> ReportContent:
        def day(name: str) -> date | None:
            value = fields.get(name, "")
            return date.fromisoformat(value) if value else None

        return cls(
            outcome=outcome,
            findings=fields.get("findings", ""),
            prescriptions=fields.get("prescriptions", ""),
            participants=fields.get("participants", ""),
            admission_department=fields.get("admission_department", ""),
            admission_on=day("admission_on"),
            follow_up_on=day("follow_up_on"),
        )


@dataclass(frozen=True, slots=True)
class Addendum:
    id: UUID
    author_id: UUID
    created_at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class Report:
    id: UUID
    kind: ReportKind
    subject_id: UUID  # the appointment or the tele-expertise request
    resident_id: UUID
    ehpad_id: UUID
    specialty: str
    author_id: UUID
    status: ReportStatus
    content: ReportContent
    created_at: datetime
    updated_at: datetime
    finalised_at: datetime | None
    version: int
    addenda: tuple[Addendum, ...] = field(default=())

    @property
    def is_final(self) -> bool:
        return self.status is ReportStatus.FINAL


# ---------------------------------------------------------------------------------------------- rules


def _text_problem(value: str, limit: int) -> str | None:
    if len(value) > limit:
        return N_("This text is too long.")
    if any(ord(char) < 32 and char not in "\n\r\t" for char in value):
        return N_("This text contains characters that are not allowed.")
    return None


def check_draft(content: ReportContent) -> None:
    """What even a draft must respect: lengths and characters (a draft may be incomplete)."""
    fields: dict[str, str] = {}
    for name, limit in (
        ("findings", MAX_TEXT),
        ("prescriptions", MAX_TEXT),
        ("participants", MAX_SHORT),
        ("admission_department", MAX_SHORT),
    ):
        if problem := _text_problem(getattr(content, name), limit):
            fields[name] = problem
    if fields:
        raise InvalidInput(fields)


def missing_for_finalisation(content: ReportContent, today: date) -> dict[str, str]:
    """Every field that stops the report from being finalised, each with its message (empty: complete)."""
    fields: dict[str, str] = {}
    if content.outcome is None:
        fields["outcome"] = N_("Choose the outcome of the consultation.")
    if not content.findings.strip():
        fields["findings"] = N_("Write your observations and conclusion.")
    if content.outcome is Outcome.TREATMENT_CHANGE and not content.prescriptions.strip():
        fields["prescriptions"] = N_("Say which treatment changes you advise.")
    if content.outcome is Outcome.DIRECT_ADMISSION:
        if not content.admission_department.strip():
            fields["admission_department"] = N_("Give the department that will admit the resident.")
        if content.admission_on is None:
            fields["admission_on"] = N_("Give the planned admission date.")
        elif content.admission_on < today:
            fields["admission_on"] = N_("The admission date cannot be in the past.")
    if content.follow_up_on is not None and content.follow_up_on < today:
        fields["follow_up_on"] = N_("The follow-up date cannot be in the past.")
    return fields


def saved(report: Report, content: ReportContent, expected_version: int, now: datetime) -> Report:
    """The draft with new content; refused once final (409, addendum) or if someone saved in between."""
    if report.is_final:
        raise ReportFinalised()
    if expected_version != report.version:
        raise StaleReport()
    check_draft(content)
    return replace(report, content=content, updated_at=now, version=report.version + 1)


def finalised(
    report: Report, content: ReportContent, expected_version: int, now: datetime, today: date
) -> Report:
    """The final report: complete (422 naming every missing field), then immutable."""
    if report.is_final:
        raise ReportFinalised()
    if expected_version != report.version:
        raise StaleReport()
    check_draft(content)
    if missing := missing_for_finalisation(content, today):
        raise InvalidInput(missing, N_("The report cannot be finalised yet: complete the fields below."))
    return replace(
        report,
        content=content,
        status=ReportStatus.FINAL,
        finalised_at=now,
        updated_at=now,
        version=report.version + 1,
    )


def check_addendum(report: Report, text: str) -> None:
    if not report.is_final:
        raise NotFinalised()
    if not text.strip():
        raise InvalidInput({"text": N_("Write the correction or complement to add.")})
    if problem := _text_problem(text, MAX_ADDENDUM):
        raise InvalidInput({"text": problem})


# ------------------------------------------------------------------------------------------ billing hint


@dataclass(frozen=True, slots=True)
class BillingHint:
    """The acts the hospital may bill for this report: information for its billing office, nothing is sent."""

    codes: tuple[str, ...]
    explanation: str  # msgid


def billing_hint(kind: ReportKind) -> BillingHint:
    """Act codes per DOMAIN.md: teleconsultation TC (specialist; TCG for a general practitioner), the
    accompanying nurse's TLL/TLD only when she is a self-employed nurse; tele-expertise RQD (the requesting
    professional) and TE2 (the expert's opinion)."""
    if kind is ReportKind.TELECONSULTATION:
        return BillingHint(
            ("TC", "TCG", "TLL", "TLD"),
            N_(
                "Teleconsultation: TC for a specialist (TCG for a general practitioner). TLL or TLD only for "
                "an accompanying self-employed nurse, not for the care home's salaried staff."
            ),
        )
    return BillingHint(
        ("RQD", "TE2"),
        N_("Tele-expertise: TE2 for the expert's opinion; RQD for the professional who asked."),
    )
