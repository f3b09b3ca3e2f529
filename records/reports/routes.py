"""HTTP of comptes-rendus, JSON side: read, autosave, finalise, addendum; and the parsing both sides share.
The pages (form, finalised view, PDF download) are in pages.py."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from records.reports import service
from records.reports.model import Addendum, Outcome, Report, ReportContent
from records.reports.outbox import Outbox
from records.reports.pdf import render_report_pdf
from records.reports.service import PdfRenderer, ReportPage
from teleconsult.db import UnitOfWork
from teleconsult.errors import InvalidInput
from teleconsult.forms import read_json, uuid_in_path
from teleconsult.i18n import N_
from teleconsult.identity.policy import Action
from teleconsult.keys import BLOB_STORE, CLOCK, KEYRING, RENDERER, SESSION_FACTORY
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal
from teleconsult.routing import Routes

routes = Routes()

REPORT_OUTBOX = web.AppKey("report_outbox", Outbox)

TEXT_FIELDS = ("findings", "prescriptions", "participants", "admission_department")
DATE_FIELDS = ("admission_on", "follow_up_on")


def uow_of(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


def renderer_of(request: web.Request) -> PdfRenderer:
    jinja = request.app[RENDERER]

    async def render(page: ReportPage) -> bytes:
        return await render_report_pdf(jinja, page)

    return render


async def save_from(request: web.Request, content: ReportContent, version: int | None) -> Report:
    """The draft saved for the request's appointment (the API's autosave and the page's button)."""
    return await service.save_draft(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        content,
        version,
        request.app[CLOCK].now(),
        client_address_of(request),
    )


async def finalise_from(request: web.Request, content: ReportContent, version: int | None) -> Report:
    return await service.finalise(
        uow_of(request),
        request.app[KEYRING],
        request.app[BLOB_STORE],
        renderer_of(request),
        request.app[REPORT_OUTBOX],
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        content,
        version,
        request.app[CLOCK].now(),
        client_address_of(request),
    )


async def addendum_from(request: web.Request, text: str) -> Addendum:
    return await service.add_addendum(
        uow_of(request),
        request.app[KEYRING],
        request.app[BLOB_STORE],
        renderer_of(request),
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        text,
        request.app[CLOCK].now(),
        client_address_of(request),
    )


def content_from(data: dict[str, Any]) -> tuple[ReportContent, int | None]:
    """The report's fields and the version the client saw, from a form or a JSON body; InvalidInput (422)
    names every value that cannot be read."""
    errors: dict[str, str] = {}
    raw_outcome = str(data.get("outcome") or "").strip()
    outcome: Outcome | None = None
    if raw_outcome:
        try:
            outcome = Outcome(raw_outcome)
        except ValueError:
            errors["outcome"] = N_("Choose one of the outcomes in the list.")
    texts: dict[str, str] = {}
    for name in TEXT_FIELDS:
        value = data.get(name) or ""
        if not isinstance(value, str):
            errors[name] = N_("This value is not valid.")
            value = ""
        texts[name] = value.replace("\r\n", "\n").strip()
    dates: dict[str, date | None] = {}
    for name in DATE_FIELDS:
        value = str(data.get(name) or "").strip()
        try:
            dates[name] = date.fromisoformat(value) if value else None
        except ValueError:
            errors[name] = N_("Give a date as day/month/year.")
            dates[name] = None
    version: int | None = None
    raw_version = data.get("version")
    if raw_version not in (None, ""):
        try:
            version = int(str(raw_version))
        except ValueError:
            errors["version"] = N_("This value is not valid.")
    if errors:
        raise InvalidInput(errors)
    return ReportContent(outcome=outcome, **texts, **dates), version  # type: ignore[arg-type]


def report_json(report: Report | None) -> dict[str, Any]:
    if report is None:
        return {"status": "none", "version": 0}
    c = report.content
    return {
        "id": str(report.id),
        "appointment_id": str(report.subject_id),
        "status": report.status.value,
        "version": report.version,
        "outcome": c.outcome.value if c.outcome else None,
        "findings": c.findings,
        "prescriptions": c.prescriptions,
        "participants": c.participants,
        "admission_department": c.admission_department,
        "admission_on": c.admission_on.isoformat() if c.admission_on else None,
        "follow_up_on": c.follow_up_on.isoformat() if c.follow_up_on else None,
        "updated_at": report.updated_at.isoformat(),
        "finalised_at": report.finalised_at.isoformat() if report.finalised_at else None,
        "addenda": [
            {
                "id": str(a.id),
                "author_id": str(a.author_id),
                "created_at": a.created_at.isoformat(),
                "text": a.text,
            }
            for a in report.addenda
        ],
    }


@routes.get(
    "/api/v1/appointments/{appointment_id}/report", name="api.reports.read", action=Action.READ_REPORT
)
async def read_report(request: web.Request) -> web.Response:
    page = await service.report_page(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.json_response(report_json(page.report))


@routes.route(
    "PUT", "/api/v1/appointments/{appointment_id}/report", name="api.reports.save", action=Action.WRITE_REPORT
)
async def save_report(request: web.Request) -> web.Response:
    await service.require_writer(
        uow_of(request), current_principal(request), uuid_in_path(request, "appointment_id")
    )
    content, version = content_from(await read_json(request))
    report = await save_from(request, content, version)
    return web.json_response(report_json(report))


@routes.post(
    "/api/v1/appointments/{appointment_id}/report/finalise",
    name="api.reports.finalise",
    action=Action.WRITE_REPORT,
)
async def finalise_report(request: web.Request) -> web.Response:
    await service.require_writer(
        uow_of(request), current_principal(request), uuid_in_path(request, "appointment_id")
    )
    content, version = content_from(await read_json(request))
    report = await finalise_from(request, content, version)
    return web.json_response(report_json(report))


@routes.post(
    "/api/v1/appointments/{appointment_id}/report/addenda",
    name="api.reports.addendum",
    action=Action.WRITE_REPORT,
)
async def add_addendum(request: web.Request) -> web.Response:
    await service.require_writer(
        uow_of(request), current_principal(request), uuid_in_path(request, "appointment_id")
    )
    body = await read_json(request)
    text = body.get("text")
    if not isinstance(text, str):
        raise InvalidInput({"text": N_("Write the correction or complement to add.")})
    addendum = await addendum_from(request, text)
    return web.json_response(
        {"id": str(addendum.id), "created_at": addendum.created_at.isoformat(), "text": addendum.text},
        status=201,
    )
