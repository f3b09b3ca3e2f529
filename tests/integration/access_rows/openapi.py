"""Access rows: the OpenAPI document of the JSON API (teleconsult/openapi.py). Public: it describes the
shape of requests and answers, never data."""

from __future__ import annotations

from tests.integration.access_columns import ANY, Column, public

ROWS: dict[str, dict[str, Column]] = {
    "api.openapi": {ANY: public()},
}
