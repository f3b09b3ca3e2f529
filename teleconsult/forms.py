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
from uuid import UUID

from aiohttp import web

from teleconsult.errors import InvalidInput, MalformedRequest
from teleconsult.i18n import N_

REQUIRED = N_("This field is required.")


async def read_form(request: web.Request) -> dict[str, str]:
    """The url-encoded or multipart form as a flat dict of strings (the last value wins)."""
    try:
        data = await request.post()
    except (ValueError, UnicodeDecodeError, AssertionError) as exc:
        raise MalformedRequest() from exc
    return {key: value for key, value in data.items() if isinstance(value, str)}


async def read_json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError) as exc:
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


def uuid_in_path(request: web.Request, name: str) -> UUID:
    """A UUID from the URL; anything else is a page that does not exist."""
    try:
        return UUID(request.match_info[name])
    except ValueError as exc:
        raise web.HTTPNotFound() from exc
