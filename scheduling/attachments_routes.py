"""HTTP of an appointment's preparation documents: the JSON API (upload, list, download) and the
appointment page's upload form and download links. Upload reading, caps and download (with single byte
ranges) are records.documents' own; only the authorisation through the appointment is scheduling's."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from records.documents import routes as documents_routes
from records.documents.model import Document, DocumentError
from records.documents.routes import read_upload, send_document, upload_limits
from scheduling import attachments_service as service
from scheduling.pages import render_appointment_page
from teleconsult.db import UnitOfWork
from teleconsult.errors import InvalidInput
from teleconsult.forms import uuid_in_path
from teleconsult.identity.policy import Action
from teleconsult.keys import BLOB_STORE, CLOCK, KEYRING, SESSION_FACTORY
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal
from teleconsult.routing import Routes

routes = Routes()

MAX_KEPT_TITLE = 200


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


async def attach(request: web.Request, seen: dict[str, str] | None = None) -> Document:
    limits = upload_limits(request)
    return await service.attach_to_appointment(
        _uow(request),
        request.app[KEYRING],
        request.app[BLOB_STORE],
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        lambda: read_upload(request, limits, seen, frozenset({service.IS_DLU_FIELD})),
        limits,
        request.app[CLOCK].now(),
        client_address_of(request),
    )


async def list_for(request: web.Request) -> list[Document]:
    return await service.appointment_documents(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )


async def download(request: web.Request) -> web.StreamResponse:
    opened = await service.open_appointment_document(
        _uow(request),
        request.app[KEYRING],
        request.app[BLOB_STORE],
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        uuid_in_path(request, "document_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return await send_document(request, opened)


def document_json(request: web.Request, document: Document) -> dict[str, Any]:
    """As records.documents' JSON (the same schema), with the download through the appointment."""
    found = documents_routes.document_json(request, document)
    found["download_url"] = str(
        request.app.router["api.appointments.documents.download"].url_for(
            appointment_id=found["context_id"], document_id=found["id"]
        )
    )
    return found


# ------------------------------------------------------------------------------------------------ API


@routes.post(
    "/api/v1/appointments/{appointment_id}/documents",
    name="api.appointments.documents.upload",
    action=Action.PREPARE_APPOINTMENT,
    streams_body=True,
)
async def api_upload(request: web.Request) -> web.Response:
    return web.json_response(document_json(request, await attach(request)), status=201)


@routes.get(
    "/api/v1/appointments/{appointment_id}/documents",
    name="api.appointments.documents",
    action=Action.VIEW_APPOINTMENT,
)
async def api_list(request: web.Request) -> web.Response:
    documents = await list_for(request)
    return web.json_response({"documents": [document_json(request, d) for d in documents]})


@routes.get(
    "/api/v1/appointments/{appointment_id}/documents/{document_id}",
    name="api.appointments.documents.download",
    action=Action.VIEW_APPOINTMENT,
)
async def api_download(request: web.Request) -> web.StreamResponse:
    return await download(request)


# ---------------------------------------------------------------------------------------------- pages


@routes.post(
    "/appointments/{appointment_id}/documents",
    name="appointments.documents.upload",
    action=Action.PREPARE_APPOINTMENT,
    streams_body=True,
)
async def page_upload(request: web.Request) -> web.StreamResponse:
    appointment_id = uuid_in_path(request, "appointment_id")
    seen: dict[str, str] = {}
    try:
        await attach(request, seen)
    except (DocumentError, InvalidInput) as exc:
        return await render_appointment_page(
            request,
            appointment_id,
            exc.status,
            upload_error=exc.text,
            upload_error_params=dict(exc.params),
            upload_errors=exc.fields if isinstance(exc, InvalidInput) else {},
            upload_title=seen.get("title", "")[:MAX_KEPT_TITLE],
        )
    location = request.app.router["appointments.view"].url_for(appointment_id=str(appointment_id))
    raise web.HTTPSeeOther(f"{location}#documents")


@routes.get(
    "/appointments/{appointment_id}/documents/{document_id}",
    name="appointments.documents.download",
    action=Action.VIEW_APPOINTMENT,
)
async def page_download(request: web.Request) -> web.StreamResponse:
    return await download(request)
