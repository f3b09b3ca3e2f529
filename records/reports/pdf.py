"""The comptes-rendus as A4 PDFs: web/templates/reports/pdf.html (a teleconsultation's) and
expertise_pdf.html (a tele-expertise answer's), both on _pdf_base.html (self-contained: inline styles, no
image, no URL), rendered by teleconsult.pdf. Rendered in the request's language like the pages."""

from __future__ import annotations

from records.reports.expertise_pdf import ExpertisePdfPage
from records.reports.service import ReportPage
from scheduling.expertise.pages import LEVEL_LABELS
from scheduling.expertise.pages import OUTCOME_LABELS as ANSWER_OUTCOME_LABELS
from teleconsult.pdf import render_pdf
from teleconsult.rendering import Renderer

TEMPLATE = "reports/pdf.html"
EXPERTISE_TEMPLATE = "reports/expertise_pdf.html"


def report_html(renderer: Renderer, page: ReportPage) -> str:
    return renderer.render(TEMPLATE, {"page": page, "report": page.report, "view": page.appointment})


async def render_report_pdf(renderer: Renderer, page: ReportPage) -> bytes:
    return await render_pdf(report_html(renderer, page))


def expertise_html(renderer: Renderer, page: ExpertisePdfPage) -> str:
    return renderer.render(
        EXPERTISE_TEMPLATE,
        {
            "page": page,
            "view": page.view,
            "level_labels": LEVEL_LABELS,
            "answer_outcome_labels": ANSWER_OUTCOME_LABELS,
        },
    )


async def render_expertise_pdf(renderer: Renderer, page: ExpertisePdfPage) -> bytes:
    return await render_pdf(expertise_html(renderer, page))
