"""Every management page: who may open it (county officer, street reviewer, city supervisor),
who gets 404, what is out of scope, and that viewers cannot post."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from fieldwork.extensions import db as _db
from fieldwork.households.management import exit as exits
from fieldwork.households.management import exit_chain as chain
from fieldwork.households.management import measures
from fieldwork.households.models import Case, Measure, PlanMeasure

VIEWERS = ("county_officer", "street_reviewer", "city_supervisor")
OTHERS = ("helper", "community_worker", "department_reviewer", "admin")
# The exit pages also serve the community (it proposes and gives the first opinion), and the
# street proposes too: those roles are tested in test_exit_chain.py.
EXIT_PREFIX = "/manage/exit"


@pytest.fixture
def setup(app, world, make_user, make_household):
    measures.seed_catalogue()
    _db.session.commit()
    helper = make_user("helper", display_name="周帮扶")
    officer = make_user("county_officer")
    household = make_household(helper=helper, head_name="吴安康")
    measure = _db.session.scalar(sa.select(Measure).where(Measure.name == "临时救助"))
    entry = PlanMeasure(household=household, measure=measure, start_date=date(2024, 1, 1))
    _db.session.add(entry)
    case = Case(household_id=household.id, kind=exits.KIND, channel="territorial",
                stage=chain.STAGE_COUNTY, state="open", opened_by_id=officer.id)
    _db.session.add(case)
    _db.session.commit()
    other_helper = make_user("helper", place=world.community_b)
    elsewhere = make_household(place=world.community_b, helper=other_helper)
    other_case = Case(household_id=elsewhere.id, kind=exits.KIND, channel="territorial",
                      stage=chain.STAGE_COUNTY, state="open")
    _db.session.add(other_case)
    _db.session.commit()
    return {"helper": helper, "officer": officer, "household": household, "measure": measure,
            "entry": entry, "case": case, "elsewhere": elsewhere, "other_case": other_case,
            "other_helper": other_helper}


def pages(s) -> list[str]:
    h = s["household"].id
    return ["/manage/", "/manage/measures", f"/manage/households/{h}/plan",
            "/manage/assignments", f"/manage/households/{h}/assignment",
            f"/manage/assignments/helpers/{s['helper'].id}", "/manage/exit",
            f"/manage/exit/cases/{s['case'].id}", "/manage/policy"]


def posts(s) -> list[tuple[str, dict]]:
    h, m = s["household"].id, s["measure"].id
    return [
        ("/manage/measures", {"name": "新措施", "area": "income"}),
        (f"/manage/measures/{m}/edit", {"name": "临时救助", "area": "income", "amount": "1"}),
        (f"/manage/measures/{m}/active", {"active": "0"}),
        (f"/manage/households/{h}/plan", {"measure_id": m, "start_date": "2025-01-01"}),
        (f"/manage/households/{h}/plan/{s['entry'].id}/end", {"end_date": "2025-01-01"}),
        ("/manage/assignments/assign", {"household_id": h}),
        (f"/manage/households/{h}/assignment", {"helper_id": s["helper"].id}),
        (f"/manage/assignments/helpers/{s['helper'].id}/transfer", {}),
        (f"/manage/exit/households/{h}/propose", {}),
        (f"/manage/exit/cases/{s['case'].id}/decide", {"decision": "approve"}),
        (f"/manage/exit/cases/{s['case'].id}/resubmit", {"opinion": "x"}),
        ("/manage/policy", {"income_target": "700"}),
        ("/manage/policy/dibao-standard", {"amount": "700", "effective_from": "2025-01-01"}),
    ]


def login_as(auth, make_user, world, role: str, setup):
    if role == "county_officer":
        return auth.login(setup["officer"])
    place = world.county if role == "department_reviewer" else None
    return auth.login(make_user(role, place=place))


@pytest.mark.parametrize("role", VIEWERS)
def test_viewers_open_every_page(client, auth, world, make_user, setup, role):
    login_as(auth, make_user, world, role, setup)
    for url in pages(setup):
        response = client.get(url)
        assert response.status_code == 200, (role, url)
        assert "解困办管理" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", OTHERS)
def test_other_roles_get_404_everywhere(client, auth, world, make_user, setup, role):
    login_as(auth, make_user, world, role, setup)
    exempt = EXIT_PREFIX if role == "community_worker" else "//"
    for url in pages(setup):
        if not url.startswith(exempt):
            assert client.get(url).status_code == 404, (role, url)
    for url, data in posts(setup):
        if not url.startswith(exempt):
            assert client.post(url, data=data).status_code == 404, (role, url)


@pytest.mark.parametrize("role", ["street_reviewer", "city_supervisor"])
def test_viewers_cannot_post(client, auth, world, make_user, setup, role):
    login_as(auth, make_user, world, role, setup)
    for url, data in posts(setup):
        # The street may propose an exit (refused here for want of a route) and resubmit one.
        refused = (403, 404, 422) if url.startswith(EXIT_PREFIX) else (404,)
        assert client.post(url, data=data).status_code in refused, (role, url)
    _db.session.expire_all()
    assert _db.session.get(Measure, setup["measure"].id).active is True
    assert _db.session.get(PlanMeasure, setup["entry"].id).end_date is None
    assert _db.session.get(Case, setup["case"].id).state == "open"


def test_anonymous_is_sent_to_login(client, setup):
    for url in pages(setup):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["county_officer", "street_reviewer"])
def test_out_of_scope_records_are_404(client, auth, world, make_user, setup, role):
    login_as(auth, make_user, world, role, setup)
    other = setup["elsewhere"].id
    for url in (f"/manage/households/{other}/plan", f"/manage/households/{other}/assignment",
                f"/manage/exit/cases/{setup['other_case'].id}",
                f"/manage/assignments/helpers/{setup['other_helper'].id}"):
        assert client.get(url).status_code == 404, url


def test_officer_cannot_touch_another_countys_records(client, auth, world, make_user, setup):
    auth.login(setup["officer"])
    other = setup["elsewhere"].id
    assert client.post(f"/manage/households/{other}/plan", data={
        "measure_id": setup["measure"].id, "start_date": "2025-01-01"}).status_code == 404
    assert client.post(f"/manage/households/{other}/assignment", data={
        "helper_id": setup["helper"].id, "effective": "2025-01-01",
        "reason": "x"}).status_code == 404
    assert client.post(f"/manage/exit/cases/{setup['other_case'].id}/decide",
                       data={"decision": "reject", "opinion": "x"}).status_code == 404
    assert _db.session.scalar(sa.select(sa.func.count(PlanMeasure.id)).where(
        PlanMeasure.household_id == other)) == 0


def test_city_supervisor_chooses_a_county(client, auth, world, make_user, setup):
    auth.login(make_user("city_supervisor"))
    here = client.get(f"/manage/assignments?county={world.county.id}").get_data(as_text=True)
    there = client.get(f"/manage/assignments?county={world.county_b.id}").get_data(as_text=True)
    assert "周帮扶" in here and "周帮扶" not in there
    assert "查看县（市、区）" in here
    assert client.get(f"/manage/exit?county={world.street.id}").status_code == 404
    assert client.get("/manage/exit?county=abc").status_code == 404
    # The catalogue defaults to the city-wide list.
    catalogue = client.get("/manage/measures").get_data(as_text=True)
    assert "全市统一目录" in catalogue and "临时救助" in catalogue


def test_index_shows_the_counts_and_the_policy(client, auth, world, make_user, make_household,
                                               setup):
    make_household(head_name="未结对户")
    auth.login(setup["officer"])
    page = client.get("/manage/").get_data(as_text=True)
    assert 'data-testid="unassigned-count">1<' in page
    assert "低保标准 630" in page
