"""A member change made offline on the phone that the office then confirms (issue 13, "Done
when"): the helper, with no network, sees the family on the household page, records a visit
reporting a birth and a death, goes online and syncs; the two changes wait for the street;
the street reviewer confirms them and the file shows the newborn among the members and the
member who died apart -- on the office's page and, after the next sync, on the phone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from fieldwork.accounts.models import User
from fieldwork.extensions import db
from fieldwork.households import changes
from fieldwork.households.models import Household, HouseholdChange
from fieldwork.timeutil import today_local
from tests.browser.test_offline import (
    OFFLINE_CONSOLE,
    cached_households,
    fill_visit,
    forget_console_errors,
    idb,
    phone_online,
    save_visit,
    settle,
    sync_now_and_wait,
)
from tests.factories import query

pytestmark = pytest.mark.browser


def test_a_birth_and_a_death_recorded_offline_reach_the_file_once_the_street_confirms(
        live_server, new_context, new_page, login):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    household = next(h for h in cached_households(page, "demo-helper")
                     if len(h["members"]) >= 2)
    hid = household["id"]
    dying = next(m for m in household["members"] if m["relation"] != "户主")
    born_on = (today_local() - timedelta(days=10)).isoformat()
    died_on = (today_local() - timedelta(days=2)).isoformat()
    count = household["members_count"]

    context.set_offline(True)
    page.goto(f"/households/{hid}")
    expect(page.locator("[data-offline-note]")).to_be_visible()
    table = page.locator("table[data-members]")
    expect(table.locator("tbody tr")).to_have_count(len(household["members"]))
    expect(table.locator(f"tr[data-member-id='{dying['id']}']")).to_contain_text(dying["name"])
    assert "*" not in table.inner_text()  # not even a masked ID on the phone

    page.get_by_test_id("record-visit").click()
    fill_visit(page, household, [])
    expect(page.locator("[data-visit-members] li")).to_have_count(len(household["members"]))
    changes_part = page.locator("[data-field=member_changes]")
    changes_part.locator("[data-add-change=birth]").click()
    born = changes_part.locator("li[data-kind=birth]")
    born.locator("[data-mc=name]").fill("张小满")
    born.locator("[data-mc=birth_date]").fill(born_on)
    born.locator("[data-mc=relation]").select_option("grandchild")
    born.locator("[data-mc=gender]").select_option("female")
    changes_part.locator("[data-add-change=death]").click()
    died = changes_part.locator("li[data-kind=death]")
    died.locator("[data-mc=member_id]").select_option(str(dying["id"]))
    died.locator("[data-mc=date]").fill(died_on)
    save_visit(page)
    (entry,) = [e for e in idb(page, "outbox") if e["type"] == "visit"]

    context.set_offline(False)
    forget_console_errors(page, *OFFLINE_CONSOLE)
    page.goto(f"/households/{hid}")
    sync_now_and_wait(page)
    assert not [e for e in idb(page, "outbox") if e["type"] == "visit"]

    def pending() -> list[tuple[str, str, str | None, int | None]]:
        return [(c.kind, c.source, c.visit_id, c.member_id) for c in db.session.scalars(
            sa.select(HouseholdChange).where(HouseholdChange.household_id == int(hid),
                                             HouseholdChange.state == "pending",
                                             HouseholdChange.source == "visit")
            .order_by(HouseholdChange.id))]

    assert query(live_server, pending) == [
        ("member_add", "visit", entry["id"], None),
        ("member_leave", "visit", entry["id"], dying["id"])]
    # The phone shows both as waiting for the street; the family is as it was.
    waiting = page.locator("[data-pending-members] li")
    expect(waiting).to_have_count(2)
    expect(waiting.first).to_contain_text("张小满")
    expect(page.locator("table[data-members]")).to_contain_text(dying["name"])

    def confirm_all() -> int:
        reviewer = db.session.scalar(sa.select(User).where(User.username == "demo-street"))
        for c in db.session.scalars(sa.select(HouseholdChange).where(
                HouseholdChange.household_id == int(hid), HouseholdChange.state == "pending",
                HouseholdChange.source == "visit")):
            changes.confirm(c, reviewer)
        db.session.commit()
        return db.session.get(Household, int(hid)).members_count

    assert query(live_server, confirm_all) == count  # one born, one died

    office = new_page()
    login(office, "demo-street")
    office.goto(f"/households/{hid}")
    members = office.locator("#members")
    expect(members.locator("table")).to_contain_text("张小满")
    expect(members.locator("table")).not_to_contain_text(dying["name"])
    apart = members.locator("h3:has-text('已离开本户的成员') + ul")
    expect(apart).to_contain_text(dying["name"])
    expect(apart).to_contain_text(died_on)

    sync_now_and_wait(page)
    table = page.locator("table[data-members]")
    expect(table).to_contain_text("张小满")
    expect(table.locator(f"tr[data-member-id='{dying['id']}']")).to_have_count(0)
    expect(page.locator("[data-pending-members]")).to_have_count(0)


def test_a_member_change_the_server_refuses_is_fixed_on_the_phone_and_resent(
        live_server, new_context, new_page, login):
    """A death dated before the member was born passes the phone (it holds ages, not birth
    dates) and is refused by the server with a message at that field; the helper opens the
    record again from the device page, finds the change filled in with the message next to the
    date, corrects it and sends: one pending change, from the corrected record."""
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    household = next(h for h in cached_households(page, "demo-helper")
                     if len(h["members"]) >= 2)
    hid = household["id"]
    leaving = household["members"][-1]
    page.goto(f"/households/{hid}/visits/new")
    fill_visit(page, household, [])
    part = page.locator("[data-field=member_changes]")
    part.locator("[data-add-change=move_out]").click()
    part.locator("[data-add-change=birth]").click()
    part.locator("li[data-kind=birth] button", has_text="删除这一项").click()  # changed mind
    moved = part.locator("li[data-kind=move_out]")
    moved.locator("[data-mc=member_id]").select_option(str(leaving["id"]))
    moved.locator("[data-mc=date]").fill("1901-01-01")
    save_visit(page)
    page.goto("/device")
    settle(page)
    (entry,) = [e for e in idb(page, "outbox") if e["type"] == "visit"]
    assert entry["state"] == "rejected"
    item = page.locator(f"[data-entry='{entry['id']}']")
    expect(item).to_contain_text("早于出生日期")
    item.get_by_role("link", name="修改后重新提交").click()
    page.wait_for_url(re.compile(rf"/households/{hid}/visits/new\?fix="))
    moved = page.locator("li[data-kind=move_out]")
    expect(moved.locator("[data-mc=member_id]")).to_have_value(str(leaving["id"]))
    date_field = moved.locator("[data-field='member_changes[0].date']")
    expect(date_field).to_contain_text("“迁出日期”早于出生日期，请核对")
    moved.locator("[data-mc=date]").fill(today_local().isoformat())
    save_visit(page)
    page.goto(f"/households/{hid}")
    sync_now_and_wait(page)
    assert not [e for e in idb(page, "outbox") if e["type"] == "visit"]

    def proposed() -> list[tuple[str, int | None, str]]:
        return [(c.kind, c.member_id, c.after["left_reason"]) for c in db.session.scalars(
            sa.select(HouseholdChange).where(HouseholdChange.household_id == int(hid),
                                             HouseholdChange.state == "pending",
                                             HouseholdChange.source == "visit"))]

    assert query(live_server, proposed) == [("member_leave", leaving["id"], "moved_out")]
    expect(page.locator("[data-pending-members] li")).to_contain_text(leaving["name"])
