"""Which of a tele-expertise request's documents is its compte-rendu: a PDF of its context stored once it
was answered; never a photo, nor a PDF the care home attached while the request was open."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from records.documents.model import Document, DocumentContext, StoredType
from records.reports.expertise_pdf import context_of, is_answer_pdf
from scheduling.expertise.model import (
    Answer,
    AnswerOutcome,
    ExpertiseRequest,
    ExpertiseStatus,
    ExpertiseUrgency,
    Level,
)
from scheduling.model import Consent, ConsentGiver, ConsentMethod, PhysicianAgreement, Reason
from teleconsult.identity.model import Role, Specialty

ASKED = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)
ANSWERED = ASKED + timedelta(hours=5)


def request(answered: bool = True) -> ExpertiseRequest:
    found = ExpertiseRequest(
        id=uuid.uuid4(),
        ehpad_id=uuid.uuid4(),
        resident_id=uuid.uuid4(),
        specialty=Specialty.GERIATRIE,
        level=Level.ONE,
        urgency=ExpertiseUrgency.NON_URGENT,
        reason=Reason.PLAIE,
        wished_deadline=ASKED + timedelta(days=1),
        question="?",
        context="",
        consent=Consent(ConsentGiver.RESIDENT, date(2026, 11, 23), ConsentMethod.ORAL),
        agreement=PhysicianAgreement(True),
        requested_by=uuid.uuid4(),
        requester_role=Role.IDE,
        requested_at=ASKED,
    )
    if not answered:
        return found
    answer = Answer(AnswerOutcome.AVIS_CONSEILS, "Avis", uuid.uuid4(), ANSWERED)
    return replace(found, status=ExpertiseStatus.ANSWERED, answer=answer)


def document(of: ExpertiseRequest, at: datetime, content_type: StoredType = StoredType.PDF) -> Document:
    return Document(
        id=uuid.uuid4(),
        resident_id=of.resident_id,
        ehpad_id=of.ehpad_id,
        title="Compte-rendu",
        file_name="compte-rendu.pdf",
        content_type=content_type,
        byte_length=1,
        sha256="0" * 64,
        blob_id=uuid.uuid4(),
        uploaded_by=uuid.uuid4(),
        uploaded_at=at,
        context=context_of(of.id),
    )


def test_a_pdf_under_the_answer_s_context_is_the_compte_rendu() -> None:
    r = request()
    assert is_answer_pdf(document(r, ANSWERED), r)
    assert is_answer_pdf(document(r, ANSWERED + timedelta(days=3)), r)


def test_the_care_homes_own_files_are_not_the_compte_rendu() -> None:
    r = request()
    sent_with_the_question = replace(document(r, ANSWERED), context=DocumentContext("expertise", r.id))
    assert not is_answer_pdf(sent_with_the_question, r)  # a PDF the care home sent, even after
    assert not is_answer_pdf(document(r, ANSWERED, StoredType.JPEG), r)


def test_no_compte_rendu_without_an_answer_or_for_another_request() -> None:
    open_request = request(answered=False)
    assert not is_answer_pdf(document(open_request, ANSWERED), open_request)
    r = request()
    elsewhere = replace(document(r, ANSWERED), context=DocumentContext("expertise", uuid.uuid4()))
    assert not is_answer_pdf(elsewhere, r)
