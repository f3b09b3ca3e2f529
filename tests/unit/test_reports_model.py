"""Comptes-rendus: what a draft accepts, what finalising demands, immutability, addenda, billing hints."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from records.reports.model import (
    NotFinalised,
    Outcome,
    Report,
    ReportContent,
    ReportFinalised,
    ReportKind,
    ReportStatus,
    StaleReport,
    billing_hint,
    check_addendum,
    finalised,
    missing_for_finalisation,
    saved,
)
from teleconsult.errors import InvalidInput

NOW = datetime(2027, 1, 12, 15, 30, tzinfo=UTC)
TODAY = date(2027, 1, 12)


def draft(**content: object) -> Report:
    return Report(
        id=uuid.uuid4(),
        kind=ReportKind.TELECONSULTATION,
        subject_id=uuid.uuid4(),
        resident_id=uuid.uuid4(),
        ehpad_id=uuid.uuid4(),
        specialty="geriatrie",
        author_id=uuid.uuid4(),
        status=ReportStatus.DRAFT,
        content=ReportContent(**content),  # type: ignore[arg-type]
        created_at=NOW,
        updated_at=NOW,
        finalised_at=None,
        version=1,
    )


COMPLETE = ReportContent(outcome=Outcome.ADVICE, findings="Confusion aiguë sur infection urinaire probable.")


def test_an_empty_draft_names_every_missing_field() -> None:
    assert set(missing_for_finalisation(ReportContent(), TODAY)) == {"outcome", "findings"}


def test_a_direct_admission_needs_its_department_and_a_date_not_in_the_past() -> None:
    content = replace(COMPLETE, outcome=Outcome.DIRECT_ADMISSION)
    assert set(missing_for_finalisation(content, TODAY)) == {"admission_department", "admission_on"}
    content = replace(content, admission_department="Gériatrie aiguë", admission_on=date(2027, 1, 11))
    assert set(missing_for_finalisation(content, TODAY)) == {"admission_on"}
    assert missing_for_finalisation(replace(content, admission_on=TODAY), TODAY) == {}


def test_a_treatment_change_says_which_change() -> None:
    content = replace(COMPLETE, outcome=Outcome.TREATMENT_CHANGE)
    assert set(missing_for_finalisation(content, TODAY)) == {"prescriptions"}


def test_finalising_an_incomplete_report_lists_everything_missing_and_changes_nothing() -> None:
    report = draft()
    with pytest.raises(InvalidInput) as raised:
        finalised(report, ReportContent(follow_up_on=date(2026, 12, 1)), 1, NOW, TODAY)
    assert set(raised.value.fields) == {"outcome", "findings", "follow_up_on"}
    assert report.status is ReportStatus.DRAFT


def test_a_final_report_is_immutable_and_proposes_an_addendum() -> None:
    final = finalised(draft(), COMPLETE, 1, NOW, TODAY)
    assert final.status is ReportStatus.FINAL
    assert final.finalised_at == NOW
    assert final.version == 2
    with pytest.raises(ReportFinalised):
        saved(final, replace(COMPLETE, findings="autre chose"), final.version, NOW)
    with pytest.raises(ReportFinalised):
        finalised(final, COMPLETE, final.version, NOW, TODAY)
    check_addendum(final, "Erratum : posologie 500 mg, non 50 mg.")


def test_a_save_on_a_stale_version_is_refused() -> None:
    report = saved(draft(), COMPLETE, 1, NOW)
    assert report.version == 2
    with pytest.raises(StaleReport):
        saved(report, COMPLETE, 1, NOW)


def test_drafts_may_be_incomplete_but_not_too_long_or_with_control_characters() -> None:
    saved(draft(), ReportContent(findings="début"), 1, NOW)
    with pytest.raises(InvalidInput) as raised:
        saved(draft(), ReportContent(findings="x" * 8001, participants="a\x00b"), 1, NOW)
    assert set(raised.value.fields) == {"findings", "participants"}


def test_addenda_only_on_final_reports_and_not_empty() -> None:
    with pytest.raises(NotFinalised):
        check_addendum(draft(), "texte")
    final = finalised(draft(), COMPLETE, 1, NOW, TODAY)
    with pytest.raises(InvalidInput):
        check_addendum(final, "   ")


def test_sealed_fields_round_trip() -> None:
    content = ReportContent(
        outcome=Outcome.DIRECT_ADMISSION,
        findings="Chutes répétées",
        prescriptions="Arrêt du zolpidem",
        participants="Fille de la résidente",
        admission_department="Gériatrie aiguë",
        admission_on=date(2027, 1, 20),
        follow_up_on=date(2027, 3, 1),
    )
    assert ReportContent.from_sealed(content.outcome, content.sealed_fields()) == content
    assert "direct_admission" not in content.sealed_fields().values()


def test_billing_hints_follow_the_kind_of_act() -> None:
    assert billing_hint(ReportKind.TELECONSULTATION).codes[0] == "TC"
    assert "TLL" in billing_hint(ReportKind.TELECONSULTATION).codes
    assert billing_hint(ReportKind.EXPERTISE).codes == ("RQD", "TE2")


def test_a_machine_without_pango_gets_a_clear_503_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from teleconsult import pdf

    real_import = builtins.__import__

    def no_pango(name: str, *args: object, **kwargs: object) -> object:
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    pdf._weasyprint.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_pango)
    try:
        with pytest.raises(pdf.PdfUnavailable) as raised:
            pdf.render_pdf_sync("<p>x</p>")
    finally:
        monkeypatch.undo()
        pdf._weasyprint.cache_clear()
    assert raised.value.status == 503
