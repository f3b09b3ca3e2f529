"""Structured logs: JSON lines with the request id, extras kept, readable text for the demo."""

from __future__ import annotations

import json
import logging

from teleconsult.logs import JsonFormatter, TextFormatter, request_id_var


def record(**extra: object) -> logging.LogRecord:
    entry = logging.makeLogRecord({"name": "teleconsult.http", "levelname": "INFO", "msg": "request"})
    entry.__dict__.update(extra)
    return entry


def test_json_line_carries_request_id_message_and_extras() -> None:
    token = request_id_var.set("req-123456")
    try:
        line = JsonFormatter().format(record(route="/ehpad", status=200))
    finally:
        request_id_var.reset(token)
    parsed = json.loads(line)
    assert parsed["request_id"] == "req-123456"
    assert parsed["message"] == "request"
    assert (parsed["route"], parsed["status"]) == ("/ehpad", 200)
    assert "\n" not in line


def test_text_line_is_readable_with_extras() -> None:
    line = TextFormatter().format(record(route="/login", status=303))
    assert "teleconsult.http: request" in line
    assert "route=/login" in line and "status=303" in line
