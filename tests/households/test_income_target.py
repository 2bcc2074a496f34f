"""The household file shows whether per-capita income reaches the programme's target (630 元,
policy line 87), a county setting apart from the 城镇低保标准."""

from __future__ import annotations

from decimal import Decimal

from tests.factories import set_policy


def chip(client, household) -> str:
    page = client.get(f"/households/{household.id}").get_data(as_text=True)
    start = page.index('data-testid="income-target"')
    return page[start:page.index("</span>", start)]


def test_target_chip_on_the_household_file(client, auth, world, make_user, make_household):
    below = make_household(per_capita_income=Decimal("629.99"))
    at = make_household(per_capita_income=Decimal("630"))
    unknown = make_household(per_capita_income=None)
    auth.login(make_user("county_officer"))
    assert "未达目标" in chip(client, below)
    assert "达到 630 元目标" in chip(client, at)
    assert 'data-testid="income-target"' not in client.get(
        f"/households/{unknown.id}").get_data(as_text=True)

    # The target is the county's setting, not the 低保标准.
    set_policy(world, income_target=Decimal("600"))
    assert "达到 600 元目标" in chip(client, below)
    set_policy(world, income_target=Decimal("650.5"))
    assert "未达目标" in chip(client, at)
