"""The ledger's pages: the on-screen table with its filters (/ledger/), the XLSX and CSV
downloads of what the filters select, and the printed 附件5 of one community.

Every export is audited ("ledger.export": format, year, rows, statuses, filters, full_ids).
Full ID and phone numbers only for county officers who ask for them; the event then says how
many left. Columns, masking and filters: docs/ledger.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from tempfile import SpooledTemporaryFile
from typing import IO, Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    make_response,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from fieldwork.access import roles
from fieldwork.access.decorators import role_required
from fieldwork.audit import services as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.constants import (
    CATEGORIES,
    CATEGORY_LABELS,
    STATUS_LABELS,
    STATUSES,
)
from fieldwork.places.models import Place
from fieldwork.supervision.ledger_rows import (
    COLUMN_KEYS,
    DEFAULT_STATUSES,
    FIRST_MONTH_COLUMN,
    FIRST_YEAR,
    SEARCH_MAX,
    TITLE,
    VISIT_FILTERS,
    LedgerRequest,
    count_rows,
    headers,
    iter_members,
    iter_rows,
    member_headers,
    place_names,
    scope_places,
    screen_month,
    screen_page,
)
from fieldwork.supervision.ledger_xlsx import csv_chunks, write_xlsx
from fieldwork.timeutil import current_month, today_local

bp = Blueprint("ledger", __name__, url_prefix="/ledger")

LEDGER_ROLES = (roles.STREET_REVIEWER, roles.COUNTY_OFFICER, roles.CITY_SUPERVISOR)
# Full identity and phone numbers in a file that leaves the system: the county office keeps
# the ledger.
FULL_ID_ROLES = (roles.COUNTY_OFFICER,)

def _audit(req: LedgerRequest, fmt: str, rows: int) -> None:
    place = req.user.place
    detail: dict[str, Any] = {
        "format": fmt, "year": req.year, "rows": rows, "full_ids": req.full_ids,
        "statuses": list(req.statuses) if req.statuses else "all",
        "scope_place": place.code,
    }
    if req.filtered:
        # What the on-screen filters narrowed the file to; a searched ID number is not
        # written into the log, only that there was a search.
        detail["filters"] = {
            "place": req.place.code if req.place else None, "category": req.category or None,
            "search": bool(req.search), "month": req.month if req.visit else None,
            "visit": req.visit or None,
        }
    if req.full_ids:
        # Full identity and phone numbers left the system: say how many, so a reviewer of
        # the audit log sees the size of the disclosure without opening the file.
        detail["full_id_numbers"] = rows
        detail["full_phone_numbers"] = rows
    audit.record("ledger.export", target_type="place", target_id=place.id,
                 place_id=place.county_id() or place.id,
                 **detail)


def filename(req: LedgerRequest, ext: str) -> tuple[str, str]:
    """(ASCII fallback, Chinese name) of the download."""
    suffix = _("-含身份证号") if req.full_ids else ""
    where = req.place.name if req.place else req.user.place.name
    code = req.place.code if req.place else req.user.place.code
    chinese = _("%(place)s台账-%(year)d", place=where, year=req.year)
    return (f"ledger-{code}-{req.year}.{ext}", f"{chinese}{suffix}.{ext}")


def content_disposition(req: LedgerRequest, ext: str) -> str:
    ascii_name, name = filename(req, ext)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


# ---------------------------------------------------------------- views


def _years() -> list[int]:
    this = today_local().year
    return list(range(this, FIRST_YEAR - 1, -1))


STATUS_CHOICES = ("enrolled_exited", "all", *STATUSES)


def _parse() -> LedgerRequest:
    """The request's filters, checked; a FormError (400) names what is wrong."""
    args = request.args
    raw_year = (args.get("year") or "").strip()
    if not raw_year:
        year = today_local().year
    elif not raw_year.isdigit() or int(raw_year) not in _years():
        raise FormError.of(_("年份应在 %(a)d 年至 %(b)d 年之间", a=FIRST_YEAR,
                             b=today_local().year), "year", 400)
    else:
        year = int(raw_year)
    status = args.get("status", "")
    if status not in ("", *STATUS_CHOICES):
        raise FormError.of(_("户状态选项不正确"), "status", 400)
    statuses: tuple[str, ...] | None = DEFAULT_STATUSES
    if status == "all":
        statuses = None
    elif status in STATUSES:
        statuses = (status,)
    full_ids = args.get("full_ids") in ("1", "on", "y")
    if full_ids and current_user.role not in FULL_ID_ROLES:
        abort(403)
    user = current_user._get_current_object()
    place = None
    raw_place = (args.get("place") or "").strip()
    if raw_place:
        place = db.session.get(Place, int(raw_place)) if raw_place.isdigit() else None
        if place is None or not place.is_within(user.place):
            raise FormError.of(_("所选地区不存在或不在您的管辖范围内"), "place", 400)
        if place.id == user.place.id:
            place = None
    category = (args.get("category") or "").strip()
    if category and category not in CATEGORIES:
        raise FormError.of(_("困难类别选项不正确"), "category", 400)
    search = " ".join((args.get("q") or "").split())
    if len(search) > SEARCH_MAX:
        raise FormError.of(_("搜索内容不能超过 %(n)d 个字", n=SEARCH_MAX), "q", 400)
    month = None
    raw_month = (args.get("month") or "").strip()
    if raw_month:
        if not raw_month.isdigit() or not 1 <= int(raw_month) <= 12:
            raise FormError.of(_("月份应为 1 至 12"), "month", 400)
        month = year * 100 + int(raw_month)
        if month > current_month():
            raise FormError.of(_("%(y)d年%(m)d月还没有到，请选择本月或以前的月份",
                                 y=year, m=int(raw_month)), "month", 400)
    visit = args.get("visit", "")
    if visit not in VISIT_FILTERS:
        raise FormError.of(_("走访情况选项不正确"), "visit", 400)
    req = LedgerRequest(user, year, statuses, full_ids, place=place, category=category,
                        search=search, month=month, visit=visit)
    if visit and month is None:
        req = LedgerRequest(user, year, statuses, full_ids, place=place, category=category,
                            search=search, month=screen_month(req), visit=visit)
    return req


def _filter_args() -> dict[str, Any]:
    """The filters of the request, to carry into the export and page links."""
    keep = ("year", "status", "place", "category", "q", "month", "visit")
    return {k: v for k in keep if (v := (request.args.get(k) or "").strip())}


def _page_number() -> int:
    raw = (request.args.get("page") or "1").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def _render(req: LedgerRequest | None, error: str | None = None, status: int = 200
            ) -> Response:
    partial = (request.headers.get("HX-Request") == "true"
               and request.headers.get("HX-History-Restore-Request") != "true")
    data = screen_page(req, _page_number()) if req is not None else None
    month = data.month if data else None
    user = current_user._get_current_object()
    annex_url = None
    if req is not None and req.place is not None and req.place.level == "community":
        annex_url = url_for("ledger.print_annex", community_id=req.place.id,
                            **{k: v for k, v in _filter_args().items() if k != "place"})
    response = make_response(render_template(
        "ledger/_table.html" if partial else "ledger/index.html", partial=partial,
        years=_years(), error=error, args=request.args, filter_args=_filter_args(),
        can_full_ids=current_user.role in FULL_ID_ROLES, title=str(TITLE),
        columns=headers(), member_columns=member_headers(), data=data, req=req,
        month=month, places=scope_places(user), annex_url=annex_url, categories=CATEGORY_LABELS,
        statuses=STATUS_LABELS, status_codes=STATUSES,
    ), status)
    response.vary.add("HX-Request")
    return response


@bp.get("/")
@role_required(*LEDGER_ROLES)
def index():
    try:
        req = _parse()
    except FormError as exc:
        return _render(None, exc.message, exc.status)
    return _render(req)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/export.xlsx")
@role_required(*LEDGER_ROLES)
def export_xlsx():
    try:
        req = _parse()
    except FormError as exc:
        return _render(None, exc.message, exc.status)
    # Built before the answer starts, so a failure is an error page and not a truncated file;
    # past 2 MB the workbook spills to disk.
    out: IO[bytes] = SpooledTemporaryFile(max_size=2 * 1024 * 1024)
    rows = write_xlsx(req, iter_rows(req), out, iter_members(req))
    _audit(req, "xlsx", rows)
    db.session.commit()
    size = out.tell()
    out.seek(0)

    def chunks() -> Iterator[bytes]:
        try:
            while block := out.read(64 * 1024):
                yield block
        finally:
            out.close()

    response = Response(chunks(), mimetype=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    response.headers["Content-Disposition"] = content_disposition(req, "xlsx")
    response.headers["Content-Length"] = str(size)
    return _no_store(response)


@bp.get("/export.csv")
@role_required(*LEDGER_ROLES)
def export_csv():
    try:
        req = _parse()
    except FormError as exc:
        return _render(None, exc.message, exc.status)
    # Streamed as it is built: the audit entry (with the row count of the same query) is
    # committed first, so an interrupted download is still on record.
    _audit(req, "csv", count_rows(req))
    db.session.commit()
    response = Response(stream_with_context(csv_chunks(req)), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = content_disposition(req, "csv")
    return _no_store(response)


# ---------------------------------------------------------------- the printed 附件5

ROWS_PER_SHEET = 7  # households on one A4 landscape page of the printed ledger


def _annex_request(community_id: int) -> LedgerRequest:
    """The community's ledger, narrowed by the other filters of the query; a place outside
    the user's scope is not found (404), a place that is not a community is a 400."""
    user = current_user._get_current_object()
    place = db.session.get(Place, community_id)
    if place is None or not place.is_within(user.place):
        abort(404)
    if place.level != "community":
        raise FormError.of(_("请先选择一个社区(村)，再打印该社区的台账"), "place", 400)
    req = _parse()
    # Paper leaves the office too: masked numbers only, whatever was asked.
    return LedgerRequest(req.user, req.year, req.statuses, False, place=place,
                         category=req.category, search=req.search, month=req.month,
                         visit=req.visit)


@bp.get("/annex5/<int:community_id>")
@role_required(*LEDGER_ROLES)
def print_annex(community_id: int):
    """附件5 县(市、区)城镇困难职工居民信息台账 for one community, A4 landscape, ROWS_PER_SHEET
    households a page, the header repeated on each; audited like an export (format "print")."""
    try:
        req = _annex_request(community_id)
    except FormError as exc:
        return _render(None, exc.message, exc.status)
    rows = [dict(zip(COLUMN_KEYS, row, strict=False)) | {"months": row[FIRST_MONTH_COLUMN:]}
            for row in iter_rows(req)]
    _audit(req, "print", len(rows))
    db.session.commit()
    sheets = [rows[i:i + ROWS_PER_SHEET] for i in range(0, len(rows), ROWS_PER_SHEET)] or [[]]
    names = place_names(req.user)
    place = req.place or req.user.place
    response = make_response(render_template(
        "printing/ledger_annex5.html", sheets=sheets, year=req.year, place=place,
        county=names.get(place.county_id() or 0, ""), street=names.get(place.street_id() or 0, ""),
        households=len(rows), members=sum(r["members"] or 0 for r in rows),
        back=url_for("ledger.index", **(_filter_args() | {"place": str(place.id)})),
        today=today_local(),
        rows_per_sheet=ROWS_PER_SHEET))
    return _no_store(response)
