"""Supervision pages: compliance dashboard, charts, map, doubtful-visit review queue."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    make_response,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.access import roles
from fieldwork.access.decorators import role_required
from fieldwork.access.scope import get_place_or_404, get_visit_or_404, household_clause
from fieldwork.accounts.models import User
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.formflow import submit
from fieldwork.forms_once import once
from fieldwork.households.models import Household
from fieldwork.photos.models import Photo
from fieldwork.places.models import Place
from fieldwork.places.services import breadcrumbs, policy_for_county
from fieldwork.supervision import charts, compliance, review
from fieldwork.timeutil import add_months, current_month, local
from fieldwork.visits.flags import FLAG_LABELS, FLAGS
from fieldwork.visits.models import Visit
from fieldwork.visits.services import decisions_for, flag_details

bp = Blueprint("supervision", __name__, url_prefix="/supervision")

VIEW_ROLES = (*roles.OFFICER_ROLES, roles.ADMIN)
FIRST_MONTH = 200001
MONTH_CHOICES = 24  # months offered in the selector
MAP_POINTS = 2000  # most recent check-ins drawn on the map
FAR_LIST = 50  # far check-ins listed under the map
OVERDUE_LIMIT = 200
PER_PAGE = 30


def parse_month(raw: str | None) -> int | None:
    """?month=YYYYMM (or YYYY-MM), an Asia/Shanghai month up to the current one; None when
    none was given."""
    this = current_month()
    value = (raw or "").strip()
    if not value:
        return None
    digits = value.replace("-", "")
    if len(digits) != 6 or not digits.isdigit():
        raise FormError.of(_("月份“%(v)s”无法识别，请按“年年年年月月”填写，例如 %(e)d",
                             v=value[:20], e=this), "month", 400)
    key = int(digits)
    if not 1 <= key % 100 <= 12 or key < FIRST_MONTH:
        raise FormError.of(_("月份“%(v)s”不存在，请按“年年年年月月”填写，例如 %(e)d",
                             v=value[:20], e=this), "month", 400)
    if key > this:
        raise FormError.of(_("%(v)s 还没有到，请选择本月或以前的月份", v=value[:20]), "month",
                           400)
    return key


def month_choices() -> list[int]:
    this = current_month()
    return [add_months(this, -i) for i in range(MONTH_CHOICES)]


def place_filter(place: Place) -> ColumnElement[bool]:
    """Households filed at place or below it."""
    return {
        "city": sa.true(),
        "county": Household.county_id == place.id,
        "street": Household.street_id == place.id,
        "community": Household.place_id == place.id,
    }[place.level]


def wants_partial() -> bool:
    # A history restore after a cache miss needs the whole page, not the fragment.
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def _respond(full: str, partial: str, status: int = 200, **context: Any) -> Response:
    part = wants_partial()
    response = make_response(render_template(partial if part else full, partial=part,
                                             **context), status)
    response.vary.add("HX-Request")
    return response


def _tiles() -> dict[str, Any]:
    return {"tiles_url": current_app.config.get("MAP_TILES_URL") or None,
            "tiles_crs": current_app.config.get("MAP_TILES_CRS") or None}


def _month_label(key: int) -> str:
    return _("%(y)d年%(m)d月", y=key // 100, m=key % 100)


# ---------------------------------------------------------------- the dashboard

@bp.get("/")
@role_required(*VIEW_ROLES)
def dashboard():
    return place(current_user.place_id)


@bp.get("/place/<int:place_id>")
@role_required(*VIEW_ROLES)
def place(place_id: int):
    here = get_place_or_404(current_user, place_id)
    trail = [p for p in breadcrumbs(here) if p.is_within(current_user.place)]
    base: dict[str, Any] = {"here": here, "trail": trail, "months": month_choices()}
    try:
        month = parse_month(request.args.get("month")) or current_month()
    except FormError as exc:
        return _respond("supervision/dashboard.html", "supervision/_dashboard.html", 400,
                        month=current_month(), error=exc.message, **base)
    return _respond("supervision/dashboard.html", "supervision/_dashboard.html",
                    **base, **dashboard_context(current_user, here, month))


def dashboard_context(user: User, here: Place, month: int) -> dict[str, Any]:
    scope = sa.and_(household_clause(user), place_filter(here))
    rows = compliance.breakdown(here, household_clause(user), month)
    # The rows cover every household of the place (a "direct" row holds those filed at the
    # place itself), so they add up to its totals: no second pass over the month.
    counts = compliance.Counts()
    for r in rows:
        counts.add(r.counts)
    overdue = compliance.overdue_households(scope, month, limit=OVERDUE_LIMIT)
    helpers = _users({helper_id for _h, helper_id, _d in overdue})
    checkins, far = _checkins(scope, month)
    month_args: dict[str, Any] = {} if month == current_month() else {"month": month}
    hbars = [charts.Bar(label=r.name, value=r.counts.rate,
                        text=f"{r.counts.visited}/{r.counts.due}",
                        href=url_for(".place", place_id=r.key, **month_args)
                        if r.level in ("county", "street", "community") else None)
             for r in rows]
    by_helper = here.level == "community"
    bars_svg = charts.hbar_chart(
        hbars, chart_id="breakdown-chart",
        title=_("%(month)s各帮扶责任人走访率", month=_month_label(month)) if by_helper
        else _("%(month)s各下级单位走访率", month=_month_label(month)),
        desc=_("每行一个帮扶责任人，数据见下方明细表") if by_helper
        else _("每行一个下级单位，点击可查看该单位，数据见下方明细表"))
    far_count = sum(1 for c in checkins if c.far)
    map_svg = charts.checkin_map(
        checkins, chart_id="checkin-map",
        title=_("%(month)s走访签到位置", month=_month_label(month)),
        desc=_("圆点为签到位置，方块为住户参考位置，红色大圆点为距离住户过远的签到"
               "（共 %(n)d 次签到，其中过远 %(far)d 次）", n=len(checkins), far=far_count),
        **_tiles())
    return {
        "month": month, "counts": counts, "rows": rows, "overdue": overdue,
        "helpers": helpers, "by_helper": by_helper, "month_args": month_args,
        "bars_svg": bars_svg, "map_svg": map_svg,
        "map_points": len(checkins), "map_far": far_count, "far": far,
        "map_limited": len(checkins) >= MAP_POINTS,
        "running": month == current_month(),
        "pending": review.pending_count(user, month=month, scope=place_filter(here)),
        "overdue_limited": counts.overdue > len(overdue),
        "trend_url": url_for(".trend", place_id=here.id, **month_args),
    }


@bp.get("/place/<int:place_id>/trend")
@role_required(*VIEW_ROLES)
def trend(place_id: int):
    """The 12-month trend of a place: loaded by the dashboard after the page (it reads a year
    of visits), or on its own page without script."""
    here = get_place_or_404(current_user, place_id)
    try:
        month = parse_month(request.args.get("month")) or current_month()
    except FormError as exc:
        return _respond("supervision/trend.html", "supervision/_trend.html", 400,
                        here=here, error=exc.message, month=current_month())
    return _respond("supervision/trend.html", "supervision/_trend.html", here=here,
                    **trend_context(current_user, here, month))


def trend_context(user: User, here: Place, month: int) -> dict[str, Any]:
    scope = sa.and_(household_clause(user), place_filter(here))
    trend = compliance.trend(scope, month)
    bars = [charts.Bar(label=_("%(m)d月", m=m % 100), value=c.rate,
                       text=f"{c.visited}/{c.due}",
                       note=str(m // 100) if m % 100 == 1 or (i == 0 and m % 100 <= 11) else "")
            for i, (m, c) in enumerate(trend)]
    svg = charts.trend_chart(
        bars, chart_id="trend-chart",
        title=_("%(place)s近 12 个月走访率", place=here.name),
        desc=_("%(a)s至%(b)s每月已走访户数占应走访户数的百分比，数据见下表",
               a=_month_label(trend[0][0]), b=_month_label(trend[-1][0])))
    return {"month": month, "trend": trend, "trend_svg": svg}


def _users(ids) -> dict[int, User]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(wanted)))}


def _checkins(scope: ColumnElement[bool], month: int):
    """The month's most recent check-ins with a fix, and the far ones to list."""
    rows = db.session.execute(
        sa.select(Visit.id, Visit.lat, Visit.lon, Visit.flags, Visit.distance_m,
                  Visit.visited_at, Visit.review_status, Visit.helper_id,
                  Household.id.label("household_id"), Household.head_name,
                  Household.ref_lat, Household.ref_lon,
                  sa.func.coalesce(sa.func.nullif(User.display_name, ""), User.username)
                  .label("helper_name"))
        .join(Household, Household.id == Visit.household_id)
        .outerjoin(User, User.id == Visit.helper_id)
        .where(scope, Visit.month == month, Visit.superseded.is_(False),
               Visit.lat.is_not(None), Visit.lon.is_not(None))
        .order_by(Visit.visited_at.desc(), Visit.id).limit(MAP_POINTS)
    ).all()
    checkins = [charts.CheckIn(lat=r.lat, lon=r.lon, ref_lat=r.ref_lat, ref_lon=r.ref_lon,
                               far="far_from_household" in (r.flags or [])) for r in rows]
    far = [r for r in rows if "far_from_household" in (r.flags or [])]
    far.sort(key=lambda r: -(r.distance_m or 0))
    # The helper's name comes with the row: a query for the names only when some check-in
    # is far made the page's query count depend on the data (tests/supervision/test_query_work).
    return checkins, [(r, r.helper_name) for r in far[:FAR_LIST]]


# ---------------------------------------------------------------- the review queue

def _queue_filter() -> tuple[review.QueueFilter, Place | None, int]:
    flag = request.args.get("flag", "").strip() or None
    if flag is not None and flag not in FLAGS:
        raise FormError.of(_("没有“%(v)s”这种疑点，请从列表中选择", v=flag[:30]), "flag", 400)
    status = request.args.get("status", "").strip() or "pending"
    if status not in review.STATUS_FILTERS:
        raise FormError.of(_("审核状态“%(v)s”无法识别，请从列表中选择", v=status[:30]),
                           "status", 400)
    month = parse_month(request.args.get("month"))
    here = None
    raw_place = request.args.get("place", "").strip()
    if raw_place:
        if not raw_place.isdigit():
            abort(404)
        here = get_place_or_404(current_user, int(raw_place))
    raw_page = request.args.get("page", "1").strip()
    page = int(raw_page) if raw_page.isdigit() and 0 < int(raw_page) < 100_000 else 1
    f = review.QueueFilter(flag=flag, month=month, status=status,
                           scope=place_filter(here) if here is not None else None)
    return f, here, page


@bp.get("/reviews")
@role_required(*VIEW_ROLES)
def reviews():
    base = {"months": month_choices(), "flag_codes": FLAGS, "flag_labels": FLAG_LABELS,
            "statuses": review.STATUS_FILTERS, "can_decide": review.can_decide(current_user)}
    try:
        f, here, page = _queue_filter()
    except FormError as exc:
        return _respond("supervision/reviews.html", "supervision/_reviews.html", 400,
                        error=exc.message, f=review.QueueFilter(), here=None, visits=[],
                        total=0, page=1, pages=1, args={}, **base)
    visits, total = review.queue(current_user, f, page=page, per_page=PER_PAGE)
    args = {k: v for k, v in {"flag": f.flag, "month": f.month,
                              "status": f.status if f.status != "pending" else None,
                              "place": here.id if here else None}.items() if v}
    return _respond("supervision/reviews.html", "supervision/_reviews.html",
                    f=f, here=here, visits=visits, total=total, page=page,
                    pages=max(1, -(-total // PER_PAGE)), args=args, **base)


def _review_context(visit: Visit) -> dict[str, Any]:
    household = visit.household
    policy = policy_for_county(household.county_id)
    photos = db.session.scalars(
        sa.select(Photo).where(Photo.visit_id == visit.id).order_by(Photo.created_at, Photo.id)
    ).all()
    far = "far_from_household" in visit.flags
    map_svg = None
    if visit.lat is not None and visit.lon is not None:
        if household.has_reference:
            desc = _("签到位置距离住户参考位置 %(d)s；虚线圆为允许范围 %(fence)d 米，"
                     "浅色圆为定位精度", d=charts.distance_label(visit.distance_m or 0),
                     fence=policy.geofence_m)
        else:
            desc = _("该户尚无参考位置，只显示签到位置和定位精度")
        map_svg = charts.visit_map(
            visit.lat, visit.lon, chart_id="visit-map", title=_("签到位置与住户参考位置"),
            desc=desc, accuracy_m=visit.accuracy_m, ref_lat=household.ref_lat,
            ref_lon=household.ref_lon, geofence_m=policy.geofence_m,
            distance_m=visit.distance_m, far=far, **_tiles())
    delay_h = (visit.recorded_at - visit.visited_at).total_seconds() / 3600
    skew_min = ((visit.device_time - visit.recorded_at).total_seconds() / 60
                if visit.device_time else None)
    return {
        "visit": visit, "household": household, "policy": policy, "photos": photos,
        "flags": flag_details(visit), "map_svg": map_svg, "far": far,
        "delay_h": delay_h, "skew_min": skew_min,
        "history": review.helper_history(current_user, visit),
        "decisions": decisions_for(visit.id),
        "can_decide": review.can_decide(current_user),
    }


def _flagged_visit_or_404(visit_id: str) -> Visit:
    visit = get_visit_or_404(current_user, visit_id)
    if visit.flag_count <= 0:
        abort(404)
    return visit


@bp.get("/reviews/<visit_id>")
@role_required(*VIEW_ROLES)
def review_visit(visit_id: str):
    visit = _flagged_visit_or_404(visit_id)
    return render_template("supervision/review.html", errors={}, opinion="",
                           **_review_context(visit))


@bp.post("/reviews/<visit_id>")
@role_required(*VIEW_ROLES)
@once
def decide(visit_id: str):
    visit = _flagged_visit_or_404(visit_id)
    if not review.can_decide(current_user):
        abort(403)
    decision = request.form.get("decision", "")
    opinion = request.form.get("opinion", "")

    def following(_result: object) -> str:
        after = review.next_pending(current_user, visit)
        return url_for(".review_visit", visit_id=after.id) if after is not None \
            else url_for(".reviews")

    def message(_result: object) -> str:
        if decision == "reject":
            return _("已判定该走访无效（%(name)s，%(date)s），不再计入走访完成情况",
                     name=visit.household.head_name, date=_visit_day(visit))
        return _("已确认该走访有效（%(name)s，%(date)s）",
                 name=visit.household.head_name, date=_visit_day(visit))

    return submit(
        lambda: review.decide(current_user, visit, decision, opinion, expect_version=(
            review.parse_version(request.form.get("review_version")))),
        failed=lambda exc: render_template(
            "supervision/review.html", errors=exc.errors,
            opinion=opinion[:review.MAX_OPINION * 2],
            **_review_context(_flagged_visit_or_404(visit_id))),
        to=following, message=message)


def _visit_day(visit: Visit) -> str:
    return local(visit.visited_at).strftime("%Y-%m-%d")
