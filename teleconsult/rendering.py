"""Jinja2 environment: autoescaped HTML, the i18n extension bound to the request's language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from teleconsult import i18n


class Renderer:
    def __init__(self, templates_dir: Path, globals_: dict[str, Any] | None = None) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates_dir),
            autoescape=jinja2.select_autoescape(["html", "xml"]),
            extensions=["jinja2.ext.i18n"],
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            enable_async=False,
        )
        self.env.install_gettext_callables(  # type: ignore[attr-defined]
            i18n.gettext_, i18n.ngettext_, newstyle=True
        )
        self.env.filters["datetime"] = i18n.local_datetime
        self.env.filters["date"] = i18n.local_date
        self.env.filters["time"] = i18n.local_time
        self.env.filters["time_seconds"] = i18n.local_time_seconds
        self.env.filters["decimal"] = i18n.local_decimal
        self.env.filters["day"] = i18n.local_day
        self.env.globals.update(globals_ or {})

    def render(self, template: str, context: dict[str, Any]) -> str:
        return self.env.get_template(template).render(context)
