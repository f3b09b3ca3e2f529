"""What the resident's page shows of documents: type names (msgids) and readable sizes."""

from __future__ import annotations

from typing import Any

from records.documents.model import StoredType
from teleconsult import i18n
from teleconsult.i18n import N_

TYPE_LABELS: dict[str, str] = {
    StoredType.JPEG: N_("Photo (JPEG)"),
    StoredType.PNG: N_("Image (PNG)"),
    StoredType.PDF: N_("PDF document"),
}

#: What the file input accepts: the allowed types by MIME type and extension (HEIC is the iPad camera's
#: format). Image types make tablets offer the camera beside the files.
ACCEPT = "image/jpeg,image/png,image/heic,image/heif,application/pdf,.jpg,.jpeg,.png,.heic,.heif,.pdf"


def file_size(length: int) -> str:
    """'850 o', '12 Ko', '3,4 Mo' in French ('850 B', '12 kB', '3.4 MB' in English)."""
    french = i18n.current_language() == "fr"
    units = ("o", "Ko", "Mo") if french else ("B", "kB", "MB")
    if length < 1024:
        return f"{length} {units[0]}"
    if length < 1024 * 1024:
        return f"{round(length / 1024)} {units[1]}"
    text = f"{length / (1024 * 1024):.1f}"
    return f"{text.replace('.', ',') if french else text} {units[2]}"


def megabytes(length: int) -> str:
    text = f"{length / (1024 * 1024):.1f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if i18n.current_language() == "fr" else text


DOCUMENT_LABELS: dict[str, Any] = {
    "document_type_labels": TYPE_LABELS,
    "document_accept": ACCEPT,
    "file_size": file_size,
    "megabytes": megabytes,
}
