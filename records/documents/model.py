"""What a resident's document is, and which uploads are accepted. Pure Python: no I/O, no clock.

The type of an upload is decided by its first bytes (its "magic"), never by the name or content type the
browser declares: a PDF named ``photo.jpg`` is a PDF, PNG bytes sent as ``image/jpeg`` are a PNG. Only
JPEG, PNG, HEIC (the iPad camera's format) and PDF are accepted. The pixel count of an image is read from
its header, before anything is decoded, so a small file that claims 50000 x 50000 pixels (a decompression
bomb) is refused without allocating its pixels.
"""

from __future__ import annotations

import re
import struct
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from teleconsult.errors import DomainError, InvalidInput
from teleconsult.i18n import N_
from teleconsult.text import has_control_characters

MAX_TITLE_LENGTH = 200
MAX_FILE_NAME_LENGTH = 255
MAX_CONTEXT_TYPE_LENGTH = 32
#: Bytes enough to sniff every accepted type and read a PNG's or HEIC's dimensions.
SNIFF_SIZE = 64


class Kind(StrEnum):
    """What an upload was found to be, by content."""

    JPEG = "jpeg"
    PNG = "png"
    HEIC = "heic"
    PDF = "pdf"

    @property
    def is_image(self) -> bool:
        return self is not Kind.PDF


class StoredType(StrEnum):
    """The content type of what is stored: HEIC photos are stored as JPEG."""

    JPEG = "image/jpeg"
    PNG = "image/png"
    PDF = "application/pdf"

    @property
    def extension(self) -> str:
        return {StoredType.JPEG: ".jpg", StoredType.PNG: ".png", StoredType.PDF: ".pdf"}[self]

    @classmethod
    def of(cls, kind: Kind) -> StoredType:
        return {Kind.JPEG: cls.JPEG, Kind.HEIC: cls.JPEG, Kind.PNG: cls.PNG, Kind.PDF: cls.PDF}[kind]


# ------------------------------------------------------------------------------------------------ errors


class DocumentError(DomainError):
    """Base of the documents' errors."""

    code = "document.error"


class UnsupportedType(DocumentError):
    code = "document.unsupported_type"
    status = 415
    message = N_("This kind of file is not accepted. Send a photo (JPEG, PNG, HEIC) or a PDF.")


class DamagedFile(DocumentError):
    """The first bytes name an accepted type, but the file is not a readable one of that type."""

    code = "document.damaged"
    status = 415
    message = N_("This file seems damaged and cannot be read. Take the photo again, or send another file.")


class TooLarge(DocumentError):
    code = "document.too_large"
    status = 413
    message = N_("This file is too large (at most %(megabytes)s MB). Send a smaller file.")


class TooManyPixels(DocumentError):
    code = "document.too_many_pixels"
    status = 413
    message = N_(
        "This image is too large (at most %(megapixels)s megapixels). Take the photo again in a lower "
        "resolution, or send a smaller image."
    )


class UnreadableDocument(DocumentError):
    """A stored document failed to decrypt or verify (altered, truncated, moved, or its key is gone)."""

    code = "document.unreadable"
    status = 500
    message = N_("Unreadable document: contact the administrator.")


# ------------------------------------------------------------------------------------------- the rules


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """The caps of one upload (Settings.upload_max_bytes and upload_max_pixels)."""

    max_bytes: int
    max_pixels: int

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_pixels < 1:
            raise ValueError("upload limits must be positive")

    def too_large(self) -> TooLarge:
        return TooLarge(megabytes=_format_decimal(self.max_bytes / (1024 * 1024)))

    def too_many_pixels(self) -> TooManyPixels:
        return TooManyPixels(megapixels=_format_decimal(self.max_pixels / 1_000_000))

    def check_size(self, length: int) -> None:
        if length > self.max_bytes:
            raise self.too_large()

    def check_pixels(self, width: int, height: int) -> None:
        if width <= 0 or height <= 0:
            raise DamagedFile()
        if width * height > self.max_pixels:
            raise self.too_many_pixels()


def _format_decimal(value: float) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")  # the French decimal comma: the message is read in French


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PDF_HEADER = re.compile(rb"%PDF-[12]\.\d")
#: ISO-BMFF brands of HEIF/HEIC still images (HEVC-coded, or generic HEIF).
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"heif"})


def sniff(head: bytes) -> Kind:
    """The kind of a file from its first bytes (at least :data:`SNIFF_SIZE` of them when it has that many);
    raises UnsupportedType for anything else, DamagedFile for a header cut short."""
    if head.startswith(b"\xff\xd8\xff"):
        return Kind.JPEG
    if head.startswith(_PNG_MAGIC):
        return Kind.PNG
    if _PDF_HEADER.match(head):
        return Kind.PDF
    if head[4:8] == b"ftyp":
        if _heif_brands(head) & HEIF_BRANDS:
            return Kind.HEIC
        raise UnsupportedType()  # MP4 video, AVIF, QuickTime...: ISO-BMFF, not a HEIC photo
    if any(head.startswith(prefix) for prefix in (b"\xff\xd8", b"\x89PN", b"%PD")):
        raise DamagedFile()
    raise UnsupportedType()


def _heif_brands(head: bytes) -> set[bytes]:
    """Major and compatible brands of the leading ``ftyp`` box (as far as ``head`` holds them)."""
    if len(head) < 16:
        raise DamagedFile()
    (box_size,) = struct.unpack(">I", head[:4])
    if box_size < 16 or box_size % 4:
        raise DamagedFile()
    end = min(box_size, len(head))
    return {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}


def png_dimensions(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, which must come first."""
    if len(data) < 33 or data[12:16] != b"IHDR" or struct.unpack(">I", data[8:12])[0] != 13:
        raise DamagedFile()
    width, height = struct.unpack(">II", data[16:24])
    return width, height


#: Start-of-frame markers (baseline, progressive, lossless, arithmetic...); not DHT (C4), JPG (C8), DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})


def jpeg_dimensions(data: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's first start-of-frame segment, walking the segments before it."""
    position = 2
    while True:
        while (
            position < len(data)
            and data[position] == 0xFF
            and position + 1 < len(data)
            and (data[position + 1] == 0xFF)
        ):
            position += 1  # fill bytes
        if position + 4 > len(data) or data[position] != 0xFF:
            raise DamagedFile()
        marker = data[position + 1]
        if marker in _STANDALONE_MARKERS:
            position += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            raise DamagedFile()
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if length < 2:
            raise DamagedFile()
        if marker in _SOF_MARKERS:
            if length < 7 or position + 9 > len(data):
                raise DamagedFile()
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        position += 2 + length


def check_pdf(data: bytes) -> None:
    """A PDF header at the start, and the end-of-file marker (with its cross-reference pointer) at the end:
    a cut-off upload or a file that only starts like a PDF is refused."""
    if not _PDF_HEADER.match(data):
        raise DamagedFile()
    tail = data[-1024:]
    if b"%%EOF" not in tail or b"startxref" not in data[-2048:]:
        raise DamagedFile()


# --------------------------------------------------------------------------------------- the document


@dataclass(frozen=True, slots=True)
class DocumentContext:
    """What a document was attached for, besides its resident: ("appointment", id), ("request", id)..."""

    type: str
    id: UUID

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z_]{0,31}", self.type):
            raise ValueError("a context type is a short lowercase word")


@dataclass(frozen=True, slots=True)
class Document:
    """A file of a resident, as stored: the plaintext's length and SHA-256, and where its blob is."""

    id: UUID
    resident_id: UUID
    ehpad_id: UUID
    title: str
    file_name: str
    content_type: StoredType
    byte_length: int
    sha256: str
    blob_id: UUID
    uploaded_by: UUID
    uploaded_at: datetime
    context: DocumentContext | None = None

    @property
    def download_name(self) -> str:
        return safe_file_name(self.title, self.content_type)


def check_title(raw: str | None) -> str:
    """The title the nurse typed; raises InvalidInput with a French message."""
    title = " ".join((raw or "").split())
    if not title:
        raise InvalidInput({"title": N_("Give the document a title (for example: DLU, wound photo).")})
    if len(title) > MAX_TITLE_LENGTH or has_control_characters(title):
        raise InvalidInput(
            {"title": N_("This title is too long or contains characters that are not allowed.")}
        )
    return title


def clean_file_name(raw: str | None) -> str:
    """The uploaded file's own name, kept (sealed) for the record: last path part, no control characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    return name.strip()[:MAX_FILE_NAME_LENGTH]


def safe_file_name(title: str, content_type: StoredType) -> str:
    """A download name made from the title: letters, digits, spaces, dots, dashes and underscores only
    (no path, no quote, no control character), at most 100 characters, with the stored type's extension."""
    kept = "".join(
        ch if (ch.isalnum() or ch in " -_.") and unicodedata.category(ch)[0] != "C" else "_" for ch in title
    )
    stem = re.sub(r"[_ ]{2,}", "_", kept).strip(" ._")[:100].rstrip(" ._") or "document"
    return stem + content_type.extension
