"""Validate, normalise and fingerprint household photos uploaded from helpers' phones.

Pure module (no Flask): the upload endpoint hands over the raw request bytes and gets back either
a :class:`ProcessedPhoto` ready to store or a :class:`PhotoError` whose ``message`` can be shown to
the civil servant as-is.

Design decisions worth knowing before changing anything:

* Accepted inputs are JPEG (including MPO, the multi-picture JPEG that many Android and Fujifilm
  cameras write), PNG, WEBP and HEIC/HEIF. Every other *image* format Pillow recognises (GIF,
  BMP, TIFF, AVIF, ICO, PSD, ...) is refused with ``unsupported_format``: phones never produce
  them for camera shots, and each extra decoder is extra attack surface for no benefit.
* Only the first frame of animated WEBP/PNG/HEIF or multi-picture JPEG is kept.
* Pixel limits are enforced from the header, before any pixel is decoded, with our own
  ``max_pixels`` rather than the process-global ``Image.MAX_IMAGE_PIXELS``.
* A PNG whose compressed text chunks inflate beyond Pillow's text limits is reported as
  ``decompression_bomb``: it is the same attack (tiny file, huge inflation), just aimed at
  metadata instead of pixels.
* Output is always a freshly built RGB JPEG with no EXIF, ICC, XMP or comments, so GPS
  coordinates and phone details never reach storage. Colour profiles are dropped rather than
  converted; Display-P3 iPhone shots therefore look very slightly less saturated, which is
  acceptable for case-file photos and keeps the pipeline simple.
* Only JPEG gets reduced-size decoding (``draft``). A raw 12 MP PNG, WEBP or HEIC still costs
  roughly 0.3-0.6 s; the upload page is expected to send a 1600 px JPEG instead.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

import pillow_heif
from PIL import Image, ImageFile, UnidentifiedImageError

__all__ = [
    "ERROR_MESSAGES",
    "PHASH_MATCH_DISTANCE",
    "SUPPORTED_MIME_TYPES",
    "PhotoError",
    "ProcessedPhoto",
    "dhash",
    "hamming",
    "phash_matches",
    "process_photo",
    "register_heif",
    "sniff_mime",
]

DEFAULT_MAX_BYTES = 15 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000

# At most this many of the 64 dHash bits may differ for two uploads to count as the same photo.
# In our test scenes re-encoded/resized/format-converted copies differed by 0-2 bits and
# unrelated pictures by 19 or more. Flat, featureless pictures all hash close to zero, so a
# match between two of those means little.
PHASH_MATCH_DISTANCE = 6

SUPPORTED_MIME_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"}
)

# Pillow format name -> the name we report. MPO is a JPEG with extra pictures appended.
_ACCEPTED_FORMATS: Mapping[str, str] = MappingProxyType(
    {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "HEIF": "HEIF"}
)

ERROR_MESSAGES: Mapping[str, str] = MappingProxyType(
    {
        "empty": "上传的照片是空文件（0 字节），请重新拍摄或重新选择照片后再上传。",
        "too_large": "照片文件太大，超过了系统允许的上限，请压缩后或用手机相机重新拍摄后再上传。",
        "not_image": (
            "上传的文件不是照片（可能是文档、网页或其他类型的文件），"
            "请选择 JPG、PNG、WEBP 或 HEIC 格式的照片。"
        ),
        "unsupported_format": (
            "暂不支持这种图片格式，请上传 JPG、PNG、WEBP 或 HEIC 格式的照片"
            "（用手机相机直接拍摄的照片即可）。"
        ),
        "decompression_bomb": (
            "这张图片的尺寸或内嵌数据异常庞大，系统无法安全处理，请用手机相机正常拍摄后重新上传。"
        ),
        "corrupt": "照片文件已损坏或不完整（可能是上传中断），无法打开，请重新上传。",
    }
)

# EXIF tag ids; Pillow's ExifTags enums would work too but numbers keep the lookups explicit.
_TAG_ORIENTATION = 0x0112
_TAG_DATETIME = 0x0132
_TAG_EXIF_IFD = 0x8769
_TAG_DATETIME_ORIGINAL = 0x9003
_TAG_OFFSET_TIME = 0x9010
_TAG_OFFSET_TIME_ORIGINAL = 0x9011

# Same table ImageOps.exif_transpose uses. We apply it ourselves so the transpose runs on the
# already-downscaled image and so malformed EXIF can never turn a good photo into an error.
_ORIENTATION_TRANSPOSE: Mapping[int, Image.Transpose] = MappingProxyType(
    {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }
)

# What Pillow and its plugins raise for malformed data, across open/verify/load. TypeError and
# friends are deliberately absent: those would be bugs in this module, not bad uploads.
# UserWarning only arrives as an exception when warnings are escalated (`-W error`): Pillow
# warns about broken EXIF while opening a JPEG, and in that mode the upload counts as corrupt.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    UserWarning,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
)

# Everything Pillow's EXIF parser is known to throw on garbage. EXIF is optional, so any of
# these just means "no capture time / no orientation", never a rejected photo. UserWarning is
# here because Pillow warns about corrupt EXIF, and under `-W error` that warning is raised.
_EXIF_ERRORS: tuple[type[BaseException], ...] = (
    UserWarning,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    UnicodeDecodeError,
)

_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})


class PhotoError(Exception):
    """An upload that cannot become a stored photo. ``str(err)`` is the Chinese message."""

    def __init__(self, code: str, message: str | None = None) -> None:
        if code not in ERROR_MESSAGES:
            raise ValueError(f"unknown photo error code: {code!r}")
        self.code: str = code
        self.message: str = message or ERROR_MESSAGES[code]
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"PhotoError({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class ProcessedPhoto:
    data: bytes
    thumb: bytes
    width: int
    height: int
    upload_sha256: str
    stored_sha256: str
    phash: str
    taken_at: datetime | None
    source_format: str
    mime: str = "image/jpeg"


def register_heif() -> None:
    """Teach Pillow to open HEIC/HEIF, which is what iPhones upload by default. Idempotent."""
    pillow_heif.register_heif_opener()


register_heif()


def sniff_mime(data: bytes) -> str | None:
    """MIME type of a supported photo format from its magic bytes, else ``None``.

    Meant for comparing with the client's Content-Type; :func:`process_photo` does its own,
    stricter identification. AVIF shares the HEIF container but is not accepted, so it gives
    ``None``.
    """
    head = bytes(data[:64])
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        box_size = int.from_bytes(head[:4], "big")
        # Brand list: major brand at 8..12, minor version at 12..16, compatible brands after.
        end = min(max(box_size, 12), len(head))
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}
        if brands & _HEIC_BRANDS:
            return "image/heic"
        if brands & _AVIF_BRANDS:
            return None
        if brands & _HEIF_BRANDS:
            return "image/heif"
    return None


def process_photo(
    data: bytes,
    *,
    max_px: int = 1600,
    thumb_px: int = 320,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    quality: int = 82,
) -> ProcessedPhoto:
    """Turn uploaded bytes into a clean, orientation-corrected, size-capped JPEG plus thumbnail.

    Raises :class:`PhotoError` for every kind of bad input. Note that Pillow's own global limit
    (``2 * Image.MAX_IMAGE_PIXELS``) still applies when ``max_pixels`` is set above it.
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Some library flipped this process-wide switch; truncated uploads would then be stored
        # half grey without any error. That is a deployment bug, so fail loudly, not per photo.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must be False for photo uploads")
    if not data:
        raise PhotoError("empty")
    if len(data) > max_bytes:
        raise PhotoError(
            "too_large",
            f"照片文件太大（约 {len(data) / 1024 / 1024:.1f} MB），超过了 "
            f"{max_bytes / 1024 / 1024:.0f} MB 的上限，请压缩后或用手机相机重新拍摄后再上传。",
        )

    source_format = _verify(data, max_pixels)
    image, taken_at = _decode(data, max_px)

    stored = _strip(image)
    thumb = stored.copy()
    thumb.thumbnail((thumb_px, thumb_px), Image.Resampling.LANCZOS)

    stored_bytes = _encode_jpeg(stored, quality)
    # Thumbnails are small and only glanced at in lists; a lower quality keeps pages light.
    thumb_bytes = _encode_jpeg(thumb, min(quality, 75))
    return ProcessedPhoto(
        data=stored_bytes,
        thumb=thumb_bytes,
        width=stored.width,
        height=stored.height,
        upload_sha256=hashlib.sha256(data).hexdigest(),
        stored_sha256=hashlib.sha256(stored_bytes).hexdigest(),
        phash=dhash(thumb),
        taken_at=taken_at,
        source_format=source_format,
    )


def dhash(image: Image.Image) -> str:
    """64-bit difference hash as 16 hex chars: each bit says "left pixel brighter than right"."""
    grey = image.convert("L").resize((9, 8), Image.Resampling.BOX)
    pixels = grey.tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            left = pixels[row * 9 + col]
            right = pixels[row * 9 + col + 1]
            bits = (bits << 1) | (left > right)
    return f"{bits:016x}"


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two hex hashes of equal length."""
    if len(a) != len(b):
        raise ValueError("hashes must have the same length")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def phash_matches(a: str, b: str, max_distance: int = PHASH_MATCH_DISTANCE) -> bool:
    """True when two perceptual hashes are close enough to be the same photo."""
    return hamming(a, b) <= max_distance


def _verify(data: bytes, max_pixels: int) -> str:
    """Identify the upload and check header-level limits without decoding pixels."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format or ""
            if fmt not in _ACCEPTED_FORMATS:
                label = fmt or "未知"
                raise PhotoError(
                    "unsupported_format",
                    f"暂不支持 {label} 格式的图片，请上传 JPG、PNG、WEBP 或 HEIC 格式的照片"
                    "（用手机相机直接拍摄的照片即可）。",
                )
            width, height = probe.size
            if width <= 0 or height <= 0:
                raise PhotoError("corrupt")
            if width * height > max_pixels:
                raise PhotoError("decompression_bomb")
            # verify() checks chunk CRCs and structure (PNG) and leaves the object unusable,
            # which is why _decode opens the bytes a second time.
            probe.verify()
    except PhotoError:
        raise
    except UnidentifiedImageError as exc:
        # A half-uploaded HEIC still starts with a valid HEIC signature but no decoder will claim
        # it; telling the user "this is not a photo" would send them looking for the wrong fix.
        code = "corrupt" if sniff_mime(data) is not None else "not_image"
        raise PhotoError(code) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning only arrives here as an exception when warnings are escalated (pytest -W).
        raise PhotoError("decompression_bomb") from exc
    except _DECODE_ERRORS as exc:
        raise _classify_decode_error(exc) from exc
    return _ACCEPTED_FORMATS[fmt]


def _decode(data: bytes, max_px: int) -> tuple[Image.Image, datetime | None]:
    """Decode, downscale and orient the (already verified) upload; return it with capture time."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            target = _fit(im.size, max_px)
            if im.format in ("JPEG", "MPO") and target != im.size:
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale. The size passed must keep the
                # aspect ratio or libjpeg cannot pick a scale; for a 12 MP photo this takes the
                # whole pipeline from ~190 ms to ~105 ms on a 2-core box (150 ms budget).
                im.draft("RGB", target)
            im.load()
            exif = _read_exif(im)
            image = _to_rgb(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoError("decompression_bomb") from exc
    except _DECODE_ERRORS as exc:
        raise _classify_decode_error(exc) from exc

    if image.size != target:
        # reducing_gap only kicks in for 6x+ reductions (huge PNG/HEIC): it box-reduces by an
        # integer factor first and runs LANCZOS on the remainder, far cheaper at that scale.
        image = image.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    orientation = _exif_int(exif, _TAG_ORIENTATION)
    transpose = _ORIENTATION_TRANSPOSE.get(orientation) if orientation is not None else None
    if transpose is not None:
        image = image.transpose(transpose)
    return image, _taken_at(exif)


def _classify_decode_error(exc: BaseException) -> PhotoError:
    # Pillow signals PNG text-chunk bombs with a ValueError naming its MAX_TEXT_CHUNK /
    # MAX_TEXT_MEMORY limits; everything else undecodable is plain corruption.
    if isinstance(exc, ValueError) and "MAX_TEXT" in str(exc):
        return PhotoError("decompression_bomb")
    return PhotoError("corrupt")


def _fit(size: tuple[int, int], max_px: int) -> tuple[int, int]:
    width, height = size
    longest = max(width, height)
    if longest <= max_px:
        return size
    scale = max_px / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB copy with any transparency composited onto white (a black background hides text)."""
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if not has_alpha:
        return im.convert("RGB")
    if im.mode == "La":
        im = im.convert("LA")
    rgba = im.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _strip(image: Image.Image) -> Image.Image:
    # resize()/convert() copy .info (EXIF, ICC, XMP, comments) forward; pasting pixels into a
    # brand-new image is the simplest way to be certain nothing identifying is written out.
    clean = Image.new("RGB", image.size)
    clean.paste(image)
    return clean


def _encode_jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


def _read_exif(im: Image.Image) -> Image.Exif | None:
    try:
        return im.getexif()
    except _EXIF_ERRORS:
        return None


def _exif_value(exif: Image.Exif | None, tag: int, *, sub_ifd: bool) -> object:
    if exif is None:
        return None
    try:
        if sub_ifd:
            return exif.get_ifd(_TAG_EXIF_IFD).get(tag)
        return exif.get(tag)
    except _EXIF_ERRORS:
        return None


def _exif_int(exif: Image.Exif | None, tag: int) -> int | None:
    value = _exif_value(exif, tag, sub_ifd=False)
    return value if isinstance(value, int) else None


def _exif_text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 ") or None


def _taken_at(exif: Image.Exif | None) -> datetime | None:
    """Capture time from EXIF, naive (phone local time) unless an offset tag says otherwise."""
    stamp = _parse_exif_datetime(
        _exif_text(_exif_value(exif, _TAG_DATETIME_ORIGINAL, sub_ifd=True))
    )
    offset_tag = _TAG_OFFSET_TIME_ORIGINAL
    if stamp is None:
        # IFD0 DateTime is "last modified" but equals capture time on most phones; better than
        # nothing when DateTimeOriginal is missing or garbled.
        stamp = _parse_exif_datetime(_exif_text(_exif_value(exif, _TAG_DATETIME, sub_ifd=False)))
        offset_tag = _TAG_OFFSET_TIME
    if stamp is None:
        return None
    tz = _parse_exif_offset(_exif_text(_exif_value(exif, offset_tag, sub_ifd=True)))
    return stamp.replace(tzinfo=tz) if tz is not None else stamp


def _parse_exif_datetime(text: str | None) -> datetime | None:
    if not text:
        return None
    # EXIF mandates "YYYY:MM:DD HH:MM:SS"; some apps write dashes or add sub-seconds.
    candidate = text[:19]
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(candidate, fmt)
        except ValueError:
            continue
    return None


def _parse_exif_offset(text: str | None) -> timezone | None:
    # EXIF 2.31 offsets look like "+08:00"; anything else is ignored rather than guessed.
    if not text or len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    if hours > 14 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)
