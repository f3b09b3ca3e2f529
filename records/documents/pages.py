"""The documents' part of the resident's page, for care-home staff on a tablet: the upload form (a photo
from the camera, or a file) and the download links. The list itself is rendered with the resident's page
(records/residents/pages.py, template residents/_documents.html)."""

from __future__ import annotations

from aiohttp import web

from records.documents.model import DocumentError
from records.documents.routes import attach, download
from records.residents.pages import render_resident
from records.residents.routes import load_resident
from teleconsult.errors import InvalidInput
from teleconsult.forms import uuid_in_path
from teleconsult.identity.policy import Action
from teleconsult.routing import Routes

routes = Routes()

MAX_KEPT_TITLE = 200


@routes.post(
    "/residents/{resident_id}/documents",
    name="residents.documents.upload",
    action=Action.EDIT_RESIDENTS,
    streams_body=True,
)
async def documents_upload(request: web.Request) -> web.StreamResponse:
    resident_id = uuid_in_path(request, "resident_id")
    seen: dict[str, str] = {}
    try:
        await attach(request, seen)
    except (DocumentError, InvalidInput) as exc:
        resident = await load_resident(request)
        return await render_resident(
            request,
            resident,
            exc.status,
            upload_error=exc.text,
            upload_error_params=dict(exc.params),
            upload_errors=exc.fields if isinstance(exc, InvalidInput) else {},
            upload_title=seen.get("title", "")[:MAX_KEPT_TITLE],
        )
    target = request.app.router["residents.view"].url_for(resident_id=str(resident_id))
    raise web.HTTPSeeOther(f"{target}#documents")


@routes.get(
    "/residents/{resident_id}/documents/{document_id}",
    name="residents.documents.download",
    action=Action.VIEW_RESIDENTS,
)
async def documents_download(request: web.Request) -> web.StreamResponse:
    return await download(request)
