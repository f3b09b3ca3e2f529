"""HTML to PDF with WeasyPrint: the one place that renders a PDF (comptes-rendus, monthly activity).

WeasyPrint needs the Pango library (Debian: ``libpango-1.0-0``, present wherever Chromium is). It is
imported on first use, so a machine without Pango still serves everything but PDFs, and a PDF request
there fails with :class:`PdfUnavailable` (a clear message) instead of an import error at start.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from types import ModuleType

from teleconsult.errors import DomainError
from teleconsult.i18n import N_

log = logging.getLogger("teleconsult.pdf")


class PdfUnavailable(DomainError):
    """The PDF renderer cannot run on this machine (Pango is missing): 503 with a plain message, logged."""

    code = "pdf_unavailable"
    status = 503
    message = N_("The PDF cannot be produced on this server for now. Tell the administrator.")


@lru_cache(maxsize=1)
def _weasyprint() -> ModuleType:
    try:
        import weasyprint
    except OSError as exc:  # the Python package is there but Pango's shared library is not
        log.error("WeasyPrint cannot load Pango", extra={"error": str(exc)})
        raise PdfUnavailable() from exc
    module: ModuleType = weasyprint
    return module


def render_pdf_sync(html: str) -> bytes:
    """The PDF of one self-contained HTML document (styles inline; no fetch of any URL)."""
    weasyprint = _weasyprint()

    def refuse(url: str) -> dict[str, object]:
        raise ValueError(f"PDF templates are self-contained; refused to fetch {url!r}")

    document = weasyprint.HTML(string=html, url_fetcher=refuse)
    data = document.write_pdf()
    if not isinstance(data, bytes):
        log.error("WeasyPrint returned no document")
        raise PdfUnavailable()
    return data


async def render_pdf(html: str) -> bytes:
    """:func:`render_pdf_sync` in a worker thread: rendering takes tens of milliseconds of CPU."""
    return await asyncio.to_thread(render_pdf_sync, html)
