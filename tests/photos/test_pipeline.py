"""Tests for fieldwork.photos.pipeline.

Every input is generated here with Pillow / pillow_heif so no binary fixtures live in the repo.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import random
import re
from datetime import datetime, timedelta, timezone
from itertools import combinations

import pillow_heif
import pytest
from PIL import Image, ImageCms, ImageDraw, ImageFile, ImageOps, PngImagePlugin, features
from PIL.JpegImagePlugin import JpegImageFile

from fieldwork.photos import pipeline
from fieldwork.photos.pipeline import (
    ERROR_MESSAGES,
    PHASH_MATCH_DISTANCE,
    PhotoError,
    ProcessedPhoto,
    dhash,
    hamming,
    phash_matches,
    process_photo,
    sniff_mime,
)

RED = (230, 20, 20)
BLUE = (30, 70, 200)
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
CJK = re.compile(r"[\u4e00-\u9fff]")


# --- helpers ---------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def upright_scene(width: int = 160, height: int = 100) -> Image.Image:
    """Landscape picture whose correct orientation is checkable: red block in the top-left."""
    image = Image.new("RGB", (width, height), BLUE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width // 4, height // 4), fill=RED)
    draw.ellipse((width // 2, height // 3, width - 10, height - 10), fill=(240, 240, 60))
    return image


def photo_like(width: int, height: int, seed: int) -> Image.Image:
    """Smooth lighting, objects and grain: closer to a phone photo than a flat test card."""
    rng = random.Random(seed)
    light = Image.linear_gradient("L").rotate(rng.randrange(360), fillcolor=128)
    base = Image.merge(
        "RGB", (light, Image.radial_gradient("L"), light.transpose(Image.Transpose.ROTATE_90))
    ).resize((width, height))
    draw = ImageDraw.Draw(base)
    for _ in range(25):
        x, y = rng.randrange(width), rng.randrange(height)
        box = (
            x,
            y,
            x + rng.randrange(width // 20, width // 3),
            y + rng.randrange(height // 20, height // 3),
        )
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, fill=colour)
    grain = Image.effect_noise((width, height), 30)
    return Image.blend(base, Image.merge("RGB", (grain, grain, grain)), 0.1)


def exif_with(**tags: object) -> Image.Exif:
    exif = Image.Exif()
    for key, value in tags.items():
        if key == "orientation":
            exif[0x0112] = value
        elif key == "make":
            exif[0x010F] = value
        elif key == "model":
            exif[0x0110] = value
        elif key == "datetime":
            exif[0x0132] = value
        elif key == "original":
            exif.get_ifd(EXIF_IFD)[0x9003] = value
        elif key == "offset_original":
            exif.get_ifd(EXIF_IFD)[0x9011] = value
        elif key == "gps":
            exif.get_ifd(GPS_IFD).update(
                {1: "N", 2: (33.0, 0.0, 0.0), 3: "E", 4: (112.0, 31.0, 48.0)}
            )
        else:
            raise KeyError(key)
    return exif


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def is_red(pixel: tuple[int, ...]) -> bool:
    r, g, b = pixel[:3]
    return r > 180 and g < 90 and b < 90


def assert_photo_error(excinfo: pytest.ExceptionInfo[PhotoError], code: str) -> None:
    err = excinfo.value
    assert err.code == code
    assert err.message and CJK.search(err.message), err.message
    assert str(err) == err.message


# --- happy paths -----------------------------------------------------------------------------


def test_jpeg_roundtrip_fields() -> None:
    source = encode(upright_scene(), quality=95)
    result = process_photo(source)

    assert isinstance(result, ProcessedPhoto)
    assert result.source_format == "JPEG"
    assert result.mime == "image/jpeg"
    assert (result.width, result.height) == (160, 100)
    assert result.upload_sha256 == hashlib.sha256(source).hexdigest()
    assert result.stored_sha256 == hashlib.sha256(result.data).hexdigest()
    assert result.upload_sha256 != result.stored_sha256
    assert re.fullmatch(r"[0-9a-f]{16}", result.phash)
    assert result.taken_at is None
    stored = decode(result.data)
    assert stored.format == "JPEG" and stored.mode == "RGB"
    assert stored.size == (160, 100)
    assert is_red(stored.getpixel((5, 5)))


def test_result_is_immutable() -> None:
    result = process_photo(encode(upright_scene()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.width = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fmt", "params", "expected"),
    [
        ("PNG", {}, "PNG"),
        ("WEBP", {"quality": 90}, "WEBP"),
        ("HEIF", {"quality": 90}, "HEIF"),
    ],
)
def test_other_accepted_formats(fmt: str, params: dict[str, object], expected: str) -> None:
    result = process_photo(encode(upright_scene(), fmt, **params))
    assert result.source_format == expected
    assert (result.width, result.height) == (160, 100)
    stored = decode(result.data)
    assert stored.format == "JPEG"
    assert is_red(stored.getpixel((5, 5)))
    assert not is_red(stored.getpixel((150, 90)))


def test_pillow_heif_is_registered_and_encodes() -> None:
    heic = pillow_heif.from_pillow(upright_scene())
    out = io.BytesIO()
    heic.save(out, quality=80)
    assert sniff_mime(out.getvalue()) == "image/heic"
    assert process_photo(out.getvalue()).source_format == "HEIF"


def test_heic_with_orientation_and_capture_time() -> None:
    """iPhone style: pixels stored sideways, orientation and capture time in EXIF."""
    stored_sideways = upright_scene().transpose(Image.Transpose.ROTATE_90)
    exif = exif_with(orientation=6, original="2024:03:09 15:20:01", offset_original="+08:00")
    result = process_photo(encode(stored_sideways, "HEIF", quality=90, exif=exif.tobytes()))
    assert (result.width, result.height) == (160, 100)
    assert is_red(decode(result.data).getpixel((5, 5)))
    assert result.taken_at == datetime(2024, 3, 9, 15, 20, 1, tzinfo=timezone(timedelta(hours=8)))


def test_mpo_multi_picture_jpeg_is_accepted_as_jpeg() -> None:
    # Many Android phones write MPO (JPEG plus depth/preview pictures); Pillow calls it "MPO".
    data = encode(upright_scene(), "MPO", save_all=True, append_images=[Image.new("RGB", (8, 8))])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    result = process_photo(data)
    assert result.source_format == "JPEG"
    assert (result.width, result.height) == (160, 100)


# Stored pixels = the INVERSE of the transform a viewer applies for that orientation tag
# (EXIF 2.32, tag 0x0112). Written independently of the pipeline's own table on purpose.
INVERSE_FOR_ORIENTATION: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,  # mirrored: self-inverse
    3: Image.Transpose.ROTATE_180,  # upside down: self-inverse
    4: Image.Transpose.FLIP_TOP_BOTTOM,  # self-inverse
    5: Image.Transpose.TRANSPOSE,  # mirror across main diagonal: self-inverse
    6: Image.Transpose.ROTATE_90,  # viewer turns it 90 deg clockwise, so stored anticlockwise
    7: Image.Transpose.TRANSVERSE,  # self-inverse
    8: Image.Transpose.ROTATE_270,  # viewer turns 90 deg anticlockwise
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    scene = upright_scene(160, 100)
    inverse = INVERSE_FOR_ORIENTATION[orientation]
    stored = scene.transpose(inverse) if inverse is not None else scene
    data = encode(stored, quality=95, exif=exif_with(orientation=orientation).tobytes())

    # Cross-check the fixture against Pillow's reference implementation.
    reference = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert reference.size == (160, 100) and is_red(reference.getpixel((5, 5)))

    result = process_photo(data)
    assert result.width > result.height
    assert (result.width, result.height) == (160, 100)
    out = decode(result.data)
    assert is_red(out.getpixel((5, 5)))
    for corner in ((154, 5), (5, 94), (154, 94)):
        assert not is_red(out.getpixel(corner)), (orientation, corner)
    assert not out.getexif()


def test_orientation_applied_on_downscaled_12mp_jpeg() -> None:
    # Draft decoding plus orientation 6 is the common path for a raw phone upload.
    sideways = photo_like(4000, 3000, seed=1)
    ImageDraw.Draw(sideways).rectangle((0, 2000, 1000, 3000), fill=RED)  # upright top-left
    data = encode(sideways, quality=85, exif=exif_with(orientation=6).tobytes())
    result = process_photo(data)
    assert (result.width, result.height) == (1200, 1600)
    assert is_red(decode(result.data).getpixel((20, 20)))


def test_metadata_is_stripped() -> None:
    exif = exif_with(make="Xiaomi", model="Redmi Note 12", gps=True, original="2024:05:17 10:32:08")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = encode(
        upright_scene(), quality=95, exif=exif.tobytes(), icc_profile=icc, comment=b"helper Wang"
    )
    assert decode(source).getexif().get_ifd(GPS_IFD)  # the input really carries GPS

    result = process_photo(source)
    for blob in (result.data, result.thumb):
        out = decode(blob)
        assert not out.getexif()
        assert not out.getexif().get_ifd(GPS_IFD)
        for key in ("exif", "icc_profile", "xmp", "comment", "XML:com.adobe.xmp"):
            assert key not in out.info, key
        assert b"Exif" not in blob
        assert b"Xiaomi" not in blob and b"Redmi" not in blob
        assert b"helper Wang" not in blob
    # Capture time is still extracted before stripping.
    assert result.taken_at == datetime(2024, 5, 17, 10, 32, 8)


def test_png_text_and_exif_are_stripped() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "helper Wang")
    source = encode(upright_scene(), "PNG", pnginfo=info, exif=exif_with(make="OPPO").tobytes())
    result = process_photo(source)
    assert b"helper Wang" not in result.data and b"OPPO" not in result.data
    assert not decode(result.data).getexif()


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"original": "2024:05:17 10:32:08"}, datetime(2024, 5, 17, 10, 32, 8)),
        (
            {"original": "2024:05:17 10:32:08", "offset_original": "+08:00"},
            datetime(2024, 5, 17, 10, 32, 8, tzinfo=timezone(timedelta(hours=8))),
        ),
        (
            {"original": "2023:12:31 23:59:59", "offset_original": "-05:30"},
            datetime(2023, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
        ({"datetime": "2022:01:02 03:04:05"}, datetime(2022, 1, 2, 3, 4, 5)),
        (
            {"original": "0000:00:00 00:00:00", "datetime": "2022:01:02 03:04:05"},
            datetime(2022, 1, 2, 3, 4, 5),
        ),
        ({"original": "    :  :     :  :  "}, None),
        (
            {"original": "2024:05:17 10:32:08", "offset_original": "junk"},
            datetime(2024, 5, 17, 10, 32, 8),
        ),
        ({"make": "Huawei"}, None),
    ],
)
def test_capture_time(tags: dict[str, str], expected: datetime | None) -> None:
    result = process_photo(encode(upright_scene(), exif=exif_with(**tags).tobytes()))
    assert result.taken_at == expected
    if expected is not None:
        assert (result.taken_at.tzinfo is None) == (expected.tzinfo is None)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_malformed_exif_does_not_reject_the_photo() -> None:
    source = encode(upright_scene(), exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff\x01")
    result = process_photo(source)
    assert result.taken_at is None
    assert (result.width, result.height) == (160, 100)


def test_long_edge_capped_and_thumbnail() -> None:
    result = process_photo(encode(photo_like(3000, 2000, seed=2), "PNG", compress_level=1))
    assert (result.width, result.height) == (1600, 1067)
    assert decode(result.data).size == (1600, 1067)
    thumb = decode(result.thumb)
    assert thumb.format == "JPEG"
    assert max(thumb.size) == 320 and thumb.size == (320, 213)


def test_custom_caps() -> None:
    result = process_photo(encode(photo_like(1000, 1500, seed=3)), max_px=600, thumb_px=100)
    assert (result.width, result.height) == (400, 600)
    assert decode(result.thumb).size == (67, 100)


def test_small_images_are_not_upscaled() -> None:
    result = process_photo(encode(upright_scene(100, 60)))
    assert (result.width, result.height) == (100, 60)
    assert decode(result.thumb).size == (100, 60)


def test_12_megapixel_jpeg_is_capped_using_draft(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, object]] = []
    real_draft = JpegImageFile.draft

    def spy(self: JpegImageFile, mode: str | None, size: tuple[int, int] | None) -> object:
        calls.append((mode, size))
        return real_draft(self, mode, size)

    monkeypatch.setattr(JpegImageFile, "draft", spy)
    source = encode(photo_like(4000, 3000, seed=4), quality=90)
    result = process_photo(source)
    assert (result.width, result.height) == (1600, 1200)
    assert max(decode(result.thumb).size) <= 320
    # The draft size must keep the aspect ratio, or libjpeg cannot pick the 1/2 scale.
    assert calls == [("RGB", (1600, 1200))]


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparency_is_flattened_onto_white(mode: str) -> None:
    image = Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((40, 20, 80, 60), fill=(0, 0, 0, 255))
    if mode == "LA":
        image = image.convert("LA")
    elif mode == "P":
        image = image.convert("P")  # transparent pixels become a palette entry + tRNS
    source = encode(image, "PNG")
    assert "transparency" in Image.open(io.BytesIO(source)).info or mode != "P"

    out = decode(process_photo(source).data)
    assert out.mode == "RGB"
    assert min(out.getpixel((5, 5))) >= 245  # formerly transparent -> white, not black
    assert max(out.getpixel((60, 40))) <= 20


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (64, 48), 128),
        Image.new("1", (64, 48), 1),
        Image.new("I;16", (64, 48), 40000),
        Image.new("CMYK", (64, 48), (0, 255, 255, 0)),
    ],
    ids=["grey", "bilevel", "16bit", "cmyk"],
)
def test_unusual_modes_become_rgb(image: Image.Image) -> None:
    fmt = "JPEG" if image.mode in ("L", "CMYK") else "PNG"
    out = decode(process_photo(encode(image, fmt)).data)
    assert out.mode == "RGB" and out.size == (64, 48)


# --- bad input -------------------------------------------------------------------------------


def test_error_messages_are_chinese_and_complete() -> None:
    assert set(ERROR_MESSAGES) == {
        "empty",
        "too_large",
        "not_image",
        "unsupported_format",
        "decompression_bomb",
        "corrupt",
    }
    for message in ERROR_MESSAGES.values():
        assert CJK.search(message)
    with pytest.raises(ValueError, match="unknown photo error code"):
        PhotoError("nope")


def test_empty() -> None:
    with pytest.raises(PhotoError) as excinfo:
        process_photo(b"")
    assert_photo_error(excinfo, "empty")


def test_too_large_with_custom_limit() -> None:
    source = encode(upright_scene())
    process_photo(source, max_bytes=len(source))  # exactly at the limit is fine
    with pytest.raises(PhotoError) as excinfo:
        process_photo(source, max_bytes=len(source) - 1)
    assert_photo_error(excinfo, "too_large")
    assert "MB" in excinfo.value.message


def test_too_large_default_limit_checked_before_parsing() -> None:
    data = b"\xff\xd8\xff" + b"\x00" * (15 * 1024 * 1024)
    with pytest.raises(PhotoError) as excinfo:
        process_photo(data)
    assert_photo_error(excinfo, "too_large")


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is not a photo\n" * 20,
        "低保户走访记录：张三，家庭人口 3 人。\n".encode() * 10,
        b"<!DOCTYPE html><html><head><title>x</title></head><body><img src=a.jpg></body></html>",
        b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
        b'width="4000" height="3000"><rect width="100%" height="100%" fill="red"/></svg>',
        b"%PDF-1.4\n1 0 obj<< /Type /Catalog >>endobj\ntrailer<< /Root 1 0 R >>\n%%EOF\n",
        b"PK\x03\x04" + b"\x00" * 100,
        b"\x00",
    ],
    ids=["text", "chinese-text", "html", "svg", "pdf", "zip", "one-byte"],
)
def test_not_an_image(data: bytes) -> None:
    with pytest.raises(PhotoError) as excinfo:
        process_photo(data)
    assert_photo_error(excinfo, "not_image")


def test_real_pdf_from_pillow_is_not_an_image() -> None:
    with pytest.raises(PhotoError) as excinfo:
        process_photo(encode(upright_scene(), "PDF"))
    assert_photo_error(excinfo, "not_image")


UNSUPPORTED = ["GIF", "BMP", "TIFF", "ICO", "PPM", "JPEG2000"]
if features.check("avif"):
    UNSUPPORTED.append("AVIF")


@pytest.mark.parametrize("fmt", UNSUPPORTED)
def test_unsupported_image_formats_are_refused(fmt: str) -> None:
    with pytest.raises(PhotoError) as excinfo:
        process_photo(encode(upright_scene(), fmt))
    assert_photo_error(excinfo, "unsupported_format")
    assert fmt in excinfo.value.message


def _forbid_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded before the size check")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def test_decompression_bomb_png_default_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # 64 megapixels of 1-bit zeros compress to ~8 KB: tiny upload, 192 MB once made RGB. It is
    # below Pillow's own global limit (~89 MP), so only our explicit max_pixels can catch it.
    data = encode(Image.new("1", (8000, 8000)), "PNG")
    assert len(data) < 100_000
    assert 8000 * 8000 < Image.MAX_IMAGE_PIXELS
    _forbid_pixel_decoding(monkeypatch)
    with pytest.raises(PhotoError) as excinfo:
        process_photo(data)
    assert_photo_error(excinfo, "decompression_bomb")


def test_decompression_bomb_beyond_pillows_own_limit() -> None:
    # Above 2 x Image.MAX_IMAGE_PIXELS Pillow itself raises DecompressionBombError on open.
    data = encode(Image.new("1", (20000, 20000)), "PNG")
    with pytest.raises(PhotoError) as excinfo:
        process_photo(data)
    assert_photo_error(excinfo, "decompression_bomb")


def test_decompression_bomb_with_lowered_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(upright_scene(160, 100))
    process_photo(data, max_pixels=16_000)  # exactly at the limit is fine
    _forbid_pixel_decoding(monkeypatch)
    with pytest.raises(PhotoError) as excinfo:
        process_photo(data, max_pixels=15_999)
    assert_photo_error(excinfo, "decompression_bomb")


def test_decompression_bomb_jpeg_header(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 1 KB JPEG whose frame header claims 60000 x 60000 pixels.
    data = bytearray(encode(Image.new("RGB", (16, 16))))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") * 2
    _forbid_pixel_decoding(monkeypatch)
    with pytest.raises(PhotoError) as excinfo:
        process_photo(bytes(data))
    assert_photo_error(excinfo, "decompression_bomb")


@pytest.mark.parametrize("kind", ["zTXt", "iTXt"])
def test_png_with_huge_compressed_text_chunk(kind: str) -> None:
    # ~20 MB of one character deflates to ~20 KB; Pillow refuses to inflate it (MAX_TEXT_CHUNK).
    info = PngImagePlugin.PngInfo()
    if kind == "zTXt":
        info.add_text("Comment", "a" * 20_000_000, zip=True)
    else:
        info.add_itxt("Comment", "好" * 7_000_000, lang="zh", zip=True)
    data = encode(upright_scene(), "PNG", pnginfo=info)
    assert len(data) < 200_000
    with pytest.raises(PhotoError) as excinfo:
        process_photo(data)
    assert_photo_error(excinfo, "decompression_bomb")


@pytest.mark.parametrize(
    ("fmt", "params", "keep"),
    [
        ("JPEG", {"quality": 90}, 0.5),
        ("JPEG", {"quality": 90, "progressive": True}, 0.5),
        ("PNG", {}, 0.5),
        ("WEBP", {"quality": 90}, 0.5),
        ("HEIF", {"quality": 90}, 0.5),
        ("HEIF", {"quality": 90}, 0.95),
    ],
)
def test_truncated_upload_is_corrupt(fmt: str, params: dict[str, object], keep: float) -> None:
    whole = encode(photo_like(400, 300, seed=5), fmt, **params)
    with pytest.raises(PhotoError) as excinfo:
        process_photo(whole[: int(len(whole) * keep)])
    assert_photo_error(excinfo, "corrupt")


def _png_chunks(data: bytes) -> dict[bytes, int]:
    """Chunk type -> offset of its length field (last one wins)."""
    offsets, pos = {}, 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        offsets[bytes(data[pos + 4 : pos + 8])] = pos
        pos += 12 + length
    return offsets


def test_png_with_bad_checksum_is_corrupt() -> None:
    # The pixels still decode, so only verify() notices the damaged transfer.
    data = bytearray(encode(upright_scene(), "PNG"))
    idat = _png_chunks(bytes(data))[b"IDAT"]
    crc_at = idat + 8 + int.from_bytes(data[idat : idat + 4], "big")
    data[crc_at] ^= 0xFF
    with pytest.raises(PhotoError) as excinfo:
        process_photo(bytes(data))
    assert_photo_error(excinfo, "corrupt")


def test_png_cut_just_before_the_end_is_corrupt() -> None:
    data = encode(upright_scene(), "PNG")
    with pytest.raises(PhotoError) as excinfo:
        process_photo(data[: _png_chunks(data)[b"IEND"]])
    assert_photo_error(excinfo, "corrupt")


@pytest.mark.parametrize(("fmt", "keep"), [("JPEG", 4), ("PNG", 8), ("WEBP", 16), ("HEIF", 40)])
def test_upload_cut_after_signature_is_corrupt_not_not_image(fmt: str, keep: int) -> None:
    # It is a photo whose upload broke off; "not a photo" would be the wrong advice.
    data = encode(upright_scene(), fmt)[:keep]
    assert sniff_mime(data) is not None
    with pytest.raises(PhotoError) as excinfo:
        process_photo(data)
    assert_photo_error(excinfo, "corrupt")


def test_truncated_images_stay_errors() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_refuses_to_run_if_truncated_loading_was_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        process_photo(encode(upright_scene()))


@pytest.mark.filterwarnings("error")
def test_escalated_pillow_warnings_do_not_escape() -> None:
    # With `-W error` Pillow's DecompressionBombWarning becomes an exception; still a PhotoError.
    data = encode(Image.new("1", (10000, 10000)), "PNG")
    with pytest.raises(PhotoError) as excinfo:
        process_photo(data, max_pixels=10**9)
    assert_photo_error(excinfo, "decompression_bomb")


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the mangled EXIF
def test_random_corruption_never_escapes() -> None:
    rng = random.Random(20240517)
    sources = [
        encode(
            upright_scene(),
            quality=90,
            exif=exif_with(orientation=6, original="2024:01:01 00:00:00").tobytes(),
        ),
        encode(upright_scene(), "PNG"),
        encode(upright_scene(), "WEBP"),
        encode(upright_scene(), "HEIF", quality=60),
    ]
    for source in sources:
        for _ in range(60):
            data = bytearray(source)
            if rng.random() < 0.3:
                data = data[: rng.randrange(1, len(data))]
            else:
                for _ in range(rng.randrange(1, 10)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            try:
                process_photo(bytes(data))
            except PhotoError as err:
                assert err.code in ERROR_MESSAGES


# --- perceptual hash -------------------------------------------------------------------------


def _scenes() -> dict[str, Image.Image]:
    shapes = Image.new("RGB", (640, 480), (200, 190, 170))
    draw = ImageDraw.Draw(shapes)
    rng = random.Random(3)
    for _ in range(12):
        x, y = rng.randrange(640), rng.randrange(480)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x, y, x + rng.randrange(40, 200), y + rng.randrange(40, 200)), fill=colour)
    return {
        "gradient": Image.linear_gradient("L").resize((640, 480)).convert("RGB"),
        "noise": Image.merge("RGB", [Image.effect_noise((640, 480), 60) for _ in range(3)]),
        "shapes": shapes,
        "fractal": Image.effect_mandelbrot((640, 480), (-2, -1.2, 1, 1.2), 100).convert("RGB"),
        "photo_a": photo_like(1200, 900, seed=11),
        "photo_b": photo_like(1200, 900, seed=12),
    }


@pytest.fixture(scope="module")
def scenes() -> dict[str, Image.Image]:
    return _scenes()


@pytest.mark.parametrize("name", ["gradient", "shapes", "fractal", "photo_a", "photo_b"])
def test_phash_matches_reencoded_and_resized_copies(
    scenes: dict[str, Image.Image], name: str
) -> None:
    image = scenes[name]
    original = process_photo(encode(image, quality=92)).phash
    half = image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)
    variants = {
        "jpeg-q40": encode(image, quality=40),
        "half-size-q60": encode(half, quality=60),
        "png": encode(image, "PNG", compress_level=1),
        "webp-q50": encode(image, "WEBP", quality=50),
        "heic-q50": encode(image, "HEIF", quality=50),
        "stored-copy": process_photo(encode(image, quality=92), max_px=500, quality=60).data,
    }
    for label, data in variants.items():
        other = process_photo(data).phash
        assert phash_matches(original, other), (name, label, hamming(original, other))


def test_phash_distinguishes_different_photos(scenes: dict[str, Image.Image]) -> None:
    hashes = {
        name: process_photo(encode(image, quality=90)).phash for name, image in scenes.items()
    }
    for (name_a, hash_a), (name_b, hash_b) in combinations(hashes.items(), 2):
        assert not phash_matches(hash_a, hash_b), (name_a, name_b, hamming(hash_a, hash_b))
        assert hamming(hash_a, hash_b) > 2 * PHASH_MATCH_DISTANCE


def test_phash_changes_with_rotation(scenes: dict[str, Image.Image]) -> None:
    # Documented behaviour: the hash is taken after orientation, so a genuinely rotated copy is
    # a different picture as far as the hash is concerned.
    photo = scenes["photo_a"]
    upright = process_photo(encode(photo)).phash
    turned = process_photo(encode(photo.transpose(Image.Transpose.ROTATE_90))).phash
    assert not phash_matches(upright, turned)


def test_phash_same_for_exif_rotated_and_pre_rotated_upload(scenes: dict[str, Image.Image]) -> None:
    # The phone's raw upload (sideways + orientation tag) and the browser-rotated upload of the
    # same shot must match, because hashing happens after orientation is applied.
    photo = scenes["photo_a"]
    raw = encode(
        photo.transpose(Image.Transpose.ROTATE_90), exif=exif_with(orientation=6).tobytes()
    )
    browser = encode(photo, quality=80)
    assert phash_matches(process_photo(raw).phash, process_photo(browser).phash)


def test_dhash_bit_meaning() -> None:
    # Bit set = left neighbour brighter. Pins the definition so stored hashes stay comparable.
    brightening = Image.linear_gradient("L").rotate(90).resize((320, 240))  # dark -> bright
    assert dhash(brightening) == "0" * 16
    assert dhash(brightening.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) == "f" * 16
    result = process_photo(encode(brightening.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    assert result.phash == "f" * 16


def test_hamming() -> None:
    assert hamming("0" * 16, "0" * 16) == 0
    assert hamming("0" * 16, "f" * 16) == 64
    assert hamming("0000000000000001", "0000000000000003") == 1
    with pytest.raises(ValueError):
        hamming("00", "000")
    assert phash_matches("0" * 16, "000000000000003f")  # 6 bits
    assert not phash_matches("0" * 16, "000000000000007f")  # 7 bits
    assert phash_matches("0" * 16, "000000000000007f", max_distance=7)


# --- sniffing --------------------------------------------------------------------------------


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00" * 16


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (encode(upright_scene()), "image/jpeg"),
        (encode(upright_scene(), "PNG"), "image/png"),
        (encode(upright_scene(), "WEBP"), "image/webp"),
        (encode(upright_scene(), "HEIF"), "image/heic"),
        (_ftyp(b"mif1", b"mif1", b"heic"), "image/heic"),
        (_ftyp(b"mif1", b"mif1", b"miaf"), "image/heif"),
        (_ftyp(b"avif", b"mif1", b"avif"), None),
        (_ftyp(b"mif1", b"mif1", b"avif"), None),
        (_ftyp(b"isom", b"mp41"), None),  # an MP4 video
        (encode(upright_scene(), "GIF"), None),
        (b"<html></html>", None),
        (b"\xff\xd8", None),
        (b"", None),
    ],
    ids=[
        "jpeg",
        "png",
        "webp",
        "heic",
        "mif1-heic",
        "mif1",
        "avif",
        "mif1-avif",
        "mp4",
        "gif",
        "html",
        "short",
        "empty",
    ],
)
def test_sniff_mime(data: bytes, expected: str | None) -> None:
    assert sniff_mime(data) == expected


def test_public_api_is_exported() -> None:
    for name in pipeline.__all__:
        assert hasattr(pipeline, name), name
