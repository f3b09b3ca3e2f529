"""Checking and re-encoding an upload before it is encrypted. Pure computation (Pillow, pillow-heif), no
I/O: the service runs :func:`prepare_upload` in a thread, since decoding a photo takes tens of milliseconds.

Images are decoded and written again: the EXIF orientation is applied to the pixels, and nothing but the
pixels survives (no EXIF, so no GPS position or camera serial; no XMP, no comment, no embedded thumbnail,
nor anything appended after the image, as in polyglot files). JPEG and HEIC become JPEG, PNG stays PNG.
The pixel count is checked from the header before decoding. PDFs are kept byte for byte once their
header and end marker are found.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from records.documents.model import (
    DamagedFile,
    Kind,
    StoredType,
    UploadLimits,
    check_pdf,
    jpeg_dimensions,
    png_dimensions,
    sniff,
)

JPEG_QUALITY = 90
#: Modes a PNG is written in as they are; any other (palette, CMYK, 32-bit...) is converted first.
_PNG_MODES = frozenset({"1", "L", "LA", "RGB", "RGBA", "I;16"})
#: What Pillow and libheif raise on a file they cannot decode (struct.error and EOFError on cut files).
_DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, RuntimeError)


@dataclass(frozen=True, slots=True)
class PreparedUpload:
    """What is encrypted and stored for an accepted upload."""

    kind: Kind
    content_type: StoredType
    data: bytes


def prepare_upload(data: bytes, limits: UploadLimits) -> PreparedUpload:
    """Sniff, check and (images) re-encode an upload already capped at ``limits.max_bytes``. Raises
    UnsupportedType / DamagedFile (415) or TooManyPixels / TooLarge (413)."""
    limits.check_size(len(data))
    kind = sniff(data[:64])
    if kind is Kind.PDF:
        check_pdf(data)
        return PreparedUpload(kind, StoredType.PDF, data)
    if kind is Kind.PNG:
        limits.check_pixels(*png_dimensions(data))
    elif kind is Kind.JPEG:
        limits.check_pixels(*jpeg_dimensions(data))
    image = _decode_heic(data, limits) if kind is Kind.HEIC else _decode(data, limits)
    content_type = StoredType.of(kind)
    return PreparedUpload(kind, content_type, _encode(image, content_type))


def _decode(data: bytes, limits: UploadLimits) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as opened:
            # Pillow's own header: must agree with the one read above (a second frame header cannot widen it).
            limits.check_pixels(*opened.size)
            opened.load()
            return ImageOps.exif_transpose(opened)
    except Image.DecompressionBombError:
        raise limits.too_many_pixels() from None
    except _DECODE_ERRORS as exc:
        raise DamagedFile() from exc


def _decode_heic(data: bytes, limits: UploadLimits) -> Image.Image:
    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        limits.check_pixels(*heif.size)  # read from the container; pixels are decoded on first access
        # libheif applies the container's rotation and mirroring itself (and its EXIF orientation is only
        # informational), so no EXIF transposition here: it would turn the photo twice.
        return heif.to_pillow()
    except _DECODE_ERRORS as exc:
        raise DamagedFile() from exc


def _encode(image: Image.Image, content_type: StoredType) -> bytes:
    if content_type is StoredType.JPEG:
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
    elif image.mode not in _PNG_MODES:
        has_alpha = "A" in image.getbands() or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    image.info.clear()  # nothing of the original's metadata may reach the encoder through the image
    out = io.BytesIO()
    if content_type is StoredType.JPEG:
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    else:
        image.save(out, "PNG")
    return out.getvalue()
