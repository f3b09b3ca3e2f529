"""Reading client input: forms and JSON bodies, with per-field errors and never an exception that leaks.

Routes declare the fields they expect with :class:`Field` and call :func:`parse`; anything malformed
becomes :class:`~teleconsult.errors.MalformedRequest` (400) or :class:`~teleconsult.errors.InvalidInput`
(422, a message per field), never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from teleconsult.errors import InvalidInput, MalformedRequest
from teleconsult.i18n import N_
from teleconsult.text import has_control_characters

REQUIRED = N_("This field is required.")


#: What aiohttp raises on a body it cannot parse: bad encoding or charset name (LookupError), broken
#: multipart (ValueError, AssertionError, HttpProcessingError such as LineTooLong or InvalidHeader).
UNREADABLE_BODY = (ValueError, LookupError, AssertionError, HttpProcessingError)


async def read_form_lists(request: web.Request) -> dict[str, list[str]]:
    """The url-encoded or multipart form, every value of every field (files are ignored)."""
    try:
        data = await request.post()
    except UNREADABLE_BODY as exc:
        raise MalformedRequest() from exc
    values: dict[str, list[str]] = {}
    for key, value in data.items():
        if isinstance(value, str):
            values.setdefault(key, []).append(value)
    return values


async def read_form(request: web.Request) -> dict[str, str]:
    """The url-encoded or multipart form as a flat dict of strings (the last value wins)."""
    return {key: values[-1] for key, values in (await read_form_lists(request)).items()}


async def read_json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except UNREADABLE_BODY as exc:
        raise MalformedRequest(N_("The request body is not valid JSON.")) from exc
    if not isinstance(body, dict):
        raise MalformedRequest(N_("The request body must be a JSON object."))
    return body


async def read_input(request: web.Request) -> dict[str, Any]:
    """JSON when the client sends JSON, the form otherwise."""
    if request.content_type == "application/json":
        return await read_json(request)
    return await read_form(request)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    required: bool = True
    max_length: int = 200
    convert: Callable[[str], Any] | None = None
    invalid: str = N_("This value is not valid.")


def parse(data: Mapping[str, Any], fields: list[Field]) -> dict[str, Any]:
    """Values by field name; raises InvalidInput listing every field that is missing or wrong."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in fields:
        raw = data.get(spec.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if spec.required:
                errors[spec.name] = REQUIRED
            values[spec.name] = None
            continue
        if isinstance(raw, bool | int | float):
            raw = str(raw)
        if not isinstance(raw, str):
            errors[spec.name] = spec.invalid
            continue
        raw = raw.strip()
        if has_control_characters(raw):
            errors[spec.name] = N_("This value contains characters that are not allowed.")
            continue
        if len(raw) > spec.max_length:
            errors[spec.name] = N_("This value is too long.")
            continue
        if spec.convert is None:
            values[spec.name] = raw
            continue
        try:
            values[spec.name] = spec.convert(raw)
        except (ValueError, KeyError):
            errors[spec.name] = spec.invalid
    if errors:
        raise InvalidInput(errors)
    return values


def local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None: never '//evil.example' or 'https://...'
    (an open redirect), nor anything 500 characters or longer. Control characters and backslashes are
    refused outright: browsers and URL libraries drop or rewrite them (slash, tab, slash becomes '//')."""
    if not target or len(target) >= 500 or not target.startswith("/") or target.startswith("//"):
        return None
    if any(ord(ch) < 0x20 or ch in "\\\x7f" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def uuid_in_path(request: web.Request, name: str) -> UUID:
    """A UUID from the URL; anything else is a page that does not exist."""
    try:
        return UUID(request.match_info[name])
    except ValueError as exc:
        raise web.HTTPNotFound() from exc
