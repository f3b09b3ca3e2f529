"""HTTP of activity: the coordinators' page, its CSV and XLSX exports (streamed), and the monthly PDF.

The filters are query parameters (``from`` and ``to`` as YYYY-MM, ``establishment`` as a care home's id or
FINESS number): a malformed month answers 400, an unknown care home 404, both with a French message."""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO

from aiohttp import web
from openpyxl import Workbook

from records.activity import service
from records.activity.model import Month, Period, SavingsRules, default_period, make_period, parse_month
from records.activity.report import monthly_pdf
from records.activity.tables import COLUMNS, OUTCOME_LABELS, SUMMARY, rows
from records.reports.model import Outcome
from teleconsult.db import UnitOfWork
from teleconsult.i18n import gettext_
from teleconsult.identity.model import Role
from teleconsult.identity.policy import Action
from teleconsult.keys import CLOCK, RENDERER, SESSION_FACTORY, SETTINGS
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal, render_page
from teleconsult.routing import PageSpec, Routes
from teleconsult.settings import Settings
from web.labels import SPECIALTY_LABELS

routes = Routes()
CHUNK = 64 * 1024


def savings_rules(settings: Settings) -> SavingsRules:
    return SavingsRules(
        day_rate_eur=settings.activity_ambulance_day_eur,
        evening_rate_eur=settings.activity_ambulance_evening_eur,
        nurse_minutes_per_transfer=settings.activity_nurse_minutes_per_transfer,
    )


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


def _period(request: web.Request, now: datetime) -> Period:
    first_raw, last_raw = request.query.get("from", "").strip(), request.query.get("to", "").strip()
    if not first_raw and not last_raw:
        return default_period(now)
    default = default_period(now)
    first = parse_month(first_raw) if first_raw else default.first
    last = parse_month(last_raw) if last_raw else Month.of(now)
    return make_period(first, last)


async def _activity(request: web.Request) -> service.Activity:
    now = request.app[CLOCK].now()
    period = _period(request, now)
    return await service.activity(
        _uow(request),
        current_principal(request),
        period,
        request.query.get("establishment", "").strip() or None,
        savings_rules(request.app[SETTINGS]),
    )


def _query_string(activity: service.Activity) -> str:
    parts = [f"from={activity.period.first}", f"to={activity.period.last}"]
    if activity.selected:
        parts.append(f"establishment={activity.selected.id}")
    return "&".join(parts)


@routes.get("/activity", name="activity", action=Action.VIEW_ACTIVITY, page=PageSpec(role=Role.COORDINATEUR))
async def activity_page(request: web.Request) -> web.Response:
    activity = await _activity(request)
    columns = {column.name: column for column in COLUMNS}
    return render_page(
        request,
        "activity/page.html",
        activity=activity,
        summary=[columns[name] for name in SUMMARY],
        outcomes=list(Outcome),
        outcome_labels=OUTCOME_LABELS,
        query=_query_string(activity),
        month_values=[str(month) for month in activity.months],
        last_month=str(activity.period.last),
    )


def _filename(activity: service.Activity, extension: str) -> str:
    return f"activite-{activity.period.first}-{activity.period.last}.{extension}"


async def _audit_export(request: web.Request, what: str, activity: service.Activity) -> None:
    await service.record_export(
        _uow(request),
        current_principal(request),
        what,
        activity.period,
        activity.selected,
        request.app[CLOCK].now(),
        client_address_of(request),
    )


@routes.get("/activity/export.csv", name="activity.csv", action=Action.VIEW_ACTIVITY)
async def export_csv(request: web.Request) -> web.StreamResponse:
    """Semicolon-separated, UTF-8 with a byte-order mark (what French spreadsheets open as is), written to
    the client line by line."""
    activity = await _activity(request)
    await _audit_export(request, "csv", activity)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{_filename(activity, "csv")}"',
        }
    )
    await response.prepare(request)
    if request.method == "HEAD":  # a streamed body is written by hand: HEAD must get none
        await response.write_eof()
        return response
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    buffer.write("\ufeff")
    for line in rows(activity, gettext_, SPECIALTY_LABELS):
        writer.writerow(str(value).replace(".", ",") if isinstance(value, float) else value for value in line)
        if buffer.tell() >= CHUNK:
            await response.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
    await response.write(buffer.getvalue().encode("utf-8"))
    await response.write_eof()
    return response


def write_xlsx(lines: Iterator[list[str | int | float]], target: IO[bytes], title: str) -> None:
    """openpyxl's write-only mode: rows go to the file as they come, never a whole sheet in memory."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    for line in lines:
        sheet.append(line)
    workbook.save(target)


@routes.get("/activity/export.xlsx", name="activity.xlsx", action=Action.VIEW_ACTIVITY)
async def export_xlsx(request: web.Request) -> web.StreamResponse:
    """The same rows as the CSV in a workbook, written to a temporary file in a worker thread, then streamed
    to the client in chunks."""
    activity = await _activity(request)
    await _audit_export(request, "xlsx", activity)
    lines = list(rows(activity, gettext_, SPECIALTY_LABELS))
    with tempfile.TemporaryFile() as spool:
        await asyncio.to_thread(write_xlsx, iter(lines), spool, gettext_("Activity"))
        spool.seek(0)
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "Content-Disposition": f'attachment; filename="{_filename(activity, "xlsx")}"',
            }
        )
        await response.prepare(request)
        while request.method != "HEAD" and (chunk := await asyncio.to_thread(spool.read, CHUNK)):
            await response.write(chunk)
        await response.write_eof()
    return response


@routes.get("/activity/monthly.pdf", name="activity.pdf", action=Action.VIEW_ACTIVITY)
async def monthly_report(request: web.Request) -> web.Response:
    """The monthly report of ``month`` (YYYY-MM; default: the last month of the period asked for)."""
    now = request.app[CLOCK].now()
    raw = request.query.get("month", "").strip()
    month = parse_month(raw) if raw else Month.of(now)
    activity = await service.activity(
        _uow(request),
        current_principal(request),
        make_period(month, month),
        request.query.get("establishment", "").strip() or None,
        savings_rules(request.app[SETTINGS]),
    )
    await _audit_export(request, "pdf", activity)
    pdf = await monthly_pdf(request.app[RENDERER], activity, now)
    return web.Response(
        body=pdf,
        content_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{_filename(activity, "pdf")}"'},
    )
