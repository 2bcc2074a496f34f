"""A household that moved away leaves the programme: the community worker chooses the route on
the household page and fills in its fields, gives the community's opinion, the street gives
its own, the county office decides, and the household shows as exited with its route."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from fieldwork.accounts.models import User
from fieldwork.extensions import db
from fieldwork.households.models import Case, Household
from fieldwork.timeutil import today_local
from tests.factories import query

pytestmark = pytest.mark.browser

DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, "is_mobile": False,
                           "has_touch": False, "device_scale_factor": 1}
HEAD = "赵迁出"


def _household(live_server: Any) -> tuple[int, str]:
    """An enrolled household of demo-community's community without a helper, enrolled and
    moved away on the 1st of this month, so no month's visit count changes for other tests."""
    def make():
        worker = db.session.scalar(sa.select(User).where(User.username == "demo-community"))
        first = today_local().replace(day=1)
        hh = Household(head_name=HEAD, address="建设路200号", category="below_dibao",
                       causes=["illness"], status="enrolled", members_count=2,
                       per_capita_income=Decimal("500"), file_no="EXIT-BROWSER-1",
                       enrolled_on=first)
        hh.set_place(worker.place)
        db.session.add(hh)
        db.session.commit()
        return hh.id, first.isoformat()
    return query(live_server, make)


def _decide(page: Page, case_url: str) -> None:
    page.goto(case_url)
    page.locator("#decide input[name=decision][value=approve]").check()
    page.locator("#decide button[type=submit]").click()
    expect(page.locator(".flash").first).to_be_visible()


def test_a_move_goes_through_the_chain(live_server: Any, new_page, login) -> None:
    household_id, first = _household(live_server)

    community = new_page(**DESKTOP)
    login(community, "demo-community")
    community.goto(f"/households/{household_id}")
    community.get_by_test_id("propose-exit").click()
    community.locator("input[name=route][value=moved]").check()
    community.locator("#route button[type=submit]").click()
    community.locator("input[name=event_on]").fill(first)
    community.locator("input[name=destination]").fill("郑州市金水区")
    community.locator("textarea[name=reason]").fill("全家户籍迁至郑州，有迁移证")
    community.locator("#facts button[type=submit]").click()
    expect(community.get_by_test_id("exit-facts")).to_contain_text("郑州市金水区")
    case_url = community.url.split("#")[0]
    _decide(community, case_url)
    expect(community.get_by_test_id("stage")).to_contain_text("街道(乡镇)解困办意见")

    street = new_page(**DESKTOP)
    login(street, "demo-street")
    street.goto("/manage/exit")
    expect(street.get_by_test_id("exit-queue")).to_contain_text(HEAD)
    _decide(street, case_url)

    county = new_page(**DESKTOP)
    login(county, "demo-county")
    _decide(county, case_url)
    expect(county.get_by_test_id("opinions")).to_contain_text("县级解困办审批")
    county.goto(f"/households/{household_id}")
    expect(county.locator("main")).to_contain_text("迁出或户籍变更")

    def state():
        hh = db.session.get(Household, household_id)
        case = db.session.scalar(sa.select(Case).where(Case.household_id == household_id))
        return hh.status, hh.exited_on, hh.exit_route, case.state
    assert query(live_server, state) == ("exited", date.fromisoformat(first), "moved",
                                         "approved")
