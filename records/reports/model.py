"""The domain of comptes-rendus: outcomes and report states. Pure Python."""

from __future__ import annotations

from enum import StrEnum


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
