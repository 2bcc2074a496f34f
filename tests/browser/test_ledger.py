"""A county officer narrows the on-screen 台账 to one community (htmx, no reload), opens the
household page from a row, and prints the community's 附件5: rendered for print, it takes
one A4 landscape page per ROWS_PER_SHEET households."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from fieldwork.extensions import db
from fieldwork.households.models import Household
from fieldwork.places.models import Place
from fieldwork.supervision.export import ROWS_PER_SHEET
from tests.factories import query

pytestmark = pytest.mark.browser

DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}, "is_mobile": False,
                           "has_touch": False, "device_scale_factor": 1}


def _pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


@pytest.fixture(scope="module")
def busiest(live_server: Any) -> tuple[int, str, int]:
    """The demo county's community with the most households in the ledger:
    (id, name, households)."""
    def find():
        county = db.session.scalar(sa.select(Place).where(Place.code == "411302"))
        pid, n = db.session.execute(
            sa.select(Household.place_id, sa.func.count())
            .where(Household.county_id == county.id,
                   Household.status.in_(("enrolled", "exited")))
            .group_by(Household.place_id).order_by(sa.func.count().desc(), Household.place_id)
            .limit(1)).one()
        return pid, db.session.get(Place, pid).name, n
    return query(live_server, find)


def test_officer_filters_the_ledger_and_prints_annex5(new_page, login, busiest):
    pid, name, households = busiest
    page = new_page(**DESKTOP)
    login(page, "demo-county")
    page.goto("/ledger/")
    expect(page.get_by_test_id("ledger-table")).to_be_visible()
    page.evaluate("window.__not_reloaded = true")
    page.locator("#l-place").select_option(str(pid))
    expect(page.get_by_test_id("ledger-count")).to_contain_text(f"共 {households} 户")
    expect(page).to_have_url(re.compile(rf"place={pid}"))
    assert page.evaluate("window.__not_reloaded === true")  # swapped in place by htmx
    rows = page.get_by_test_id("ledger-table").locator("tbody tr")
    expect(rows).to_have_count(min(households, 50))
    expect(rows.first.locator("td").nth(1)).to_have_text(name)

    link = page.get_by_test_id("print-annex")
    expect(link).to_contain_text(name)
    link.click()
    page.wait_for_url(re.compile(rf"/ledger/annex5/{pid}\?"))
    expect(page.get_by_test_id("annex5-sheet").first).to_be_visible()
    sheets = math.ceil(households / ROWS_PER_SHEET)
    expect(page.get_by_test_id("annex5-sheet")).to_have_count(sheets)
    expect(page.get_by_test_id("annex5-row")).to_have_count(households)
    page.emulate_media(media="print")
    expect(page.locator(".print-actions")).to_be_hidden()
    pdf = page.pdf(prefer_css_page_size=True, print_background=False)
    assert _pdf_pages(pdf) == sheets
    # A4 landscape: the first page's media box is wider than high (842 × 595 pt).
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    assert box is not None and float(box.group(1)) > float(box.group(2))
