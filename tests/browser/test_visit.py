"""A helper records a visit on the phone: GPS check-in, survey, photo, save."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from fieldwork.extensions import db
from fieldwork.households.constants import DIMENSIONS
from fieldwork.households.models import Household
from fieldwork.photos.models import Photo
from fieldwork.visits.models import Visit
from tests.factories import camera_jpeg, query

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VISIT_URL = re.compile(r"/visits/(?P<id>[0-9a-f-]{36})$")
# A camera-sized photo; each seed looks different, so no visit trips photo_reused.
CAMERA = {"size": (3000, 2000), "shapes": 12, "widths": (200, 1500), "heights": (200, 1000)}


def _offset(lat: float, lon: float, north_m: float) -> tuple[float, float]:
    """The point north_m metres north of (lat, lon)."""
    return lat + north_m / 111_195, lon


def _open_first_household(page: Page, live_server: Any) -> Household:
    """Open the top household of 我的帮扶户; returns it (detached) with its reference point."""
    page.goto("/households/mine")
    page.locator("#household-list .list-link").first.click()
    page.wait_for_url(re.compile(r"/households/\d+$"))
    household_id = int(page.url.rsplit("/", 1)[1])
    household = query(live_server, lambda: db.session.get(Household, household_id))
    assert household.has_reference
    return household


def _check_in(page: Page, household: Household, north_m: float) -> None:
    lat, lon = _offset(household.ref_lat, household.ref_lon, north_m)
    page.context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 10})
    page.get_by_test_id("record-visit").click()
    expect(page.locator("[data-gps-status]")).to_have_attribute("data-state", "ok")
    expect(page.locator("[data-gps-status]")).to_contain_text("已定位")


def _fill_survey(page: Page, household: Household) -> None:
    page.locator("#f-present").fill("户主本人")
    for dim in DIMENSIONS:
        page.locator(f'[data-field="{dim}_status"] label.seg-ok').click()
        expect(page.locator(f'input[name="{dim}_status"][value="ok"]')).to_be_checked()
    page.locator("#f-household_income").fill("1500")
    expected = f"{1500 / household.members_count:.2f}"
    expect(page.locator("output[name=per_capita]")).to_have_text(expected)


def _attach_photo(page: Page, seed: int) -> dict[str, Any]:
    """Choose a 3000×2000 photo; returns what the preview shows: natural size and KB."""
    page.locator("#f-photo").set_input_files(
        {"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": camera_jpeg(seed, **CAMERA)}
    )
    preview = page.locator("[data-photo-previews] li")
    expect(preview).to_have_count(1)
    img = preview.locator("img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=img.element_handle())
    return {
        "size": img.evaluate("img => [img.naturalWidth, img.naturalHeight]"),
        "kb": int(preview.locator("span.small").inner_text().removesuffix(" KB")),
    }


def _save(page: Page) -> str:
    """Save: the record goes to the phone's outbox, the sender uploads it, and the page moves
    on to the recorded visit. Returns its id, or fails with what the page said."""
    page.get_by_test_id("save-visit").click()
    try:
        page.wait_for_url(VISIT_URL)
    except PlaywrightTimeoutError:
        pass
    match = VISIT_URL.search(page.url)
    if not match:
        said = page.locator("[data-form-errors], #form-errors, .error, [data-saved-status], "
                            "[data-sync-text]").all_inner_texts()
        pytest.fail(f"the visit did not reach the server ({page.url}): {said}")
    return match["id"]


def _flags(page: Page) -> set[str]:
    return set(page.locator("[data-flag]").evaluate_all("els => els.map(e => e.dataset.flag)"))


def _screenshot(page: Page, name: str) -> None:
    """The whole page as a phone 360 px wide shows it, once the sync bar has settled."""
    expect(page.locator("[data-syncbar]")).to_have_attribute("data-state", "idle")
    viewport = page.viewport_size
    # A viewport as tall as the page, so the fixed and sticky bars sit where they belong
    # instead of mid-page, as they would in a scrolled full-page capture.
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": height})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name, scale="css", animations="disabled", caret="hide")
    page.set_viewport_size(viewport)


def test_helper_records_a_visit_with_a_photo_and_a_fix(live_server, page, login):
    login(page, "demo-helper")
    household = _open_first_household(page, live_server)
    household_url = page.url

    _check_in(page, household, north_m=20)
    _fill_survey(page, household)
    preview = _attach_photo(page, seed=1)
    assert preview["size"] == [1600, 1067]  # downscaled on the phone, before it travels
    _screenshot(page, "visit-form.png")
    visit_id = _save(page)

    distance = page.get_by_test_id("visit-distance")
    expect(distance).to_have_text(re.compile(r"^\d+ 米$"))
    assert 10 <= int(distance.inner_text().split()[0]) < 50
    expect(page.get_by_test_id("visit-no-flags")).to_be_visible()
    expect(page.get_by_text("1500.00 元")).to_be_visible()
    _screenshot(page, "visit-recorded.png")

    page.goto(household_url)
    thumb = page.locator(f'a[href="/visits/{visit_id}"] img')
    expect(thumb).to_have_count(1)
    thumb.scroll_into_view_if_needed()  # the thumbnails load lazily
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=thumb.element_handle())

    photos = query(live_server, lambda: db.session.scalars(
        sa.select(Photo).where(Photo.visit_id == visit_id)).all())
    assert len(photos) == 1
    photo = photos[0]
    assert photo.stored
    assert max(photo.width, photo.height) <= 1600
    # What arrived is the phone's JPEG from the preview, not the 3000 px original (the server
    # caps at 1600 px too, so the stored size alone would not tell).
    assert photo.upload_sha256 == photo.declared_sha256
    assert round(photo.declared_bytes / 1024) == preview["kb"]
    assert photo.declared_bytes < len(camera_jpeg(1, **CAMERA)) / 2


def test_a_fix_far_from_the_household_is_flagged(live_server, page, login):
    login(page, "demo-helper")
    household = _open_first_household(page, live_server)

    _check_in(page, household, north_m=5000)
    _fill_survey(page, household)
    _attach_photo(page, seed=2)
    _save(page)

    expect(page.locator("[data-flag=far_from_household]")).to_be_visible()
    assert _flags(page) == {"far_from_household"}
    distance = int(page.get_by_test_id("visit-distance").inner_text().split()[0])
    assert math.isclose(distance, 5000, rel_tol=0.02)


def test_without_location_permission_the_visit_still_saves_flagged(live_server, new_page, login):
    page = new_page(permissions=[])  # the helper said no to the location prompt
    login(page, "demo-helper")
    household = _open_first_household(page, live_server)

    page.get_by_test_id("record-visit").click()
    status = page.locator("[data-gps-status]")
    # Chromium refuses at once: this wait (TIMEOUT_MS, 10 s) ends before geo.js's own 20 s
    # timeout could be what turns the status to "failed".
    expect(status).to_have_attribute("data-state", "failed")
    expect(status).to_contain_text("定位权限被拒绝")
    _fill_survey(page, household)
    visit_id = _save(page)

    assert "no_location" in _flags(page)
    visit = query(live_server, lambda: db.session.get(Visit, visit_id))
    assert visit.lat is None and "no_location" in visit.flags
