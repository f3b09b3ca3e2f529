"""Activity figures on a fixed dataset, on both backends: the numbers computed by hand here, the suppression
of small counts on the page and in the exports, who may see what, the monthly PDF and its command."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import delete, insert, select, update

from records.activity.model import Cell, Key, Month, Outcome, Period, SavingsRules, segments
from records.activity.service import activity, tally
from records.activity.store import ActivityStore
from records.audit.service import accesses_to
from records.reports.store import reports
from records.residents.model import IdentityStatus, IdentityTraits, ResidentDetails, Sex
from records.residents.service import import_residents
from scheduling.expertise.model import ExpertiseStatus
from scheduling.expertise.store import expertise_requests
from scheduling.model import PARIS, AppointmentStatus
from scheduling.service import is_french_holiday
from scheduling.store import appointments
from signalling.store import call_events
from teleconsult.cli import main
from teleconsult.demo_history import Visit, past_appointment, past_request, seed_demo_history, write_history
from teleconsult.demo_residents import seed_demo_residents
from teleconsult.identity.model import Role, Specialty
from teleconsult.keys import KEYRING, PASSWORDS
from teleconsult.settings import Settings
from tests.factories import make_user
from tests.integration.conftest import Env

SEPTEMBER, OCTOBER = Month(2026, 9), Month(2026, 10)
PERIOD = Period(SEPTEMBER, OCTOBER)
QUERY = "from=2026-09&to=2026-10"


def paris(day: date, hour: int = 14, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS).astimezone(UTC)


@dataclass
class Dataset:
    ehpad: uuid.UUID
    other: uuid.UUID
    held: list[uuid.UUID]


async def build(env: Env) -> Dataset:
    """By hand:

    EHPAD Test (under convention), geriatrics, September 2026: 7 teleconsultations at 14:00 on weekdays,
    6 held with delays of 1, 2, 3, 4, 5 and 10 days (median: rank 3 -> 3 days; 90th percentile: rank 6 ->
    10 days), 1 cancelled. Finalised reports: advice x3, treatment change x2, emergency referral x1 -> 5
    transfers avoided in the daytime -> 5 x 150 = 750 EUR, 5 x 90 min = 7.5 nurse hours. One held call has
    2 technical incidents (one call with incidents), another a non-incident event. 6 tele-expertise
    requests: 5 answered, 1 withdrawn. October: 2 held (delays 7 days).
    EHPAD Autre (no convention), geriatrics, September: 1 held on Saturday 12 at 10:00 (evening/weekend
    rate), outcome advice.
    """
    now = env.clock.now()
    territory, keys = env.territory, env.app[KEYRING]
    nurse, expert = territory.users[Role.IDEC], territory.users[Role.EXPERT]
    other_nurse = await make_user(env.uow, env.app[PASSWORDS], now, Role.IDEC, territory.other_ehpad)
    traits = IdentityTraits("TEST", ("Louise",), Sex.FEMALE, date(1935, 3, 2), "75056")
    details = [ResidentDetails(traits, None, IdentityStatus.PROVISOIRE, room=str(n)) for n in range(12)]
    mine = await import_residents(env.uow(), keys, None, territory.ehpad.id, details, now)
    theirs = await import_residents(env.uow(), keys, None, territory.other_ehpad.id, details[:1], now)
    september_days = [date(2026, 9, d) for d in (1, 2, 3, 4, 7, 8, 9)]
    delays = [1, 2, 3, 4, 5, 10]

    def visit(resident: uuid.UUID, start: datetime, delay: int, status: AppointmentStatus) -> Visit:
        return Visit(
            expert.id,
            territory.ehpad.id,
            resident,
            Specialty.GERIATRIE,
            start,
            start - timedelta(days=delay),
            status,
            nurse.id,
        )

    visits = [
        past_appointment(visit(mine[n].id, paris(day), delay, AppointmentStatus.DONE))
        for n, (day, delay) in enumerate(zip(september_days, delays, strict=False))
    ]
    visits.append(
        past_appointment(visit(mine[6].id, paris(september_days[6]), 8, AppointmentStatus.CANCELLED))
    )
    visits += [
        past_appointment(visit(mine[7 + n].id, paris(date(2026, 10, 5 + n)), 7, AppointmentStatus.DONE))
        for n in range(2)
    ]
    saturday = paris(date(2026, 9, 12), 10)
    visits.append(
        past_appointment(
            Visit(
                expert.id,
                territory.other_ehpad.id,
                theirs[0].id,
                Specialty.GERIATRIE,
                saturday,
                saturday - timedelta(days=2),
                AppointmentStatus.DONE,
                other_nurse.id,
            )
        )
    )
    requests = [
        past_request(
            territory.ehpad.id,
            mine[n].id,
            Specialty.GERIATRIE,
            paris(date(2026, 9, 10 + n), 9),
            nurse.id,
            expert.id,
            ExpertiseStatus.ANSWERED if n < 5 else ExpertiseStatus.WITHDRAWN,
        )
        for n in range(6)
    ]
    held = [a.id for a in visits if a.status is AppointmentStatus.DONE]
    await write_history(env.uow, keys, visits, requests, [held[0]], now)
    outcomes = [
        Outcome.ADVICE,
        Outcome.ADVICE,
        Outcome.ADVICE,
        Outcome.TREATMENT_CHANGE,
        Outcome.TREATMENT_CHANGE,
        Outcome.EMERGENCY_REFERRAL,
    ]
    report_rows = [
        dict(
            id=uuid.uuid4(),
            kind="teleconsultation",
            appointment_id=appointment.id,
            expertise_id=None,
            resident_id=appointment.resident_id,
            ehpad_id=appointment.ehpad_id,
            specialty=appointment.specialty.value,
            author_id=expert.id,
            status="final",
            outcome=outcome.value,
            created_at=appointment.ends_at,
            updated_at=appointment.ends_at,
            finalised_at=appointment.ends_at,
            version=1,
            body=b"x",
        )
        for appointment, outcome in zip(visits[:6], outcomes, strict=True)
    ]
    saturday_visit = visits[-1]
    report_rows.append({**report_rows[0], "id": uuid.uuid4(), "appointment_id": saturday_visit.id,
                        "resident_id": saturday_visit.resident_id, "ehpad_id": saturday_visit.ehpad_id,
                        "outcome": Outcome.ADVICE.value})  # fmt: skip
    # A draft report counts for nothing.
    report_rows.append({**report_rows[0], "id": uuid.uuid4(), "appointment_id": visits[7].id,
                        "status": "draft", "outcome": None, "finalised_at": None})  # fmt: skip
    event = dict(
        user_id=None, kind="incident", detail="media_lost", incident=True, at=paris(september_days[0])
    )
    async with env.uow() as uow:
        await uow.session.execute(insert(reports), report_rows)
        await uow.session.execute(
            insert(call_events),
            [
                {**event, "id": uuid.uuid4(), "appointment_id": held[0]},
                {**event, "id": uuid.uuid4(), "appointment_id": held[1], "kind": "join", "incident": False},
            ],
        )
        await uow.commit()
    return Dataset(territory.ehpad.id, territory.other_ehpad.id, held)


async def test_sql_aggregates_equal_the_numbers_computed_by_hand(env: Env) -> None:
    data = await build(env)
    cuts = segments(PERIOD, is_french_holiday)
    async with env.uow().reading() as uow:
        store = uow.store(ActivityStore)
        cells = await store.teleconsultations(PERIOD, cuts, [data.ehpad, data.other])
        expertise = await store.expertise(PERIOD, cuts, [data.ehpad, data.other])
        delays = await store.held_delays(PERIOD, cuts, [data.ehpad, data.other])
    september = cells[(0, data.ehpad, "geriatrie")]
    assert (september.appointments, september.done, september.cancelled, september.no_show) == (7, 6, 1, 0)
    assert september.calls_with_incident == 1
    assert september.outcomes == {
        Outcome.ADVICE: 3,
        Outcome.TREATMENT_CHANGE: 2,
        Outcome.EMERGENCY_REFERRAL: 1,
    }
    assert (september.avoided_day, september.avoided_evening) == (5, 0)
    october = cells[(1, data.ehpad, "geriatrie")]
    assert (october.appointments, october.done, october.outcomes) == (2, 2, {})
    saturday = cells[(0, data.other, "geriatrie")]
    assert (saturday.done, saturday.avoided_day, saturday.avoided_evening) == (1, 0, 1)
    assert expertise == {(0, data.ehpad, "geriatrie"): (6, 5, 0)}
    assert delays[(0, data.ehpad, "geriatrie")] == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0, 10.0])
    assert delays[(1, data.ehpad, "geriatrie")] == pytest.approx([7.0, 7.0])

    # The same figures through the pre-aggregated cells the pages read (computed on first reading).
    figures = await stored_figures(env, [data.ehpad, data.other])
    stored = figures[Key(SEPTEMBER, data.ehpad, "geriatrie")]
    assert (stored.appointments, stored.done, stored.cancelled, stored.calls_with_incident) == (7, 6, 1, 1)
    assert (stored.outcomes, stored.avoided_day, stored.expertise) == (september.outcomes, 5, 6)
    assert (stored.expertise_answered, stored.expertise_converted) == (5, 0)
    assert (figures[Key(None, None, None)].avoided_day, figures[Key(None, None, None)].avoided_evening) == (
        5,
        1,
    )
    assert delay_of(figures, Key(SEPTEMBER, data.ehpad, "geriatrie")) == pytest.approx((3.0, 10.0))
    assert delay_of(figures, Key(OCTOBER, data.ehpad, "geriatrie")) == pytest.approx((7.0, 7.0))
    # All nine held: 1, 2, 2 (Saturday), 3, 4, 5, 7, 7, 10 -> median rank 5 = 4, 90th rank 9 = 10.
    assert delay_of(figures, Key(None, None, None)) == pytest.approx((4.0, 10.0))
    assert delay_of(figures, Key(None, data.ehpad, None)) == pytest.approx((4.0, 10.0))  # 1,2,3,4,5,7,7,10
    assert delay_of(figures, Key(SEPTEMBER, None, None)) == pytest.approx((3.0, 10.0))  # 1,2,2,3,4,5,10


async def stored_figures(env: Env, ehpad_ids: list[uuid.UUID]) -> dict[Key, Cell]:
    """The unsuppressed cells of PERIOD from activity_cells, after the dashboard has refreshed them."""
    await activity(env.uow(), None, PERIOD, None, SavingsRules())
    async with env.uow().reading() as uow:
        store = uow.store(ActivityStore)
        assert await store.changes(ehpad_ids, PERIOD) == []  # every mark of the period consumed
        rows, is_stale = await store.cells(ehpad_ids, PERIOD)
    assert not is_stale
    figures = tally(rows, PERIOD.months())
    return {key: figures.cell(key) for key in figures.counts}


def delay_of(figures: dict[Key, Cell], key: Key) -> tuple[float | None, float | None]:
    return figures[key].delay_median, figures[key].delay_p90


async def test_every_write_that_changes_a_figure_refreshes_the_stored_cells(env: Env) -> None:
    data = await build(env)
    key = Key(SEPTEMBER, data.ehpad, "geriatrie")
    before = (await stored_figures(env, [data.ehpad]))[key]
    assert (before.done, before.cancelled, before.calls_with_incident, before.expertise) == (6, 1, 1, 6)
    held = data.held[:6]  # September's, in order of their delays 1, 2, 3, 4, 5 and 10 days
    async with env.uow() as uow:
        # The held consultation of 10 days is now a no-show; the one of 5 days loses its report.
        await uow.session.execute(
            update(appointments).where(appointments.c.id == held[5]).values(status="no_show")
        )
        await uow.session.execute(delete(reports).where(reports.c.appointment_id == held[4]))
        # A second call with an incident; a tele-expertise request converted.
        await uow.session.execute(
            insert(call_events),
            {"id": uuid.uuid4(), "appointment_id": held[2], "user_id": None, "kind": "incident",
             "detail": "media_lost", "incident": True, "at": paris(date(2026, 9, 3))},
        )  # fmt: skip
        request = (
            await uow.session.execute(
                select(expertise_requests.c.id).where(expertise_requests.c.ehpad_id == data.ehpad).limit(1)
            )
        ).scalar_one()
        await uow.session.execute(
            update(expertise_requests)
            .where(expertise_requests.c.id == request)
            .values(status="converted", appointment_id=held[1])
        )
        await uow.commit()
    after = (await stored_figures(env, [data.ehpad]))[key]
    assert (after.done, after.no_show, after.cancelled) == (5, 1, 1)
    assert after.calls_with_incident == 2
    # Reports: advice x3 and treatment change x2 on the first five; the fifth's (treatment change) is gone,
    # and the sixth (emergency referral) is no longer held but its report still counts.
    assert after.outcomes == {Outcome.ADVICE: 3, Outcome.TREATMENT_CHANGE: 1, Outcome.EMERGENCY_REFERRAL: 1}
    assert (after.avoided_day, after.expertise, after.expertise_converted) == (4, 6, 1)
    assert (after.delay_median, after.delay_p90) == pytest.approx((3.0, 5.0))  # 1, 2, 3, 4, 5

    # Deleting an appointment (its report and call events go with it) takes it out of its month.
    async with env.uow() as uow:
        await uow.session.execute(delete(appointments).where(appointments.c.id == held[0]))
        await uow.commit()
    last = (await stored_figures(env, [data.ehpad]))[key]
    assert (last.appointments, last.done, last.calls_with_incident) == (6, 4, 1)
    assert last.outcomes == {Outcome.ADVICE: 2, Outcome.TREATMENT_CHANGE: 1, Outcome.EMERGENCY_REFERRAL: 1}
    assert (last.delay_median, last.delay_p90) == pytest.approx((3.0, 5.0))  # 2, 3, 4, 5

    # The stored cells are what the statements over the source rows give.
    cuts = segments(PERIOD, is_french_holiday)
    async with env.uow().reading() as uow:
        live = await uow.store(ActivityStore).teleconsultations(PERIOD, cuts, [data.ehpad])
    assert live[(0, data.ehpad, "geriatrie")].outcomes == last.outcomes
    assert live[(0, data.ehpad, "geriatrie")].done == last.done


async def test_coordinator_page_shows_figures_with_small_counts_suppressed(env: Env) -> None:
    data = await build(env)
    await env.login(Role.COORDINATEUR)
    page = await env.client.get(f"/activity?{QUERY}&establishment={data.ehpad}")
    html = await page.text()
    assert page.status == 200, html
    assert 'role="img"' in html and '<title id="chart-month-t">' in html
    # Per month for EHPAD Test: September 7 booked (13 requests), 6 held; October 2 held -> "< 5".
    assert "&lt; 5" in html
    assert ">750<" in html  # the ambulance cost avoided of the period: 5 daytime transfers
    assert "7,5" in html  # nurse hours
    assert "TEST" not in html and "Louise" not in html  # no resident's identity


async def test_csv_and_xlsx_carry_the_same_suppressed_figures(env: Env) -> None:
    data = await build(env)
    await env.login(Role.COORDINATEUR)
    answer = await env.client.get(f"/activity/export.csv?{QUERY}&establishment={data.ehpad}")
    assert answer.status == 200
    text = (await answer.read()).decode("utf-8")
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    header = lines[0]
    assert header[:4] == ["Mois", "Établissement", "FINESS", "Spécialité"]
    by_coordinates = {tuple(line[:4]): dict(zip(header, line, strict=True)) for line in lines[1:]}
    september = by_coordinates[("2026-09", "EHPAD Test", env.territory.ehpad.finess, "Gériatrie")]
    october = by_coordinates[("2026-10", "EHPAD Test", env.territory.ehpad.finess, "Gériatrie")]
    total = by_coordinates[("Tous", "Tous", "", "Tous")]
    # October's 2 consultations held are suppressed; the period's total (8) is shown, so September's 6
    # would give them back: September's count is suppressed too (complementary), and its delays with it.
    assert october["Consultations réalisées"] == "< 5"
    assert total["Consultations réalisées"] == "8"
    assert september["Consultations réalisées"] == "< 5" and september["Délai médian (jours)"] == "< 5"
    assert total["Délai médian (jours)"] == "4,0" and total["Délai, 90e percentile (jours)"] == "10,0"
    assert september["Annulations"] == "< 5"
    assert september["Transferts aux urgences évités"] == "5"
    assert september["Coût d'ambulance évité (EUR)"] == "750"
    assert september["Heures infirmières économisées"] == "7,5"
    # 9 booked = 8 held + 1 cancelled: the number booked is suppressed (the held count kept); then 15
    # requests = booked + 6 tele-expertise requests would give it back: those are suppressed too.
    assert total["Téléconsultations réservées"] == "< 5" and total["Demandes"] == "15"
    assert total["Demandes de téléexpertise"] == "< 5"
    every_value = [value for line in lines[1:] for value in line[4:]]
    assert not set(every_value) & {"1", "2", "3", "4"}  # no small count anywhere, nor any zero
    assert "0" not in every_value

    workbook_answer = await env.client.get(f"/activity/export.xlsx?{QUERY}&establishment={data.ehpad}")
    assert workbook_answer.status == 200
    workbook = load_workbook(io.BytesIO(await workbook_answer.read()), read_only=True)
    sheet_rows = [list(row) for row in workbook.active.iter_rows(values_only=True)]  # type: ignore[union-attr]
    assert sheet_rows[0] == header
    xlsx = {tuple(row[:4]): dict(zip(header, row, strict=True)) for row in sheet_rows[1:]}
    september_x = xlsx[("2026-09", "EHPAD Test", env.territory.ehpad.finess, "Gériatrie")]
    assert september_x["Consultations réalisées"] == "< 5" and september_x["Annulations"] == "< 5"
    assert xlsx[("Tous", "Tous", None, "Tous")]["Consultations réalisées"] == 8
    assert september_x["Coût d'ambulance évité (EUR)"] == 750
    exports = await accesses_to(env.uow(), "activity", f"2026-09..2026-10:{data.ehpad}")
    assert sorted(e.action for e in exports) == ["activity.export_csv", "activity.export_xlsx"]


async def test_nurses_and_experts_get_403_and_a_hospital_coordinator_sees_its_care_homes_only(
    env: Env,
) -> None:
    data = await build(env)
    for role in (Role.IDE, Role.EXPERT, Role.SECRETARIAT):
        await env.login(role)
        for path in ("/activity", "/activity/export.csv", "/activity/monthly.pdf"):
            assert (await env.client.get(path)).status == 403, (role, path)
    hospital_coordinator = await make_user(
        env.uow, env.app[PASSWORDS], env.clock.now(), Role.COORDINATEUR, env.territory.hospital
    )
    env.territory.users[Role.COORDINATEUR] = hospital_coordinator
    await env.login(Role.COORDINATEUR)
    page = await env.client.get(f"/activity?{QUERY}")
    html = await page.text()
    assert "EHPAD Test" in html and "EHPAD Autre" not in html
    hidden = await env.client.get(f"/activity?{QUERY}&establishment={data.other}")
    assert hidden.status == 404
    assert "Aucun établissement" in await hidden.text()


async def test_bad_input_gets_a_french_400_and_an_empty_period_an_explanation(env: Env) -> None:
    await env.login(Role.ADMIN)
    malformed = await env.client.get("/activity?from=2026-13&to=2026-10")
    assert malformed.status == 400 and "AAAA-MM" in await malformed.text()
    backwards = await env.client.get("/activity?from=2026-10&to=2026-01")
    assert backwards.status == 400
    unknown = await env.client.get("/activity?establishment=999999999")
    assert unknown.status == 404
    empty = await env.client.get("/activity?from=2025-01&to=2025-03")
    html = await empty.text()
    assert empty.status == 200 and "Aucune activité sur cette période" in html


async def test_monthly_pdf_by_page_and_by_command_hold_the_figures(
    env: Env, settings: Settings, tmp_path: Path
) -> None:
    data = await build(env)
    await env.login(Role.COORDINATEUR)
    answer = await env.client.get(f"/activity/monthly.pdf?month=2026-09&establishment={data.ehpad}")
    assert answer.status == 200 and answer.content_type == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(await answer.read())).pages)
    assert "2026-09" in text and "EHPAD Test" in text and "750" in text
    output = tmp_path / "report.pdf"
    cli_env = {
        "TELECONSULT_DATABASE_URL": settings.database_url,
        "TELECONSULT_DATA_DIR": str(settings.data_dir),
        "TELECONSULT_KEY_FILE": str(settings.key_file),
        "TELECONSULT_MODE": "test",
    }
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["report", "monthly", "--month", "2026-09", "--establishment", str(env.territory.ehpad.finess),
         "--output", str(output)],
        env=cli_env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    cli_text = "".join(page.extract_text() for page in PdfReader(output).pages)
    assert "EHPAD Test" in cli_text and "750" in cli_text
    refused = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["report", "monthly", "--month", "2026-9"],
        env=cli_env,
    )
    assert refused.exit_code != 0 and "AAAA-MM" in refused.output


async def test_demo_history_writes_a_year_of_sealed_activity_once(env: Env) -> None:
    now, keys = env.clock.now(), env.app[KEYRING]
    await seed_demo_residents(env.uow, keys, [env.territory.ehpad.id], now, per_ehpad=20)
    written = await seed_demo_history(env.uow, keys, now)
    assert 12 * 30 <= written <= 13 * 40
    assert await seed_demo_history(env.uow, keys, now) == 0  # once only
    async with env.uow().reading() as uow:
        columns = appointments.c
        query = select(columns.starts_at, columns.created_at, columns.status, columns.details)
        rows = (await uow.session.execute(query)).all()
    assert all(row.created_at < row.starts_at < now for row in rows)
    statuses = Counter(row.status for row in rows)
    assert statuses["done"] > 0.75 * written and statuses["cancelled"] > 0 and statuses["no_show"] > 0
    assert not any(b"fin de journ" in row.details or b"Chutes" in row.details for row in rows)  # sealed
    await env.login(Role.COORDINATEUR)
    page = await env.client.get("/activity")
    assert page.status == 200 and "Aucune activité" not in await page.text()
