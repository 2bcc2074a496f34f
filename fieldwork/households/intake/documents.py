"""Application materials (申请材料) attached to an intake case: scans or photos of documents and
PDFs (policy lines 61-65: each step passes on 相关材料 with its opinion).

A document is its own row (`CaseDocument`), not a `Photo`: photos are declared by a visit or a
report on the phone and uploaded through the sync protocol, fingerprinted to flag a picture
re-used on another visit, and served to anyone who sees the household; a material belongs to
a case, may be a PDF, is uploaded from the office page in one request, and each full view is
audited. What they share is the machinery: an image goes through the same Pillow pipeline
(orientation applied, EXIF/GPS stripped, pixels capped, thumbnail) and every file lives in the
same photo store (local directory 0700/0600, or S3), under ``documents/``, so backups carry it.

A PDF is kept as sent, after checks: at most DOCUMENT_MAX_BYTES (10 MB), starts with the
``%PDF-`` magic, ends with ``%%EOF``, and carries no script or launch action. A file is judged
by its content; its name only has to agree (a ``.pdf`` that is a JPEG, or a ``.jpg`` that is a
ZIP, is refused as renamed).
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.accounts.models import User
from fieldwork.audit.services import record as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.intake.evidence import lock_case, require_recorder
from fieldwork.households.models import Case, CaseDocument
from fieldwork.photos.pipeline import PhotoError, process_photo, sniff_mime
from fieldwork.photos.storage import photo_store
from fieldwork.records import text_problem
from fieldwork.timeutil import now_utc

DOC_TYPES = {
    "application": _l("申请书"),
    "id_card": _l("身份证"),
    "hukou": _l("户口簿"),
    "income": _l("收入证明"),
    "relief": _l("低保证、特困证"),
    "disability": _l("残疾证"),
    "medical": _l("病历、诊断证明、医疗费用票据"),
    "unemployment": _l("下岗失业证明"),
    "housing": _l("住房证明"),
    "screening": _l("部门(行业)认定材料"),
    "other": _l("其他材料"),
}
PDF_EXTENSIONS = (".pdf",)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_PER_CASE = 40
MAX_FILENAME, MAX_NOTE = 120, 200
# A PDF action that runs something when the file is opened: not an application material.
ACTIVE_PDF = re.compile(rb"/JavaScript|/JS(?![A-Za-z])|/Launch")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True)
class Upload:
    """A file as the form sent it: its name and (at most limit + 1) bytes."""

    filename: str
    data: bytes


def max_bytes() -> int:
    return int(current_app.config.get("DOCUMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def document_key(doc: CaseDocument) -> str:
    return f"documents/{doc.id[:2]}/{doc.id}.{'pdf' if doc.kind == 'pdf' else 'jpg'}"


def thumb_key(doc: CaseDocument) -> str:
    return f"documents/{doc.id[:2]}/{doc.id}.thumb.jpg"


def clean_filename(name: str) -> str:
    """The base name the user's device gave, safe to show and to offer as a download name."""
    base = _UNSAFE_NAME.sub("_", os.path.basename((name or "").replace("\\", "/"))).strip()
    if len(base) > MAX_FILENAME:
        stem, ext = os.path.splitext(base)
        base = stem[:MAX_FILENAME - len(ext)] + ext
    return base


def check_pdf(data: bytes) -> None:
    """Refuse what is not a whole, passive PDF (raises FormError on the field "file")."""
    if not data.startswith(b"%PDF-"):
        raise FormError.of(_("这个文件名为 .pdf，但内容不是 PDF 文件"
                             "（可能是改了扩展名的其他文件），请上传原始 PDF 文件"), "file")
    if b"%%EOF" not in data[-2048:]:
        raise FormError.of(_("PDF 文件不完整（可能没有传完或已损坏），请重新上传"), "file")
    if ACTIVE_PDF.search(data):
        raise FormError.of(_("PDF 中含有脚本或自动运行的内容，不能作为申请材料；"
                             "请用“打印为 PDF”另存后再上传"), "file")


def attach(user: User, case: Case, upload: Upload, doc_type: str,
           note: str = "") -> CaseDocument:
    """Check and store one material, and attach it to the case (the caller commits)."""
    require_recorder(user, case)
    errors: dict[str, str] = {}
    if doc_type not in DOC_TYPES:
        errors["doc_type"] = _("请选择材料类型")
    note = (note or "").strip()
    problem = text_problem(note)
    if problem:
        errors["note"] = _("“说明”%(problem)s", problem=problem)
    elif len(note) > MAX_NOTE:
        errors["note"] = _("“说明”不能超过 %(n)d 个字", n=MAX_NOTE)
    filename = clean_filename(upload.filename)
    data, limit = upload.data, max_bytes()
    ext = os.path.splitext(filename)[1].lower()
    if not data:
        errors["file"] = _("请选择要上传的文件")
    elif len(data) > limit:
        errors["file"] = _("文件太大，每份材料不能超过 %(n)d MB；照片请压缩，PDF 请分开上传",
                           n=limit // (1024 * 1024))
    elif ext not in PDF_EXTENSIONS + IMAGE_EXTENSIONS:
        errors["file"] = _("只能上传 PDF 文件或照片（JPG、PNG、WEBP、HEIC）")
    if errors:
        raise FormError(errors)
    lock_case(case)
    count = db.session.scalar(sa.select(sa.func.count()).select_from(CaseDocument)
                              .where(CaseDocument.case_id == case.id)) or 0
    if count >= MAX_PER_CASE:
        raise FormError.of(_("每个案件最多上传 %(n)d 份材料", n=MAX_PER_CASE), "file")
    doc = CaseDocument(id=str(uuid.uuid4()), case_id=case.id, doc_type=doc_type,
                       filename=filename, note=note, uploaded_by_id=user.id,
                       uploaded_at=now_utc(), upload_sha256=hashlib.sha256(data).hexdigest())
    store = photo_store()
    if ext in PDF_EXTENSIONS:
        check_pdf(data)
        doc.kind, doc.size, doc.stored_sha256 = "pdf", len(data), doc.upload_sha256
        store.put(document_key(doc), data)
    else:
        if data.startswith(b"%PDF-") or sniff_mime(data) is None:
            raise FormError.of(_("这个文件不是可识别的照片（可能是改了扩展名的其他文件），"
                                 "请上传 JPG、PNG、WEBP 或 HEIC 照片，或原始 PDF 文件"), "file")
        try:
            processed = process_photo(
                data, max_px=int(current_app.config.get("DOCUMENT_MAX_PX", 2400)),
                max_bytes=limit)
        except PhotoError as exc:
            raise FormError.of(exc.message, "file") from exc
        doc.kind, doc.size = "image", len(processed.data)
        doc.stored_sha256 = processed.stored_sha256
        doc.width, doc.height = processed.width, processed.height
        store.put(document_key(doc), processed.data)
        store.put(thumb_key(doc), processed.thumb)
    db.session.add(doc)
    db.session.flush()
    audit("case.document_add", target_type="case", target_id=case.id,
          place_id=case.household.county_id, user=user, household_id=case.household_id,
          document_id=doc.id, doc_type=doc_type, kind=doc.kind, size=doc.size)
    return doc


def document_of(case: Case, document_id: str) -> CaseDocument | None:
    """A document of this case (the case loaded in the user's scope), else None."""
    doc = db.session.get(CaseDocument, document_id) if len(document_id) <= 36 else None
    return doc if doc is not None and doc.case_id == case.id else None


def read(doc: CaseDocument, *, thumb: bool = False) -> bytes | None:
    """The stored bytes (the thumbnail of an image), or None when missing."""
    if thumb and doc.kind != "image":
        return None
    return photo_store().get(thumb_key(doc) if thumb else document_key(doc))


def record_view(user: User, case: Case, doc: CaseDocument) -> None:
    """Audit one full view of a material, like a full ID number (the caller commits)."""
    audit("case.document_view", target_type="case_document", target_id=doc.id,
          place_id=case.household.county_id, user=user, household_id=case.household_id,
          case_id=case.id, doc_type=doc.doc_type)
