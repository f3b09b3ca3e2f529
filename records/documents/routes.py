"""HTTP of residents' documents: upload (multipart, streamed, capped while read), list (JSON) and download
(decrypted on the fly, with single byte ranges). The pages' upload form is in pages.py; the download is
shared by the API and the pages, so that a nurse clicking a link gets a page, not JSON, on error.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Generator, Iterator
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, MultipartReader, hdrs, web

from records.blobs import BlobNotFound
from records.crypto import CryptoError
from records.documents import service
from records.documents.model import Document, UploadLimits
from records.documents.service import OpenedDocument, Upload
from teleconsult.db import UnitOfWork
from teleconsult.errors import InvalidInput, MalformedRequest
from teleconsult.forms import UNREADABLE_BODY, uuid_in_path
from teleconsult.i18n import N_
from teleconsult.identity.policy import Action
from teleconsult.keys import BLOB_STORE, CLOCK, KEYRING, MULTIPART, SESSION_FACTORY, SETTINGS
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal
from teleconsult.ranges import ByteRange, RangeNotSatisfiable, parse_range
from teleconsult.routing import Routes

log = logging.getLogger("teleconsult.records.documents")

routes = Routes()

READ_CHUNK = 64 * 1024
#: Room for the multipart framing and the small fields around the file.
MULTIPART_OVERHEAD = 64 * 1024
MAX_SMALL_PART = 4096


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


def upload_limits(request: web.Request) -> UploadLimits:
    settings = request.app[SETTINGS]
    return UploadLimits(settings.upload_max_bytes, settings.upload_max_pixels)


async def _small_part(part: BodyPartReader) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(MAX_SMALL_PART):
        data += chunk
        if len(data) > MAX_SMALL_PART:
            raise MalformedRequest()
    return bytes(data)


async def _capped_part(part: BodyPartReader, limits: UploadLimits) -> bytes:
    """The file's bytes, refused (413) as soon as they pass the cap: never more than the cap is held."""
    data = bytearray()
    while chunk := await part.read_chunk(READ_CHUNK):
        data += chunk
        if len(data) > limits.max_bytes:
            raise limits.too_large()
    return bytes(data)


async def read_upload(
    request: web.Request,
    limits: UploadLimits,
    seen: dict[str, str] | None = None,
    extra: frozenset[str] = frozenset(),
) -> Upload:
    """The ``title`` and ``file`` parts of a multipart body (``csrf_token`` may come first), read part by
    part, and the small text fields named in ``extra`` (in ``Upload.fields``). Raises TooLarge (413) early,
    from Content-Length, when the body cannot fit. The title is put in ``seen`` as soon as it is read, so
    that a form refused later can show it again."""
    if request.content_type != "multipart/form-data":
        raise MalformedRequest(N_("Send the file as a multipart form (fields title and file)."))
    declared = request.content_length
    if declared is not None and declared > limits.max_bytes + MULTIPART_OVERHEAD:
        raise limits.too_large()
    title: str | None = None
    file_name: str | None = None
    data: bytes | None = None
    fields: dict[str, str] = {}
    try:
        reader: MultipartReader = request.get(MULTIPART) or await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise MalformedRequest()
            if part.name == "file" and data is None:
                file_name = part.filename or ""
                data = await _capped_part(part, limits)
            elif part.name == "title" and part.filename is None and title is None:
                try:
                    title = (await _small_part(part)).decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InvalidInput({"title": N_("This value is not valid.")}) from exc
                if seen is not None:
                    seen["title"] = title
            elif part.name == "csrf_token" and part.filename is None:
                await _small_part(part)
            elif part.name in extra and part.filename is None and part.name not in fields:
                try:
                    fields[part.name] = (await _small_part(part)).decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InvalidInput({part.name: N_("This value is not valid.")}) from exc
            else:
                raise MalformedRequest(N_("Send the file as a multipart form (fields title and file)."))
    except UNREADABLE_BODY as exc:
        raise MalformedRequest() from exc
    if not data:
        raise InvalidInput({"file": N_("Choose a file (a photo or a PDF).")})
    return Upload(title or "", file_name or "", data, fields)


def document_json(request: web.Request, document: Document) -> dict[str, Any]:
    download = request.app.router["api.documents.download"].url_for(
        resident_id=str(document.resident_id), document_id=str(document.id)
    )
    return {
        "id": str(document.id),
        "resident_id": str(document.resident_id),
        "title": document.title,
        "file_name": document.file_name,
        "content_type": document.content_type.value,
        "byte_length": document.byte_length,
        "sha256": document.sha256,
        "uploaded_by": str(document.uploaded_by),
        "uploaded_at": document.uploaded_at.isoformat(),
        "context_type": document.context.type if document.context else None,
        "context_id": str(document.context.id) if document.context else None,
        "download_url": str(download),
    }


async def attach(request: web.Request, seen: dict[str, str] | None = None) -> Document:
    """Attach the upload of ``request`` to the resident named in its URL (for the API and the pages)."""
    limits = upload_limits(request)
    return await service.attach_document(
        _uow(request),
        request.app[KEYRING],
        request.app[BLOB_STORE],
        current_principal(request),
        uuid_in_path(request, "resident_id"),
        lambda: read_upload(request, limits, seen),
        limits,
        request.app[CLOCK].now(),
        client_address_of(request),
    )


async def list_for(request: web.Request) -> list[Document]:
    return await service.list_documents(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        uuid_in_path(request, "resident_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )


@routes.post(
    "/api/v1/residents/{resident_id}/documents",
    name="api.documents.upload",
    action=Action.EDIT_RESIDENTS,
    streams_body=True,
)
async def upload_document(request: web.Request) -> web.Response:
    document = await attach(request)
    return web.json_response(document_json(request, document), status=201)


@routes.get("/api/v1/residents/{resident_id}/documents", name="api.documents", action=Action.VIEW_RESIDENTS)
async def list_documents(request: web.Request) -> web.Response:
    documents = await list_for(request)
    return web.json_response({"documents": [document_json(request, d) for d in documents]})


@routes.get(
    "/api/v1/residents/{resident_id}/documents/{document_id}",
    name="api.documents.download",
    action=Action.VIEW_RESIDENTS,
)
async def download_document(request: web.Request) -> web.StreamResponse:
    return await download(request)


def content_disposition(document: Document) -> str:
    """``attachment`` with the safe name in ASCII (for old clients) and in UTF-8 (RFC 6266 / 8187)."""
    name = document.download_name
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii") or "document"
    ascii_name = ascii_name.replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def download(request: web.Request) -> web.StreamResponse:
    """The document named in the URL, decrypted as it is sent. A whole-file answer is verified entirely
    before its first byte; a range answer sends each segment once verified, and if a later one fails the
    connection is aborted, so no client takes a cut download for a complete file (ADR 0008)."""
    opened = await service.open_document(
        _uow(request),
        request.app[KEYRING],
        request.app[BLOB_STORE],
        current_principal(request),
        uuid_in_path(request, "resident_id"),
        uuid_in_path(request, "document_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return await send_document(request, opened)


async def send_document(request: web.Request, opened: OpenedDocument) -> web.StreamResponse:
    """Send a document the actor was allowed to open: whole, or the single byte range asked for."""
    document = opened.document
    length = document.byte_length
    headers = {
        hdrs.CONTENT_TYPE: document.content_type.value,
        hdrs.CONTENT_DISPOSITION: content_disposition(document),
        hdrs.CACHE_CONTROL: "no-store",
        hdrs.ACCEPT_RANGES: "bytes",
        "X-Content-Type-Options": "nosniff",
    }
    byte_range: ByteRange | None = None
    if hdrs.IF_RANGE not in request.headers:  # no validators are given out, so none can match: whole body
        try:
            byte_range = parse_range(request.headers.get(hdrs.RANGE), length)
        except RangeNotSatisfiable:
            raise web.HTTPRequestRangeNotSatisfiable(
                headers={**headers, hdrs.CONTENT_RANGE: f"bytes */{length}"}
            ) from None
    response = web.StreamResponse(status=200 if byte_range is None else 206, headers=headers)
    if byte_range is None:
        byte_range = ByteRange(0, length, length)
    else:
        response.headers[hdrs.CONTENT_RANGE] = byte_range.content_range
    response.content_length = byte_range.end - byte_range.start
    if request.method == "HEAD":
        await response.prepare(request)
        return response
    if response.status == 200:
        await asyncio.to_thread(opened.verify)
    return await _stream(request, response, opened, byte_range)


async def _stream(
    request: web.Request, response: web.StreamResponse, opened: OpenedDocument, byte_range: ByteRange
) -> web.StreamResponse:
    chunks: Iterator[bytes] = opened.read_range(byte_range.start, byte_range.end)
    try:
        # The first segment is decrypted before the headers go: a failure there is still a clean answer.
        piece = await asyncio.to_thread(next, chunks, None)
        await response.prepare(request)
        try:
            while piece is not None:
                await response.write(piece)
                piece = await asyncio.to_thread(next, chunks, None)
        except (CryptoError, BlobNotFound) as exc:
            log.error(
                "document unreadable during download: connection aborted",
                extra={"code": exc.code, "document_id": str(opened.document.id)},
            )
            if request.transport is not None:
                request.transport.abort()
            return response
        except ConnectionError:
            return response  # the client went away; aiohttp notices it too
        await response.write_eof()
        return response
    finally:
        if isinstance(chunks, Generator):
            chunks.close()  # closes the blob's file now, not whenever the generator is collected
