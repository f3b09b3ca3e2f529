"""``teleconsult demo``: a finalised compte-rendu for every past held teleconsultation that has none, so
that the residents' timelines and the coordinators' outcome figures mean something at the first start.

The outcome mix follows the reference deployment's experience (DOMAIN.md: advice and treatment changes
mostly; direct admissions now and then; a second, physical consultation only 4-5 times in 200-300). Reports
are sealed through the reports' store, like real ones; their PDFs are rendered at the first download."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from records.reports.model import Outcome, Report, ReportContent, ReportKind, ReportStatus
from records.reports.store import ReportStore, reports
from records.residents import service as residents
from records.residents.fields import SealingKeys
from scheduling import service as scheduling
from scheduling.model import AppointmentStatus
from scheduling.store import activity_appointments
from teleconsult.db import UnitOfWork

SEED = 20261124
#: (outcome, weight in %, findings, advice on prescriptions)
OUTCOMES: tuple[tuple[Outcome, int, str, str], ...] = (
    (
        Outcome.ADVICE,
        45,
        "Examen à distance rassurant. Pas de signe de gravité. Conseils donnés à l'équipe soignante : "
        "surveillance de l'hydratation et de la courbe de poids.",
        "",
    ),
    (
        Outcome.TREATMENT_CHANGE,
        30,
        "Troubles du comportement vespéraux probablement favorisés par le traitement en cours. Réévaluation "
        "à un mois.",
        "Diminution progressive de la benzodiazépine sur 3 semaines ; arrêt de l'anticholinergique.",
    ),
    (
        Outcome.DIRECT_ADMISSION,
        12,
        "Altération de l'état général avec chutes répétées : bilan hospitalier nécessaire, sans passage "
        "par les urgences.",
        "",
    ),
    (
        Outcome.SECOND_CONSULTATION,
        3,
        "Plaie d'évolution défavorable : une consultation physique spécialisée est nécessaire.",
        "",
    ),
    (
        Outcome.EMERGENCY_REFERRAL,
        5,
        "Suspicion de fracture de hanche après chute : orientation vers les urgences.",
        "",
    ),
    (Outcome.OTHER, 5, "Situation discutée avec la famille ; décision éthique partagée consignée.", ""),
)


async def seed_demo_reports(new_uow: Callable[[], UnitOfWork], keys: SealingKeys, now: datetime) -> int:
    """Write the missing reports of past held appointments; returns how many were written."""
    query = activity_appointments()
    columns = query.selected_columns
    async with new_uow().reading() as uow:
        held = (
            await uow.session.execute(
                query.where(columns.status == AppointmentStatus.DONE.value).order_by(columns.starts_at)
            )
        ).all()
        reported = set((await uow.session.execute(select(reports.c.appointment_id))).scalars())
    todo = [row.id for row in held if row.id not in reported and row.starts_at < now]
    if not todo:
        return 0
    written = 0
    async with new_uow() as uow:
        store = uow.store(ReportStore)
        for appointment_id in todo:
            rng = random.Random(f"{SEED}-{appointment_id}")  # noqa: S311 - fictitious content, not secrets
            outcome, _weight, findings, advice = rng.choices(OUTCOMES, weights=[o[1] for o in OUTCOMES])[0]
            view = await scheduling.appointment_in(uow, keys, appointment_id)
            a = view.appointment
            finalised_at = a.ends_at + timedelta(minutes=rng.randint(10, 40))
            admission = outcome is Outcome.DIRECT_ADMISSION
            content = ReportContent(
                outcome=outcome,
                findings=findings,
                prescriptions=advice,
                participants="IDEC de l'EHPAD",
                admission_department="Court séjour gériatrique" if admission else "",
                admission_on=(finalised_at + timedelta(days=rng.randint(1, 5))).date() if admission else None,
            )
            key = await residents.dossier_key_in(uow, keys, a.resident_id)
            report = Report(
                id=uuid.uuid4(),
                kind=ReportKind.TELECONSULTATION,
                subject_id=a.id,
                resident_id=a.resident_id,
                ehpad_id=a.ehpad_id,
                specialty=a.specialty.value,
                author_id=a.expert_id,
                status=ReportStatus.FINAL,
                content=content,
                created_at=a.ends_at,
                updated_at=finalised_at,
                finalised_at=finalised_at,
                version=1,
            )
            if await store.add_draft(report, key):
                written += 1
        await uow.commit()
    return written
