"""HTTP of a tele-expertise answer's compte-rendu: its PDF for download (JSON API and pages' link), and
what the answer handlers of scheduling.expertise run once an answer is saved (installed by create_app)."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from records.documents.routes import send_document
from records.reports import expertise_pdf
from records.reports.expertise_pdf import ExpertisePdfPage, ExpertisePdfRenderer
from records.reports.pdf import render_expertise_pdf
from records.reports.routes import REPORT_OUTBOX, uow_of
from teleconsult.forms import uuid_in_path
from teleconsult.identity.policy import Action
from teleconsult.keys import BLOB_STORE, CLOCK, KEYRING, RENDERER
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal
from teleconsult.routing import Routes

routes = Routes()


def renderer_of(request: web.Request) -> ExpertisePdfRenderer:
    jinja = request.app[RENDERER]

    async def render(page: ExpertisePdfPage) -> bytes:
        return await render_expertise_pdf(jinja, page)

    return render


async def after_answer(request: web.Request, expertise_id: UUID) -> None:
    """The compte-rendu of the answer the request's expert just saved (never raises: see
    expertise_pdf.after_answer)."""
    await expertise_pdf.after_answer(
        uow_of(request),
        request.app[KEYRING],
        request.app[BLOB_STORE],
        renderer_of(request),
        request.app[REPORT_OUTBOX],
        current_principal(request),
        expertise_id,
        request.app[CLOCK].now(),
        client_address_of(request),
    )


async def _download(request: web.Request) -> web.StreamResponse:
    opened = await expertise_pdf.open_answer_pdf(
        uow_of(request),
        request.app[KEYRING],
        request.app[BLOB_STORE],
        renderer_of(request),
        request.app[REPORT_OUTBOX],
        current_principal(request),
        uuid_in_path(request, "expertise_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return await send_document(request, opened)


@routes.get("/api/v1/expertise/{expertise_id}/pdf", name="api.expertise.pdf", action=Action.VIEW_EXPERTISE)
async def api_expertise_pdf(request: web.Request) -> web.StreamResponse:
    return await _download(request)


@routes.get("/expertise/{expertise_id}/report.pdf", name="expertise.pdf", action=Action.VIEW_EXPERTISE)
async def expertise_pdf_page(request: web.Request) -> web.StreamResponse:
    return await _download(request)
