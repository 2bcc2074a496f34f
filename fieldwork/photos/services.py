"""Photo intake shared by the visit page and the sync API: declare, store, find re-use."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa
from flask import current_app

from fieldwork.extensions import db
from fieldwork.photos import signals
from fieldwork.photos.models import Photo
from fieldwork.photos.pipeline import PhotoError, ProcessedPhoto, hamming, process_photo
from fieldwork.photos.storage import photo_key, photo_store, thumb_key
from fieldwork.timeutil import CST, now_utc
from fieldwork.visits.models import Visit

# At most this many of 64 bits differ for "the same photo": re-encoding and downscaling
# stay within it; five bands guarantee every such pair shares one band.
REUSE_DISTANCE = 4
BAND_BITS = (13, 13, 13, 13, 12)


@dataclass(frozen=True)
class UploadOutcome:
    """What the photo endpoint answers: HTTP status, error code and message."""

    status: int
    code: str = ""
    message: str = ""
    photo: Photo | None = None


def bands(phash: str) -> list[int]:
    """The hash cut into the BAND_BITS bands, most significant first."""
    value, out, shift = int(phash, 16), [], 64
    for width in BAND_BITS:
        shift -= width
        out.append((value >> shift) & ((1 << width) - 1))
    return out


def process(data: bytes) -> ProcessedPhoto:
    """Run the Pillow pipeline with the configured limits (raises PhotoError)."""
    cfg = current_app.config
    return process_photo(
        data,
        max_px=cfg.get("PHOTO_MAX_PX", 1600),
        max_bytes=cfg.get("PHOTO_MAX_BYTES", 15 * 1024 * 1024),
    )


def save_processed(photo: Photo, processed: ProcessedPhoto) -> None:
    """Write the files, then fill the row (the caller commits)."""
    store = photo_store()
    store.put(photo_key(photo.id), processed.data)
    store.put(thumb_key(photo.id), processed.thumb)
    photo.stored_at = now_utc()
    photo.upload_sha256 = processed.upload_sha256
    photo.stored_sha256 = processed.stored_sha256
    photo.phash = processed.phash
    photo.ph0, photo.ph1, photo.ph2, photo.ph3, photo.ph4 = bands(processed.phash)
    photo.width, photo.height = processed.width, processed.height
    photo.size = len(processed.data)
    taken = processed.taken_at
    if taken is not None and taken.tzinfo is None:
        taken = taken.replace(tzinfo=CST)  # phones in Nanyang write local time without offset
    photo.exif_taken_at = taken


def _correction_chain(visit_id: str) -> set[str]:
    """The visit with the visits it corrects and those that correct it (`supersedes`): one
    record's versions, which may rightly carry the same picture under new photo ids."""
    chain, current = {visit_id}, visit_id
    for _ in range(50):  # back through what this visit corrects
        current = db.session.scalar(sa.select(Visit.supersedes_id).where(Visit.id == current))
        if current is None or current in chain:
            break
        chain.add(current)
    frontier = set(chain)
    for _ in range(50):  # forward through later corrections
        frontier = set(db.session.scalars(
            sa.select(Visit.id).where(Visit.supersedes_id.in_(frontier))
        )) - chain
        if not frontier:
            break
        chain |= frontier
    return chain


def reused_elsewhere(photo: Photo) -> list[Photo]:
    """Stored photos of another visit or household that look like this one."""
    if photo.phash is None:
        return []
    same_visit = _correction_chain(photo.visit_id) if photo.visit_id else set()
    candidates = db.session.scalars(
        sa.select(Photo).where(
            Photo.id != photo.id,
            Photo.phash.is_not(None),
            sa.or_(Photo.ph0 == photo.ph0, Photo.ph1 == photo.ph1, Photo.ph2 == photo.ph2,
                   Photo.ph3 == photo.ph3, Photo.ph4 == photo.ph4),
        ).limit(200)
    )
    out = []
    for other in candidates:
        same_record = (other.visit_id is not None and other.visit_id in same_visit) or (
            photo.discovery_id and other.discovery_id == photo.discovery_id)
        if same_record:
            continue
        if hamming(photo.phash, cast(str, other.phash)) <= REUSE_DISTANCE:  # is_not(None) above
            out.append(other)
    return out


def upload(photo_id: str, data: bytes, claimed_sha256: str, uploader_id: int) -> UploadOutcome:
    """Store the bytes of a declared photo (SYNC-PROTOCOL.md "Photos"); the caller commits."""
    # Row lock: two uploads of the same photo at once are processed one after the other.
    photo = db.session.get(Photo, photo_id, with_for_update=True)
    if photo is None or photo.uploader_id != uploader_id:
        return UploadOutcome(404, "unknown_photo", "没有已提交的记录声明这张照片，请先同步记录")
    claimed = (claimed_sha256 or "").strip().lower()
    if photo.stored:
        if claimed == photo.upload_sha256:
            return UploadOutcome(200, photo=photo)
        return UploadOutcome(409, "conflict", "这张照片已用不同的内容上传过")
    actual = hashlib.sha256(data).hexdigest()
    if not claimed:
        return UploadOutcome(400, "missing_hash", "缺少 X-Content-SHA256 校验值")
    if claimed != actual:
        return UploadOutcome(400, "hash_mismatch", "照片内容与校验值不符，可能传输不完整，请重试")
    if actual != photo.declared_sha256:
        return UploadOutcome(400, "not_declared", "这张照片与记录中声明的照片不一致")
    try:
        processed = process(data)
    except PhotoError as exc:
        return UploadOutcome(413 if exc.code == "too_large" else 400, exc.code, exc.message)
    save_processed(photo, processed)
    signals.photo_stored.send(photo)
    return UploadOutcome(201, photo=photo)
