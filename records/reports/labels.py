"""Display labels (English msgids, translated when rendered) of the reports' vocabulary."""

from __future__ import annotations

from records.reports.model import Outcome, ReportStatus
from teleconsult.i18n import N_

OUTCOME_LABELS: dict[str, str] = {
    Outcome.ADVICE: N_("Opinion and advice"),
    Outcome.TREATMENT_CHANGE: N_("Treatment change"),
    Outcome.DIRECT_ADMISSION: N_("Planned direct hospital admission"),
    Outcome.SECOND_CONSULTATION: N_("Second, physical consultation"),
    Outcome.EMERGENCY_REFERRAL: N_("Referral to the emergency department"),
    Outcome.OTHER: N_("Other"),
}

REPORT_STATUS_LABELS: dict[str, str] = {
    ReportStatus.DRAFT: N_("Draft"),
    ReportStatus.FINAL: N_("Final"),
}

TEMPLATE_GLOBALS = {"outcome_labels": OUTCOME_LABELS, "report_status_labels": REPORT_STATUS_LABELS}
