"""Upload checks: the type comes from the bytes, never from the name or declared type; images are measured
from their header before decoding, re-encoded without metadata, turned upright."""

from __future__ import annotations

import io
import struct
import zlib

import pillow_heif
import pytest
from PIL import Image

from records.documents.images import prepare_upload
from records.documents.model import (
    DamagedFile,
    Kind,
    StoredType,
    TooLarge,
    TooManyPixels,
    UnsupportedType,
    UploadLimits,
    check_title,
    clean_file_name,
    jpeg_dimensions,
    safe_file_name,
    sniff,
)
from teleconsult.errors import InvalidInput

LIMITS = UploadLimits(max_bytes=5 * 1024 * 1024, max_pixels=4_000_000)
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg(size: tuple[int, int] = (40, 20), exif: Image.Exif | None = None, color: str = "red") -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, color)
    image.save(out, "JPEG", exif=exif if exif is not None else Image.Exif(), comment=b"a comment")
    return out.getvalue()


def png(size: tuple[int, int] = (30, 10)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (0, 128, 0, 200)).save(out, "PNG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = zlib.compress(b"\x00" * 1000)
    idat_chunk = struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return b"\x89PNG\r\n\x1a\n" + chunk + idat_chunk + b"\x00\x00\x00\x00IEND\xaeB`\x82"


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"xref\n0 3\n0000000000 65535 f \ntrailer << /Root 1 0 R /Size 3 >>\nstartxref\n60\n%%EOF\n"
    )


def heic(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", size, "blue")).save(out, quality=80)
    return out.getvalue()


def test_each_accepted_type_is_recognised_by_its_bytes() -> None:
    assert sniff(jpeg()[:64]) is Kind.JPEG
    assert sniff(png()[:64]) is Kind.PNG
    assert sniff(pdf()[:64]) is Kind.PDF
    assert sniff(heic()[:64]) is Kind.HEIC


@pytest.mark.parametrize(
    "head",
    [
        b"GIF89a" + b"\x00" * 40,
        b"<html><script>alert(1)</script>",
        b"PK\x03\x04" + b"\x00" * 40,  # a zip, a docx
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 20,  # an MP4 video
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmiafMA1B" + b"\x00" * 20,  # AVIF: no HEIF brand
        b"",
    ],
)
def test_other_types_are_unsupported(head: bytes) -> None:
    with pytest.raises(UnsupportedType):
        sniff(head)


@pytest.mark.parametrize("head", [b"\xff\xd8", b"\x89PN", b"%PD", b"\x00\x00\x00\x1cftyphe"])
def test_truncated_headers_are_damaged_files(head: bytes) -> None:
    with pytest.raises(DamagedFile):
        sniff(head)


def test_a_pdf_named_jpg_or_png_bytes_declared_jpeg_are_what_their_bytes_say() -> None:
    # prepare_upload is never told the declared name or type: there is nothing to lie to.
    assert prepare_upload(pdf(), LIMITS).content_type is StoredType.PDF
    assert prepare_upload(png(), LIMITS).content_type is StoredType.PNG


def test_a_jpeg_with_exif_gps_comes_out_without_any_metadata_and_upright() -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # rotate 90° clockwise to display
    exif[0x010F] = "CameraMaker"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 48.0, 10.0), 3: "E", 4: (2.0, 7.0, 30.0)})
    source = jpeg((40, 20), exif)
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(GPS_IFD)  # the test's input does carry GPS

    prepared = prepare_upload(source, LIMITS)

    out = Image.open(io.BytesIO(prepared.data))
    assert out.format == "JPEG" and prepared.content_type is StoredType.JPEG
    assert out.size == (20, 40)  # orientation applied to the pixels
    assert dict(out.getexif()) == {} and not out.getexif().get_ifd(GPS_IFD)
    assert "exif" not in out.info and "comment" not in out.info and "xmp" not in out.info
    assert b"CameraMaker" not in prepared.data and b"a comment" not in prepared.data


def test_a_heic_photo_becomes_a_jpeg() -> None:
    prepared = prepare_upload(heic((64, 48)), LIMITS)
    assert prepared.kind is Kind.HEIC and prepared.content_type is StoredType.JPEG
    assert Image.open(io.BytesIO(prepared.data)).size == (64, 48)


def test_a_png_stays_a_png_with_its_transparency_and_without_text_chunks() -> None:
    source = io.BytesIO()
    info = __import__("PIL.PngImagePlugin", fromlist=["PngInfo"]).PngInfo()
    info.add_text("Comment", "Mme Canary, chambre 12")
    Image.new("RGBA", (30, 10), (0, 128, 0, 200)).save(source, "PNG", pnginfo=info)
    prepared = prepare_upload(source.getvalue(), LIMITS)
    out = Image.open(io.BytesIO(prepared.data))
    assert out.format == "PNG" and out.mode == "RGBA" and out.size == (30, 10)
    assert b"chambre" not in prepared.data and "Comment" not in out.info


def test_a_polyglot_loses_what_was_appended_after_the_image() -> None:
    payload = b"%PDF-1.4 <html><script>alert(1)</script> %%EOF"
    prepared = prepare_upload(jpeg() + payload, LIMITS)
    assert payload not in prepared.data and b"<script>" not in prepared.data
    assert Image.open(io.BytesIO(prepared.data)).format == "JPEG"


def test_a_header_claiming_too_many_pixels_is_refused_before_decoding() -> None:
    bomb = png_claiming(50_000, 50_000)
    assert len(bomb) < 200
    with pytest.raises(TooManyPixels) as refused:
        prepare_upload(bomb, LIMITS)
    assert refused.value.status == 413 and refused.value.params == {"megapixels": "4"}


def test_jpeg_dimensions_are_read_from_the_frame_header() -> None:
    assert jpeg_dimensions(jpeg((123, 45))) == (123, 45)
    with pytest.raises(TooManyPixels):
        prepare_upload(jpeg((2100, 2000)), LIMITS)


def test_cut_or_fake_files_are_damaged() -> None:
    for data in (jpeg()[:30], png()[:40], pdf()[:-20], b"%PDF-1.4\n" + b"x" * 100, b"\xff\xd8\xff\xd9"):
        with pytest.raises(DamagedFile):
            prepare_upload(data, LIMITS)


def test_a_file_over_the_cap_is_too_large() -> None:
    with pytest.raises(TooLarge) as refused:
        prepare_upload(pdf() + b"%" * LIMITS.max_bytes, LIMITS)
    assert refused.value.status == 413 and refused.value.params == {"megabytes": "5"}


def test_titles_and_file_names_are_cleaned() -> None:
    assert check_title("  DLU   de  Mme X ") == "DLU de Mme X"
    with pytest.raises(InvalidInput):
        check_title("   ")
    with pytest.raises(InvalidInput):
        check_title("x" * 201)
    assert clean_file_name("C:\\Users\\ide\\IMG_0001.HEIC") == "IMG_0001.HEIC"
    assert clean_file_name("../../etc/passwd\x00") == "passwd"


def test_download_names_are_safe() -> None:
    assert safe_file_name('DLU "Mme X" / 12', StoredType.PDF) == "DLU_Mme X_12.pdf"
    assert safe_file_name("../..", StoredType.JPEG) == "document.jpg"
    assert safe_file_name("Plaie talon\r\nSet-Cookie: x", StoredType.PNG) == "Plaie talon_Set-Cookie_x.png"
    assert safe_file_name("Évaluation gériatrique", StoredType.PDF) == "Évaluation gériatrique.pdf"
