"""Pages of comptes-rendus: the expert's form (autosaved by web/static/report.js, plain submit without it),
the finalised view with its addenda, and the PDF download shared by the care home and the expert."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aiohttp import web

from records.documents.routes import send_document
from records.reports import service, timeline
from records.reports.model import ReportFinalised
from records.reports.routes import addendum_from, content_from, finalise_from, renderer_of, save_from, uow_of
from scheduling.expertise.pages import OUTCOME_LABELS as EXPERTISE_OUTCOME_LABELS
from teleconsult.errors import Conflict, InvalidInput
from teleconsult.forms import read_form, uuid_in_path
from teleconsult.i18n import N_
from teleconsult.identity.policy import Action
from teleconsult.keys import BLOB_STORE, CLOCK, KEYRING
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal, redirect, render_page
from teleconsult.routing import Routes

routes = Routes()


async def _render(
    request: web.Request, appointment_id: UUID, status: int = 200, **context: Any
) -> web.Response:
    page = await service.report_page(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        appointment_id,
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    context.setdefault("error", None)
    return render_page(
        request, "reports/page.html", status, page=page, report=page.report, view=page.appointment, **context
    )


@routes.get("/appointments/{appointment_id}/report", name="reports.page", action=Action.READ_REPORT)
async def report_page(request: web.Request) -> web.StreamResponse:
    return await _render(request, uuid_in_path(request, "appointment_id"))


@routes.post("/appointments/{appointment_id}/report", name="reports.save", action=Action.WRITE_REPORT)
async def report_save(request: web.Request) -> web.StreamResponse:
    appointment_id = uuid_in_path(request, "appointment_id")
    form = await read_form(request)
    finalising = form.get("intent") == "finalise"
    try:
        content, version = content_from(form)
        if finalising:
            await finalise_from(request, content, version)
        else:
            await save_from(request, content, version)
    except InvalidInput as exc:
        message = exc.text if finalising else N_("Some fields need your attention.")
        return await _render(
            request, appointment_id, exc.status, error=message, errors=exc.fields, values=form
        )
    except ReportFinalised as exc:
        return await _render(request, appointment_id, exc.status, error=exc.text)
    except Conflict as exc:
        return await _render(request, appointment_id, exc.status, error=exc.text, values=form)
    raise redirect(request, "reports.page", appointment_id=str(appointment_id))


@routes.post(
    "/appointments/{appointment_id}/report/addenda", name="reports.addendum", action=Action.WRITE_REPORT
)
async def report_addendum(request: web.Request) -> web.StreamResponse:
    appointment_id = uuid_in_path(request, "appointment_id")
    form = await read_form(request)
    try:
        await addendum_from(request, form.get("text") or "")
    except InvalidInput as exc:
        return await _render(request, appointment_id, exc.status, errors=exc.fields, values=form)
    except Conflict as exc:
        return await _render(request, appointment_id, exc.status, error=exc.text)
    raise redirect(request, "reports.page", appointment_id=str(appointment_id))


@routes.get("/appointments/{appointment_id}/report.pdf", name="reports.pdf", action=Action.READ_REPORT)
async def report_pdf(request: web.Request) -> web.StreamResponse:
    opened = await service.open_pdf(
        uow_of(request),
        request.app[KEYRING],
        request.app[BLOB_STORE],
        renderer_of(request),
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return await send_document(request, opened)


@routes.get(
    "/residents/{resident_id}/timeline",
    name="residents.timeline",
    action=Action.VIEW_RESIDENTS,
)
async def resident_timeline(request: web.Request) -> web.StreamResponse:
    found = await timeline.resident_timeline(
        uow_of(request),
        request.app[KEYRING],
        current_principal(request),
        uuid_in_path(request, "resident_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return render_page(
        request,
        "residents/timeline.html",
        timeline=found,
        resident=found.resident,
        expertise_outcome_labels=EXPERTISE_OUTCOME_LABELS,
    )
