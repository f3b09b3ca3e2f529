"""HTTP of a tele-expertise request's photos and documents: the JSON API (upload, list, download) and the
pages' download link. Upload reading, caps and download (with single byte ranges) are records.documents'
own; only the authorisation through the request is tele-expertise's."""

from __future__ import annotations

from aiohttp import web

from records.documents import routes as documents_routes
from records.documents.model import Document, DocumentError
from records.documents.routes import read_upload, send_document, upload_limits
from scheduling.expertise import attachments as service
from scheduling.expertise.pages import render_list
from teleconsult.db import UnitOfWork
from teleconsult.errors import InvalidInput
from teleconsult.forms import uuid_in_path
from teleconsult.identity.policy import Action
from teleconsult.keys import BLOB_STORE, CLOCK, KEYRING, SESSION_FACTORY
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal
from teleconsult.routing import Routes

routes = Routes()


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


def document_json(request: web.Request, document: Document) -> dict[str, object]:
    """As records.documents' JSON (the same schema), with the download through the request."""
    found = documents_routes.document_json(request, document)
    found["download_url"] = str(
        request.app.router["api.expertise.documents.download"].url_for(
            expertise_id=found["context_id"], document_id=found["id"]
        )
    )
    return found


async def attach(request: web.Request, seen: dict[str, str] | None = None) -> Document:
    limits = upload_limits(request)
    return await service.attach_to_expertise(
        _uow(request),
        request.app[KEYRING],
        request.app[BLOB_STORE],
        current_principal(request),
        uuid_in_path(request, "expertise_id"),
        lambda: read_upload(request, limits, seen),
        limits,
        request.app[CLOCK].now(),
        client_address_of(request),
    )


async def download(request: web.Request) -> web.StreamResponse:
    opened = await service.open_expertise_document(
        _uow(request),
        request.app[KEYRING],
        request.app[BLOB_STORE],
        current_principal(request),
        uuid_in_path(request, "expertise_id"),
        uuid_in_path(request, "document_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return await send_document(request, opened)


@routes.post(
    "/api/v1/expertise/{expertise_id}/documents",
    name="api.expertise.documents.upload",
    action=Action.REQUEST_EXPERTISE,
    streams_body=True,
)
async def api_upload(request: web.Request) -> web.Response:
    return web.json_response(document_json(request, await attach(request)), status=201)


@routes.get(
    "/api/v1/expertise/{expertise_id}/documents",
    name="api.expertise.documents",
    action=Action.VIEW_EXPERTISE,
)
async def api_list(request: web.Request) -> web.Response:
    found = await service.expertise_documents(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        uuid_in_path(request, "expertise_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.json_response({"documents": [document_json(request, d) for d in found]})


@routes.get(
    "/api/v1/expertise/{expertise_id}/documents/{document_id}",
    name="api.expertise.documents.download",
    action=Action.VIEW_EXPERTISE,
)
async def api_download(request: web.Request) -> web.StreamResponse:
    return await download(request)


@routes.get(
    "/expertise/{expertise_id}/documents/{document_id}",
    name="expertise.documents.download",
    action=Action.VIEW_EXPERTISE,
)
async def page_download(request: web.Request) -> web.StreamResponse:
    return await download(request)


@routes.post(
    "/expertise/{expertise_id}/documents",
    name="expertise.documents.upload",
    action=Action.REQUEST_EXPERTISE,
    streams_body=True,
)
async def page_upload(request: web.Request) -> web.StreamResponse:
    expertise_id = uuid_in_path(request, "expertise_id")
    try:
        await attach(request)
    except (DocumentError, InvalidInput) as exc:
        return await render_list(
            request,
            exc.status,
            upload_failed=str(expertise_id),
            upload_error=exc.text,
            upload_error_params=dict(exc.params),
            upload_errors=exc.fields if isinstance(exc, InvalidInput) else {},
        )
    location = request.app.router["expertise.list"].url_for()
    raise web.HTTPSeeOther(f"{location}#req-{expertise_id}")
