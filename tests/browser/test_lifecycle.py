"""One household's way in: found by a community worker on a phone without signal, synced,
reviewed by the community, the street and the county office, publicised, enrolled with a
helper, and on the helper's phone after its next sync."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from test_offline import fill_discovery

from fieldwork.accounts.models import User
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.extensions import db
from fieldwork.households.models import Case, Household
from fieldwork.places.coords import distance_m
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.privacy.service import reveal_id
from fieldwork.timeutil import today_local
from tests.factories import query

pytestmark = pytest.mark.browser

DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, "is_mobile": False,
                           "has_touch": False, "device_scale_factor": 1}
HEAD = "韩桂香"
ADDRESS = "红旗路88号3号楼2单元101"
ID_NUMBER = make_test_id_number("411302", date(1961, 7, 19), 777)





def _quiet_spot(live_server: Any) -> tuple[float, float, int]:
    """A point in demo-community's community with no household within 100 m (so the phone's
    duplicate check has nothing to show), and the community's id."""
    def find():
        worker = db.session.scalar(sa.select(User).where(User.username == "demo-community"))
        place = worker.place
        homes = db.session.execute(sa.select(Household.ref_lat, Household.ref_lon).where(
            Household.ref_lat.is_not(None))).all()
        for step in range(1, 60):
            lat, lon = place.lat + step * 0.0009, place.lon - step * 0.0007
            if all(distance_m(lat, lon, a, b) > 100 for a, b in homes):
                return lat, lon, place.id
        raise AssertionError("no quiet spot near the demo community")
    return query(live_server, find)


def _wait_synced(page: Page) -> None:
    bar = page.locator("[data-syncbar]")
    expect(bar).to_have_attribute("data-waiting", "0")
    expect(bar).to_have_attribute("data-state", "idle")


def _load(page: Page, action) -> None:
    """Do something that loads a page, and wait for the sync that every page load starts
    (it ends with a pull) to finish, so the next step does not race it."""
    with page.expect_response(lambda r: "/api/sync/v1/pull" in r.url):
        action()
    _wait_synced(page)


def _controlled(page: Page) -> None:
    """Wait until the service worker controls the page (so it can serve it offline)."""
    # activate() claims open pages; wait for that rather than reloading (a reload would
    # start a second sync while the first is running).
    assert page.evaluate("""async () => {
        await navigator.serviceWorker.ready;
        if (!navigator.serviceWorker.controller) {
            await new Promise((resolve) => navigator.serviceWorker.addEventListener(
                "controllerchange", resolve, { once: true }));
        }
        return Boolean(navigator.serviceWorker.controller);
    }""")


def _decide(page: Page, decision: str, opinion: str, plan: str | None = None) -> None:
    form = page.get_by_test_id("decision-form")
    form.locator(f"label.seg-{decision}").click()
    expect(form.locator(f'input[name=decision][value="{decision}"]')).to_be_checked()
    if plan is not None:
        form.locator("#f-plan").fill(plan)
    form.locator("#f-opinion").fill(opinion)
    _load(page, form.get_by_test_id("submit-decision").click)
    page.wait_for_url(re.compile(r"/reviews/$"))
    expect(page.locator(".flash-success")).to_contain_text(HEAD)


def _open_waiting_case(page: Page, case_id: int) -> None:
    _load(page, lambda: page.goto("/reviews/"))
    item = page.locator(f'[data-testid=waiting-case][data-case-id="{case_id}"]')
    expect(item).to_be_visible()
    _load(page, item.locator("a").click)
    page.wait_for_url(re.compile(rf"/reviews/cases/{case_id}$"))


def test_an_offline_discovery_goes_through_review_to_the_helpers_phone(
        live_server, new_page, login):
    lat, lon, community_id = _quiet_spot(live_server)

    # The helper's phone has synced before any of this happened.
    helper = new_page()
    _load(helper, lambda: login(helper, "demo-helper"))
    _load(helper, lambda: helper.goto("/households/mine"))
    _controlled(helper)
    expect(helper.locator("#household-list")).not_to_contain_text(HEAD)

    # A community worker, on a phone, loses the signal in a stairwell and reports a household.
    phone = new_page()
    phone.context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 15})
    # The first sync after signing in stores the account on the phone; the offline pages
    # need it (opening the form before it lands shows "需要登录").
    _load(phone, lambda: login(phone, "demo-community"))
    # The form's own sync gives the phone its households, for the offline duplicate check.
    _load(phone, lambda: phone.goto("/discovery/new"))
    form = phone.locator("#discovery-form")
    expect(form).to_be_visible()
    phone.context.set_offline(True)
    expect(phone.locator("[data-syncbar]")).to_have_attribute("data-state", "offline")

    expect(form.locator("#f-region")).to_have_value(str(community_id))
    fill_discovery(phone, HEAD, ADDRESS, ID_NUMBER, phone="13937701111", members="2",
                   reason="老伴瘫痪在床，儿子失业，靠亲戚接济")
    expect(form.locator("[data-gps-status]")).to_have_attribute("data-state", "ok")
    form.get_by_test_id("save-discovery").click()
    expect(phone.get_by_test_id("saved-on-phone")).to_be_visible()
    expect(phone.locator("[data-saved-status]")).to_contain_text("联网后会自动上传")
    expect(phone.locator("[data-syncbar]")).to_have_attribute("data-waiting", "1")
    assert query(live_server, lambda: db.session.scalar(sa.select(DiscoveryReport).where(
        DiscoveryReport.head_name == HEAD))) is None

    # Back in signal: the phone sends the report by itself.
    phone.context.set_offline(False)
    _wait_synced(phone)
    expect(phone.locator("[data-saved-status]")).to_have_text("已上传到服务器")
    report = query(live_server, lambda: db.session.scalar(sa.select(DiscoveryReport).where(
        DiscoveryReport.head_name == HEAD)))
    assert report is not None and report.status == "new" and report.id_mask.startswith("4113")

    # The community's 初审, at a desk: the report waits in the queue, becomes a case.
    desk = new_page(**DESKTOP)
    _load(desk, lambda: login(desk, "demo-community"))
    _load(desk, lambda: desk.goto("/reviews/"))
    _load(desk, desk.locator(
        f'[data-testid=waiting-report][data-report-id="{report.id}"] a').click)
    expect(desk.locator("h1")).to_contain_text(HEAD)
    expect(desk.locator("body")).to_contain_text("老伴瘫痪在床")
    expect(desk.locator("#f-category")).to_have_value("below_dibao")
    _load(desk, desk.get_by_test_id("open-case").click)
    desk.wait_for_url(re.compile(r"/reviews/cases/\d+$"))
    case_id = int(desk.url.rsplit("/", 1)[1])
    expect(desk.get_by_test_id("case-state")).to_contain_text("待社区初审")
    _decide(desk, "approve", "入户核实，家庭情况属实")

    desk.close()
    street = new_page(**DESKTOP)
    _load(street, lambda: login(street, "demo-street"))
    _open_waiting_case(street, case_id)
    expect(street.get_by_test_id("decisions")).to_contain_text("入户核实，家庭情况属实")
    _decide(street, "approve", "复核同意", plan="申请城镇低保；为儿子协调公益性岗位")

    street.close()
    county = new_page(**DESKTOP)
    _load(county, lambda: login(county, "demo-county"))
    _open_waiting_case(county, case_id)
    expect(county.get_by_test_id("draft-plan")).to_contain_text("申请城镇低保")
    _decide(county, "approve", "综合审核确认，予以公示")
    _load(county, lambda: county.goto(f"/reviews/cases/{case_id}"))
    expect(county.get_by_test_id("case-state")).to_contain_text("公示中")
    expect(county.get_by_test_id("enrol-blockers")).to_contain_text("期满后才能建档")

    # The publicity period ends (set in the database: the test cannot wait a week).
    def end_publicity():
        case = db.session.get(Case, case_id)
        case.publicity_ends_on = today_local() - timedelta(days=1)
        db.session.commit()
    query(live_server, end_publicity)
    _load(county, lambda: county.goto("/reviews/"))
    _load(county, county.locator(f'[data-testid=ready-case][data-case-id="{case_id}"] a').click)
    county.wait_for_url(re.compile(rf"/reviews/cases/{case_id}/enrol$"))
    helper_id = query(live_server, lambda: db.session.scalar(
        sa.select(User.id).where(User.username == "demo-helper")))
    county.locator("#f-helper").select_option(str(helper_id))
    county.locator("details[data-area=income] > summary").click()
    county.locator('details[data-area=income] input[name=measures]').first.check()
    county.locator("details[data-area=employment] > summary").click()
    county.locator("details[data-area=employment] input[name=measures]").first.check()
    _load(county, county.get_by_test_id("submit-enrol").click)
    county.wait_for_url(re.compile(rf"/reviews/cases/{case_id}$"))
    expect(county.locator(".flash-success")).to_contain_text("已建档")
    expect(county.get_by_test_id("case-state")).to_contain_text("已建档")

    household = query(live_server, lambda: db.session.get(
        Household, db.session.get(Case, case_id).household_id))
    assert household.status == "enrolled" and household.enrolled_on == today_local()
    assert re.fullmatch(rf"411302-{today_local().year}-\d{{5}}", household.file_no)
    assert (household.ref_lat, household.ref_lon, household.ref_source) == (
        pytest.approx(lat), pytest.approx(lon), "discovery")
    assert query(live_server, lambda: reveal_id(
        db.session.get(Household, household.id).head.id_enc)) == ID_NUMBER
    expect(county.locator("body")).to_contain_text(household.file_no)

    # The helper's phone: the next sync brings the household, which then opens offline.
    _load(helper, helper.locator("[data-syncbar] [data-action=sync-now]").click)
    helper.context.set_offline(True)
    helper.goto("/households/mine")
    expect(helper.locator("[data-offline-note]")).to_be_visible()
    item = helper.locator(".list-item", has_text=HEAD)
    expect(item).to_be_visible()
    expect(item).to_contain_text(ADDRESS)
    item.locator("a").click()
    expect(helper.locator("h1")).to_contain_text(household.file_no)
    helper.context.set_offline(False)
