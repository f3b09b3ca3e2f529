"""The compte-rendu as an A4 PDF: web/templates/reports/pdf.html (self-contained: inline styles, no image,
no URL) rendered by teleconsult.pdf. Rendered in the request's language like the pages."""

from __future__ import annotations

from records.reports.service import ReportPage
from teleconsult.pdf import render_pdf
from teleconsult.rendering import Renderer

TEMPLATE = "reports/pdf.html"


def report_html(renderer: Renderer, page: ReportPage) -> str:
    return renderer.render(TEMPLATE, {"page": page, "report": page.report, "view": page.appointment})


async def render_report_pdf(renderer: Renderer, page: ReportPage) -> bytes:
    return await render_pdf(report_html(renderer, page))
