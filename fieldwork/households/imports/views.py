"""The county office's household import page (/manage/import): template, check (dry run),
confirm, past batches and undo. County officers import into their county; the administrator
chooses a county (?county=). Other roles get 404.

The upload is checked, then kept in the instance folder under its SHA-256 until "确认导入"
imports that same file (the confirm form carries only the hash and the file name). The upload
endpoint may take up to IMPORT_MAX_BYTES (config UPLOAD_LIMITS, applied where the body is
read: dbsetup); a body over the limit is answered with this page and a Chinese message, not a
bare 413."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from fieldwork.access import roles
from fieldwork.access.decorators import role_required
from fieldwork.access.scope import get_county_or_404
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.imports import columns, services
from fieldwork.households.imports.models import ImportBatch
from fieldwork.households.management.pages import county_list
from fieldwork.places.models import Place
from fieldwork.xlsxin import XlsxRefused

bp = Blueprint("imports", __name__, url_prefix="/manage/import")

USERS = (roles.COUNTY_OFFICER, roles.ADMIN)
SHA = re.compile(r"^[0-9a-f]{64}$")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _county() -> Place:
    """The officer's county; for an administrator of the city the one chosen (?county= or the
    form's county), the first by code if none."""
    user = current_user
    if user.place.level == "county":
        return user.place
    raw = request.values.get("county", "")
    if raw:
        if not raw.isdigit():
            abort(404)
        return get_county_or_404(user, int(raw))
    counties = county_list()
    if not counties:
        abort(404)
    return counties[0]


# A checked file waits this long for its 确认导入; it holds ID numbers in the clear, so an
# upload nobody confirmed is not kept longer.
UPLOAD_TTL_SECONDS = 2 * 3600


def _upload_dir() -> Path:
    """instance/imports, after removing checked files older than UPLOAD_TTL_SECONDS."""
    path = Path(current_app.instance_path) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - UPLOAD_TTL_SECONDS
    for old in path.glob("*.xlsx"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:  # another request removed it first
            pass
    return path


def _page(county: Place, *, status: int = 200, **context: Any):
    context.setdefault("report", None)
    context.setdefault("refused", None)
    return render_template(
        "manage/import.html", county=county, batches=services.batches(county),
        counties=county_list() if current_user.place.level != "county" else [],
        max_mb=current_app.config["IMPORT_MAX_BYTES"] // (1024 * 1024), **context), status


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_exc: RequestEntityTooLarge):
    if not current_user.is_authenticated or current_user.role not in USERS:
        abort(404)
    mb = current_app.config["IMPORT_MAX_BYTES"] // (1024 * 1024)
    return _page(_county(), status=413,
                 refused=_("文件太大，上限为 %(n)d MB。请分成几个文件导入。", n=mb))


@bp.get("")
@role_required(*USERS)
def index():
    return _page(_county())


@bp.get("/template")
@role_required(*USERS)
def template():
    from io import BytesIO

    return send_file(BytesIO(columns.template_bytes()), mimetype=XLSX_MIME, as_attachment=True,
                     download_name="困难家庭导入模板.xlsx")


@bp.post("/check")
@role_required(*USERS)
def check():
    limit = current_app.config["IMPORT_MAX_BYTES"]
    county = _county()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(county, status=422, refused=_("请选择要导入的 Excel 文件（.xlsx）"))
    data = upload.read(limit + 1)
    filename = Path(upload.filename).name[:200]
    try:
        report = services.check(data, county)
    except XlsxRefused as exc:
        return _page(county, status=422, refused=exc.message, filename=filename)
    sha = ""
    if report.ok:
        sha = hashlib.sha256(data).hexdigest()
        (_upload_dir() / f"{sha}.xlsx").write_bytes(data)
    return _page(county, status=200 if report.ok else 422, report=report, sha256=sha,
                 filename=filename)


@bp.post("/confirm")
@role_required(*USERS)
def confirm():
    county = _county()
    sha = request.form.get("sha256", "")
    filename = (request.form.get("filename", "") or "")[:200]
    path = _upload_dir() / f"{sha}.xlsx" if SHA.match(sha) else None
    if path is None or not path.is_file():
        return _page(county, status=409,
                     refused=_("找不到已检查的文件（可能已导入或已过期），请重新上传并检查"))
    data = path.read_bytes()
    try:
        report = services.run(data, county, user=current_user, filename=filename)
    except XlsxRefused as exc:
        db.session.rollback()
        return _page(county, status=422, refused=exc.message)
    except FormError as exc:
        db.session.rollback()
        return _page(county, status=exc.status, refused=exc.message)
    if not report.ok:
        db.session.rollback()
        return _page(county, status=422, report=report, filename=filename)
    db.session.commit()
    path.unlink(missing_ok=True)
    flash(_("已导入（批次 %(id)d）：新建 %(c)d 户，更新 %(u)d 户，未变 %(s)d 户，新增成员 %(m)d 人",
            id=report.batch_id, c=report.created, u=report.updated, s=report.unchanged,
            m=report.members), "success")
    return redirect(url_for("imports.index", county=county.id
                            if current_user.place.level != "county" else None))


@bp.post("/<int:batch_id>/undo")
@role_required(*USERS)
def undo(batch_id: int):
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None:
        abort(404)
    # The batch's county, if the user's scope holds it (an officer: only their own).
    county = get_county_or_404(current_user, batch.county_id)
    try:
        services.undo(batch, current_user)
    except FormError as exc:
        db.session.rollback()
        return _page(county, status=exc.status, refused=exc.message)
    db.session.commit()
    flash(_("已撤销批次 %(id)d", id=batch_id), "success")
    return redirect(url_for("imports.index", county=county.id
                            if current_user.place.level != "county" else None))
