"""The monthly activity report as a PDF: the page's figures in a self-contained HTML document (styles and
SVG charts inline), rendered by teleconsult.pdf. Used by the page's link and by the command
``teleconsult report monthly``."""

from __future__ import annotations

from datetime import datetime

from records.activity.service import Activity
from records.activity.tables import COLUMNS, OUTCOME_LABELS, SUMMARY
from records.reports.model import Outcome
from teleconsult.pdf import render_pdf
from teleconsult.rendering import Renderer


def monthly_html(renderer: Renderer, activity: Activity, now: datetime) -> str:
    columns = {column.name: column for column in COLUMNS}
    return renderer.render(
        "activity/monthly_pdf.html",
        {
            "activity": activity,
            "summary": [columns[name] for name in SUMMARY],
            "outcomes": list(Outcome),
            "outcome_labels": OUTCOME_LABELS,
            "generated_at": now,
        },
    )


async def monthly_pdf(renderer: Renderer, activity: Activity, now: datetime) -> bytes:
    return await render_pdf(monthly_html(renderer, activity, now))
