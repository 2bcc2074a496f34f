"""A county officer supervises on a desktop and on a phone: the compliance dashboard with its
charts and map, drilling down to a community, the month selector, and the doubtful-visit
queue, where a far-away check-in is opened, its evidence read and the visit rejected."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from fieldwork.extensions import db
from fieldwork.households.models import Household, ReviewDecision
from fieldwork.places.models import Place
from fieldwork.timeutil import add_months, current_month, month_bounds, month_key
from fieldwork.visits.models import Visit
from tests.factories import query

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}, "is_mobile": False,
                           "has_touch": False, "device_scale_factor": 1}
SIZES = {"desktop": DESKTOP, "phone": {}}
MAX_SCREENSHOT_HEIGHT = 2400





@pytest.fixture(scope="module")
def far_visits(live_server: Any) -> dict[str, tuple[str, str]]:
    """For each screen size, a visit in 宛城区 checked in 1.2 km north of its household, made
    before the dashboard is looked at: {size: (visit id, head name)}."""
    def make():
        county = db.session.scalar(sa.select(Place).where(Place.code == "411302"))
        households = db.session.scalars(
            sa.select(Household).where(Household.county_id == county.id,
                                       Household.status == "enrolled",
                                       Household.ref_lat.is_not(None))
            .order_by(Household.id.desc()).limit(len(SIZES))).all()
        at = month_bounds(current_month())[0] + timedelta(minutes=5)
        made = {}
        for size, hh in zip(SIZES, households, strict=True):
            visit = Visit(id=str(uuid.uuid4()), household_id=hh.id,
                          helper_id=hh.assignments[-1].helper_id, visited_at=at,
                          month=month_key(at), recorded_at=at + timedelta(minutes=3),
                          lat=hh.ref_lat + 0.0108, lon=hh.ref_lon, accuracy_m=18.0,
                          location_source="gps", distance_m=1201.0,
                          answers={"present": "户主"},
                          flags=["far_from_household", "no_photo"], flag_count=2)
            db.session.add(visit)
            made[size] = (visit.id, hh.head_name)
        db.session.commit()
        return made

    return query(live_server, make)


def _screenshot(page: Page, name: str) -> None:
    """The page at its full height (capped), the way a tall screen would show it."""
    page.wait_for_load_state("networkidle")
    viewport = page.viewport_size
    height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_SCREENSHOT_HEIGHT)
    page.set_viewport_size({"width": viewport["width"], "height": height})
    page.screenshot(path=SCREENSHOTS / name, scale="css", animations="disabled", caret="hide")
    page.set_viewport_size(viewport)
    assert (SCREENSHOTS / name).stat().st_size < 320_000


def _no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_dashboard_charts_and_drilling_down(new_page, login, far_visits, size):
    page = new_page(**SIZES[size])
    login(page, "demo-county")
    page.goto("/supervision/")
    headline = page.get_by_test_id("headline")
    expect(headline).to_be_visible()
    due = int(page.get_by_test_id("stat-due").inner_text())
    visited = int(page.get_by_test_id("stat-visited").inner_text())
    assert due > 0 and 0 <= visited <= due
    expect(page.get_by_test_id("stat-rate")).to_have_text(re.compile(r"\d+\.\d"))
    for chart in ("#trend-chart", "#breakdown-chart", "#checkin-map"):
        expect(page.locator(chart)).to_be_visible()
    # Twelve months of bars; one bar per street of the county; the map without tiles.
    expect(page.locator("#trend-chart g.bar")).to_have_count(12)
    streets = page.locator('[data-testid="breakdown"] tbody a')
    expect(page.locator("#breakdown-chart a")).to_have_count(streets.count())
    expect(page.locator("#checkin-map image")).to_have_count(0)
    expect(page.locator("#checkin-map .map-checkin")).to_have_count(1)
    expect(page.locator("#checkin-map .map-far")).to_have_count(1)  # one path, every far dot
    assert int(page.get_by_test_id("stat-flagged").inner_text()) >= len(far_visits)
    for _visit_id, head_name in far_visits.values():
        expect(page.get_by_test_id("far-list")).to_contain_text(head_name)
    _no_sideways_scroll(page)
    _screenshot(page, f"dashboard-{size}.png")

    # Drill down: county → street → community (htmx swaps the dashboard, the URL follows).
    street_name = streets.first.inner_text()
    streets.first.click()
    expect(page).to_have_url(re.compile(r"/supervision/place/\d+$"))
    expect(page.locator("#dashboard h1")).to_contain_text(street_name)
    expect(page).to_have_title(re.compile(street_name))
    expect(page.locator("main > title")).to_have_count(0)  # htmx took it out
    community = page.locator('[data-testid="breakdown"] tbody a').first
    community_name = community.inner_text()
    community.click()
    expect(page.locator("#dashboard h1")).to_contain_text(community_name)
    expect(page.locator('[data-row-level="helper"]').first).to_be_visible()
    expect(page.locator("#dashboard .crumbs")).to_contain_text(street_name)
    _no_sideways_scroll(page)

    # The month selector swaps in last month's figures.
    previous = add_months(current_month(), -1)
    page.locator("#sv-month").select_option(str(previous))
    expect(page).to_have_url(re.compile(rf"month={previous}"))
    expect(page.locator("#sv-month")).to_have_value(str(previous))
    expect(page.get_by_test_id("stat-due")).to_be_visible()
    # Back in history restores the page the officer came from.
    page.go_back()
    expect(page.locator("#dashboard h1")).to_contain_text(community_name)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_rejecting_a_far_visit_from_the_queue(new_page, login, live_server, far_visits, size):
    visit_id, head_name = far_visits[size]
    page = new_page(**SIZES[size])
    login(page, "demo-county")
    page.goto("/supervision/")
    page.get_by_test_id("pending-link").click()
    expect(page).to_have_url(re.compile(r"/supervision/reviews\?"))
    page.wait_for_load_state("load")  # htmx (a deferred script) is listening
    page.locator("#q-flag").select_option("far_from_household")
    expect(page).to_have_url(re.compile(r"flag=far_from_household"))
    item = page.locator(f'[data-visit-id="{visit_id}"] a')
    expect(item).to_contain_text(head_name)
    expect(item).to_contain_text("距离住户过远")
    _no_sideways_scroll(page)
    item.click()

    expect(page).to_have_url(re.compile(rf"/supervision/reviews/{visit_id}$"))
    expect(page.get_by_test_id("review-flags")).to_contain_text("1201 米")
    expect(page.locator("#visit-map")).to_be_visible()
    expect(page.locator("#visit-map .map-distance")).to_have_text("1.2 公里")
    expect(page.get_by_test_id("review-history")).to_contain_text("共走访")
    expect(page.get_by_test_id("review-status")).to_contain_text("待审核")
    _no_sideways_scroll(page)
    _screenshot(page, f"review-{size}.png")

    # A rejection needs a reason. (Wait for the page's own sync requests to finish first: on
    # SQLite two writing requests at once may collide.)
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="判定无效").click()
    expect(page.get_by_test_id("opinion-error")).to_have_text("判定无效时必须填写理由")
    # The refusal is a 422 response, which Chromium logs; nothing else may be there.
    assert [e for e in page.console_errors if "422" not in e] == []
    page.console_errors.clear()
    page.locator("#opinion").fill("签到位置在1公里外的另一小区，且没有照片")
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="判定无效").click()
    expect(page.locator(".flash-success")).to_contain_text("已判定该走访无效")
    expect(page).not_to_have_url(re.compile(rf"/supervision/reviews/{visit_id}$"))

    def stored():
        visit = db.session.get(Visit, visit_id)
        decisions = db.session.scalars(sa.select(ReviewDecision).where(
            ReviewDecision.visit_id == visit_id)).all()
        return visit.review_status, [(d.decision, d.reviewer.username) for d in decisions]

    assert query(live_server, stored) == ("rejected", [("reject", "demo-county")])
    page.goto(f"/supervision/reviews/{visit_id}")
    expect(page.get_by_test_id("review-status")).to_contain_text("已判定无效")
    expect(page.get_by_test_id("review-decisions")).to_contain_text("签到位置在1公里外")

