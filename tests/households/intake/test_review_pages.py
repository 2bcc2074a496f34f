"""The review pages as reviewers use them: a report pushed from a phone becomes a case, goes
through the queues of each step and is enrolled; the helper's phone then pulls it. Wrong role
answers 403 on a case the user can see, another place 404."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldwork.discovery.models import DiscoveryReport
from fieldwork.extensions import db as _db
from fieldwork.households.intake import cases, decisions, publicity
from fieldwork.households.models import Case, Household, Measure
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.timeutil import today_local
from tests.factories import jpeg, upload_photo

pytestmark = pytest.mark.usefixtures("fresh_g")

TODAY = today_local()
ID_1 = make_test_id_number("411302", date(1975, 6, 1), 321)


@pytest.fixture
def measures(app):
    rows = [Measure(area="income", department="民政", name="城镇低保", amount=Decimal("630"),
                    unit="元/月"),
            Measure(area="medical", department="医保", name="医疗救助", unit="")]
    _db.session.add_all(rows)
    _db.session.commit()
    return rows


@pytest.fixture
def as_(client, auth):
    def switch(user):
        auth.logout()
        response = auth.login(user)
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        return client
    return switch


def push_report(client, community, *, photo: bytes | None = None, **answers) -> str:
    """A community worker's phone sends a discovery report (and its photo) through sync."""
    rid = str(uuid.uuid4())
    photos = []
    if photo is not None:
        photos = [{"id": str(uuid.uuid4()), "sha256": hashlib.sha256(photo).hexdigest(),
                   "bytes": len(photo), "caption": "living"}]
    record = {"type": "discovery", "id": rid, "region_id": community.id,
              "address": "东关街道和平路12号", "reason": "独居老人，无收入来源",
              "location": {"lat": 32.9951, "lon": 112.5412, "accuracy_m": 9, "source": "gps"},
              "answers": {"head_name": "孙秀英", "id_number": "", "contact_phone": "13837700002",
                          "members_count": 1, "category": "destitute", "causes": ["illness"],
                          **answers},
              "photos": photos}
    r = client.post("/api/sync/v1/push", json={"device_id": "phone-c", "records": [record]})
    assert r.status_code == 200 and r.get_json()["results"][0]["status"] == "created", r.json
    if photo is not None:
        r = upload_photo(client, photos[0]["id"], photo, sha256=photos[0]["sha256"])
        assert r.status_code in (200, 201), r.get_json()
    return rid


def text(response) -> str:
    return response.get_data(as_text=True)


def case_of(report_id: str) -> Case:
    _db.session.expire_all()
    return _db.session.scalar(sa.select(Case).where(Case.discovery_id == report_id))


def entry_form(world, **over):
    data = {"head_name": "赵建国", "id_number": ID_1, "phone": "13837700001",
            "address": "东关街道建设路8号", "place_id": str(world.community.id),
            "members_count": "3", "category": "edge", "causes": ["illness", "education"],
            "situation": "户主重病，孩子上高中"}
    data.update(over)
    return data


# ---------------------------------------------------------------- the whole walk

def test_a_reported_household_is_reviewed_enrolled_and_reaches_the_helpers_phone(
        world, people, measures, as_):
    client = as_(people.community)
    photo = jpeg((120, 80, 40), (320, 240), quality=None, dot_every=None)
    rid = push_report(client, world.community, photo=photo)

    page = text(client.get("/reviews/"))
    assert "新上报待立案" in page and "孙秀英" in page and f"/reviews/reports/{rid}" in page
    page = text(client.get(f"/reviews/reports/{rid}"))
    assert "独居老人，无收入来源" in page and "登记并立案审核" in page
    assert "/photos/" in page  # the uploader sees the report's photo

    # The street reviewer opens the case (the report's photos become visible to them).
    client = as_(people.street)
    r = client.post(f"/reviews/reports/{rid}/open", data={"category": "destitute",
                                                          "causes": ["illness"]})
    assert r.status_code == 302
    case = case_of(rid)
    assert r.headers["Location"].endswith(f"/reviews/cases/{case.id}")
    page = text(client.get(f"/reviews/cases/{case.id}"))
    assert "待社区初审" in page and "独居老人" in page
    photo_url = re.search(r'src="(/photos/[^"]+/thumb\.jpg)"', page).group(1)
    assert client.get(photo_url).status_code == 200
    assert "提交审核意见" not in page  # not the street's step yet

    client = as_(people.community)
    page = text(client.get("/reviews/"))
    assert "待我审核" in page and f'data-case-id="{case.id}"' in page
    r = client.post(f"/reviews/cases/{case.id}/decision",
                    data={"decision": "approve", "opinion": "入户核实，情况属实",
                          "stage": "community_review"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/reviews/")
    assert "已转至“街道复核”" in text(client.get("/reviews/"))

    client = as_(people.street)
    r = client.post(f"/reviews/cases/{case.id}/decision",
                    data={"decision": "approve", "opinion": "同意", "draft_plan": ""})
    assert r.status_code == 422 and "街道复核同意时须拟订初步救助方案" in text(r)
    r = client.post(f"/reviews/cases/{case.id}/decision",
                    data={"decision": "approve", "opinion": "同意",
                          "draft_plan": "纳入特困供养；医疗救助"})
    assert r.status_code == 302

    client = as_(people.county)
    r = client.post(f"/reviews/cases/{case.id}/decision",
                    data={"decision": "approve", "opinion": "综合审核同意"})
    assert r.status_code == 302
    page = text(client.get("/reviews/"))
    assert "公示中" in page and 'data-testid="queue-publicity"' in page
    page = text(client.get(f"/reviews/cases/{case.id}"))
    assert "期满后才能建档" in page
    r = client.post(f"/reviews/cases/{case.id}/enrol",
                    data={"helper_id": people.helper.id, "measures": [measures[0].id]})
    assert r.status_code == 422 and "期满后才能建档" in text(r)

    # The publicity period has ended.
    case = _db.session.get(Case, case.id)
    case.publicity_ends_on = TODAY - timedelta(days=1)
    _db.session.commit()
    page = text(client.get("/reviews/"))
    assert "公示期满，待建档" in page and f"/reviews/cases/{case.id}/enrol" in page
    page = text(client.get(f"/reviews/cases/{case.id}/enrol"))
    assert "纳入特困供养；医疗救助" in page and "帮扶张" in page
    helper_options = re.findall(r'<option value="(\d+)"', page.split('id="f-helper"')[1]
                                .split("</select>")[0])
    assert helper_options == [str(people.helper.id)]  # only helpers of this county
    assert "城镇低保" in page
    r = client.post(f"/reviews/cases/{case.id}/enrol", data={
        "helper_id": people.helper.id, "measures": [measures[0].id, measures[1].id],
        f"amount_{measures[1].id}": "2000", f"start_{measures[1].id}": TODAY.isoformat()})
    assert r.status_code == 302, text(r)[:500]
    page = text(client.get(r.headers["Location"]))
    file_no = f"411302-{TODAY.year}-00001"
    assert f"档案编号 {file_no}" in page and "已建档" in page
    for step in ("社区初审", "街道复核", "县级综合审核确认"):
        assert step in page
    assert "入户核实，情况属实" in page and "社区李" in page and "县办刘" in page

    # The helper's phone gets the household at its next pull.
    client = as_(people.helper)
    pulled = client.get("/api/sync/v1/pull").get_json()
    [h] = [h for h in pulled["households"] if h["file_no"] == file_no]
    assert h["head_name"] == "孙秀英" and {m["name"] for m in h["measures"]} == {
        "城镇低保", "医疗救助"}
    # The helper's list is drawn on the phone from that pull; the page itself is the shell.
    assert client.get("/households/mine").status_code == 200
    assert client.get("/reviews/").status_code == 404
    client = as_(people.helper_b)
    assert all(x["file_no"] != file_no for x in
               client.get("/api/sync/v1/pull").get_json()["households"])


# ---------------------------------------------------------------- refusing the wrong people

def test_each_step_refuses_the_wrong_role_with_403_and_the_wrong_place_with_404(
        world, people, as_):
    case = cases.enter_application(people.community, cases.parse_entry(
        people.community, entry_form(world), id_required=True))
    _db.session.commit()
    case_id = case.id
    url = f"/reviews/cases/{case_id}/decision"
    # Department reviewers see only the households their body screened: out of scope.
    steps = [
        ("community_review", people.community,
         [people.street, people.county, people.city],
         [people.community_2, people.street_2, people.county_b, people.helper,
          people.commerce]),
        ("street_review", people.street,
         [people.community, people.county],
         [people.street_2, people.community_2, people.county_b, people.commerce]),
        ("county_confirm", people.county,
         [people.community, people.street],
         [people.county_b, people.street_2, people.union]),
    ]
    for stage, right, wrong_role, wrong_place in steps:
        assert _db.session.get(Case, case_id).stage == stage
        for user in wrong_role:
            client = as_(user)
            assert client.get(f"/reviews/cases/{case_id}").status_code == 200
            r = client.post(url, data={"decision": "approve", "draft_plan": "x"})
            assert r.status_code == 403, (stage, user.username)
        for user in wrong_place:
            client = as_(user)
            assert client.get(f"/reviews/cases/{case_id}").status_code == 404
            r = client.post(url, data={"decision": "approve", "draft_plan": "x"})
            assert r.status_code == 404, (stage, user.username)
        client = as_(right)
        page = text(client.get(f"/reviews/cases/{case_id}"))
        assert page.count('data-testid="decision-form"') == 1
        r = client.post(url, data={"decision": "approve", "draft_plan": "低保"})
        assert r.status_code == 302
        _db.session.expire_all()
    assert _db.session.get(Case, case_id).stage == "publicity"
    # Publicity and enrolment are the county office's.
    for user, status in ((people.street, 403), (people.county_b, 404)):
        client = as_(user)
        assert client.post(f"/reviews/cases/{case_id}/objections",
                           data={"text": "x"}).status_code == status
        assert client.get(f"/reviews/cases/{case_id}/enrol").status_code == status


def test_the_department_channel_through_the_pages(world, people, measures, as_):
    client = as_(people.commerce)
    page = text(client.get("/reviews/new"))
    assert "录入部门初审结果" in page and "初审意见" in page
    r = client.post("/reviews/new", data=entry_form(world, opinion=""))
    assert r.status_code == 422 and "请填写初审意见或认定结果" in text(r)
    r = client.post("/reviews/new", data=entry_form(world, opinion="系本系统下岗职工"))
    assert r.status_code == 302
    case = _db.session.scalar(sa.select(Case).order_by(Case.id.desc()))
    assert (case.channel, case.stage) == ("departmental", "county_confirm")

    client = as_(people.union)
    assert "行业认定" in text(client.get("/reviews/new"))
    # Another body's case is out of this reviewer's scope.
    assert client.get(f"/reviews/cases/{case.id}").status_code == 404
    assert client.post(f"/reviews/cases/{case.id}/decision",
                       data={"decision": "approve"}).status_code == 404
    client = as_(people.street)  # sees it (its street), but it is not the street's step
    assert client.post(f"/reviews/cases/{case.id}/decision",
                       data={"decision": "approve"}).status_code == 403

    client = as_(people.county)
    r = client.post(f"/reviews/cases/{case.id}/decision",
                    data={"decision": "return", "opinion": ""})
    assert r.status_code == 422 and "退回或不同意时请填写意见和理由" in text(r)
    client.post(f"/reviews/cases/{case.id}/decision",
                data={"decision": "return", "opinion": "请补充解除劳动合同证明"})
    client = as_(people.commerce)
    page = text(client.get("/reviews/"))
    assert f'data-case-id="{case.id}"' in page and "部门初审" in page
    page = text(client.get(f"/reviews/cases/{case.id}"))
    assert "请补充解除劳动合同证明" in page
    assert client.post(f"/reviews/cases/{case.id}/decision",
                       data={"decision": "approve", "opinion": "已补充"}).status_code == 302


def test_a_return_for_correction_and_the_resubmission(world, people, as_):
    client = as_(people.community)
    r = client.post("/reviews/new", data=entry_form(world))
    assert r.status_code == 302
    case_id = int(r.headers["Location"].rsplit("/", 1)[1])
    client.post(f"/reviews/cases/{case_id}/decision",
                data={"decision": "return", "opinion": "缺少医院诊断证明"})
    page = text(client.get(f"/reviews/cases/{case_id}"))
    assert "退回补正" in page and "缺少医院诊断证明" in page and "提交审核意见" not in page
    page = text(client.get("/reviews/"))
    assert 'data-testid="queue-returned"' in page
    page = text(client.get(f"/reviews/cases/{case_id}/correct"))
    assert "赵建国" in page and ID_1 not in page and "4113" in page  # the mask, not the ID
    r = client.post(f"/reviews/cases/{case_id}/correct",
                    data=entry_form(world, id_number="", household_income="-1"))
    assert r.status_code == 422 and "家庭月总收入应为" in text(r)
    r = client.post(f"/reviews/cases/{case_id}/correct",
                    data=entry_form(world, id_number="", situation="已补充诊断证明"))
    assert r.status_code == 302
    page = text(client.get(f"/reviews/cases/{case_id}"))
    assert "提交审核意见" in page and "已补充诊断证明" in page
    # Nobody else may correct, and a resubmitted case has nothing left to correct.
    assert client.get(f"/reviews/cases/{case_id}/correct").status_code == 403
    client = as_(people.street)
    assert client.get(f"/reviews/cases/{case_id}/correct").status_code == 403


def test_rejection_through_the_page_puts_the_household_on_the_watch_list(world, people, as_):
    client = as_(people.community)
    r = client.post("/reviews/new", data=entry_form(world))
    case_id = int(r.headers["Location"].rsplit("/", 1)[1])
    r = client.post(f"/reviews/cases/{case_id}/decision",
                    data={"decision": "reject", "opinion": "家庭有两套住房"})
    assert r.status_code == 302
    case = _db.session.get(Case, case_id)
    assert (case.state, case.household.status) == ("rejected", "watch")
    page = text(client.get(f"/reviews/cases/{case_id}"))
    assert "未纳入" in page and "家庭有两套住房" in page and "提交审核意见" not in page
    assert client.post(f"/reviews/cases/{case_id}/decision",
                       data={"decision": "approve"}).status_code == 409


# ---------------------------------------------------------------- entry forms

def test_application_form_checks_each_field(world, people, as_):
    client = as_(people.community)
    page = text(client.get("/reviews/new"))
    assert "录入困难申请" in page and "和平社区" in page
    bad = entry_form(world, id_number="41130219750601321X", head_name="", category="",
                     place_id=str(world.community_b.id), phone="call me")
    r = client.post("/reviews/new", data=bad)
    page = text(r)
    assert r.status_code == 422
    for message in ("身份证号校验位不正确", "请填写“户主姓名”", "请选择困难类别",
                    "请选择您辖区内的社区（村）", "联系电话只能包含数字"):
        assert message in page, message
    assert _db.session.scalar(sa.select(sa.func.count(Household.id))) == 0
    r = client.post("/reviews/new", data=entry_form(world, id_number=""))
    assert r.status_code == 422 and "请填写户主身份证号" in text(r)


def test_application_similar_to_a_registered_household_asks_for_confirmation(
        world, people, make_household, as_):
    make_household(head_name="赵建国", address="东关街道建设路8号", status="watch")
    other = make_household(head_name="赵建国", address="七一路1号", place=world.community_b)
    client = as_(people.community)
    r = client.post("/reviews/new", data=entry_form(world))
    page = text(r)
    assert r.status_code == 422 and "可能已在登记中" in page and "姓名相同、地址相近" in page
    assert other.address not in page
    assert _db.session.scalar(sa.select(sa.func.count(Case.id))) == 0
    r = client.post("/reviews/new", data={**entry_form(world), "confirm_new": "1"})
    assert r.status_code == 302


def test_county_lead_form(world, people, as_):
    client = as_(people.county)
    page = text(client.get("/reviews/new"))
    assert "单位报送" in page and "信息比对" in page and "民主社区" in page
    r = client.post("/reviews/new", data=entry_form(world, id_number="", source="employer",
                                                    organisation=""))
    assert r.status_code == 422 and "请填写报送单位或比对部门" in text(r)
    r = client.post("/reviews/new", data=entry_form(world, id_number="", source="employer",
                                                    organisation="南阳纺织厂",
                                                    place_id=str(world.community_3.id)))
    assert r.status_code == 302
    case = _db.session.scalar(sa.select(Case))
    assert (case.stage, case.source, case.organisation) == ("street_review", "employer",
                                                            "南阳纺织厂")
    client = as_(people.street_2)
    assert f'data-case-id="{case.id}"' in text(client.get("/reviews/"))
    client = as_(people.street)
    assert f'data-case-id="{case.id}"' not in text(client.get("/reviews/"))


def test_entry_and_queue_are_for_reviewers_only(world, people, as_):
    client = as_(people.helper)
    for url in ("/reviews/", "/reviews/new"):
        assert client.get(url).status_code == 404
    client = as_(people.street)
    assert client.get("/reviews/").status_code == 200
    assert client.get("/reviews/new").status_code == 404
    client = as_(people.city)
    assert client.get("/reviews/").status_code == 404


# ---------------------------------------------------------------- reports

def test_report_page_shows_candidates_and_closes_as_the_same_household(
        world, people, make_household, as_):
    known = make_household(head_name="孙秀英", address="东关街道和平路12号",
                           ref_lat=32.9951, ref_lon=112.5412, helper=people.helper)
    elsewhere = make_household(head_name="孙秀英", address="七一路9号", place=world.community_b,
                               ref_lat=32.99512, ref_lon=112.54121)
    client = as_(people.community)
    rid = push_report(client, world.community)
    client = as_(people.street)
    page = text(client.get(f"/reviews/reports/{rid}"))
    assert "可能已在登记中（2 户）" in page and "位置相距不到50米" in page
    assert "已登记的一户（不在您的查看范围内）" in page and elsewhere.address not in page
    r = client.post(f"/reviews/reports/{rid}/open", data={"category": "destitute"})
    assert r.status_code == 422 and "确认不是同一户" in text(r)
    r = client.post(f"/reviews/reports/{rid}/same", data={"household_id": elsewhere.id})
    assert r.status_code == 422 and "请选择您辖区内已登记的家庭" in text(r)
    r = client.post(f"/reviews/reports/{rid}/same", data={"household_id": known.id})
    assert r.status_code == 302
    report = _db.session.get(DiscoveryReport, rid)
    assert (report.status, report.household_id) == ("duplicate", known.id)
    page = text(client.get(f"/reviews/reports/{rid}"))
    assert "已核实为已登记家庭" in page and "登记并立案审核" not in page
    assert client.post(f"/reviews/reports/{rid}/open",
                       data={"category": "destitute", "confirm_new": "1"}).status_code == 409


def test_reports_out_of_scope_are_not_found(world, people, as_):
    client = as_(people.community)
    rid = push_report(client, world.community)
    for user in (people.community_2, people.street_2, people.county_b, people.helper,
                 people.commerce):
        client = as_(user)
        assert client.get(f"/reviews/reports/{rid}").status_code == 404
        assert client.post(f"/reviews/reports/{rid}/open",
                           data={"category": "edge"}).status_code == 404
    assert as_(people.county).get(f"/reviews/reports/{rid}").status_code == 200


# ---------------------------------------------------------------- publicity

def test_objections_through_the_page(world, people, measures, as_):
    case = cases.enter_application(people.community, cases.parse_entry(
        people.community, entry_form(world), id_required=True))
    _db.session.commit()
    for user in (people.community, people.street, people.county):
        decisions.decide(user, case, "approve", draft_plan="低保")
        _db.session.commit()
    case.publicity_ends_on = TODAY - timedelta(days=1)
    _db.session.commit()
    client = as_(people.county)
    r = client.post(f"/reviews/cases/{case.id}/objections", data={"text": ""})
    assert r.status_code == 422 and "请填写异议内容" in text(r)
    r = client.post(f"/reviews/cases/{case.id}/objections",
                    data={"text": "其子在外地有稳定工作", "raised_by": "居民代表"})
    assert r.status_code == 302
    page = text(client.get(f"/reviews/cases/{case.id}"))
    assert "其子在外地有稳定工作" in page and "还有 1 条异议未处理" in page
    assert "建档并指定帮扶责任人" not in page
    objection_id = re.search(r'data-objection="(\d+)"', page).group(1)
    assert 'data-testid="queue-ready"' not in text(client.get("/reviews/"))
    r = client.post(f"/reviews/cases/{case.id}/enrol",
                    data={"helper_id": people.helper.id, "measures": [measures[0].id]})
    assert r.status_code == 422 and "异议未处理" in text(r)
    r = client.post(f"/reviews/cases/{case.id}/objections/{objection_id}/resolve",
                    data={"outcome": "dismiss", "resolution": ""})
    assert r.status_code == 422 and "请填写核实情况和处理意见" in text(r)
    r = client.post(f"/reviews/cases/{case.id}/objections/{objection_id}/resolve",
                    data={"outcome": "dismiss", "resolution": "其子已单独立户"})
    assert r.status_code == 302
    page = text(client.get(f"/reviews/cases/{case.id}"))
    assert "异议不成立" in page and "建档并指定帮扶责任人" in page
    r = client.post(f"/reviews/cases/{case.id}/enrol",
                    data={"helper_id": people.helper_b.id, "measures": [measures[0].id]})
    assert r.status_code == 422 and "请选择本县（市、区）的帮扶责任人" in text(r)
    r = client.post(f"/reviews/cases/{case.id}/enrol",
                    data={"helper_id": people.helper.id, "measures": [measures[0].id],
                          f"amount_{measures[0].id}": "abc"})
    assert r.status_code == 422 and "金额应为数字，如 500 或 500.50" in text(r)
    r = client.post(f"/reviews/cases/{case.id}/enrol",
                    data={"helper_id": people.helper.id, "measures": [measures[0].id]})
    assert r.status_code == 302
    assert _db.session.get(Household, case.household_id).status == "enrolled"
    # Enrolled: the enrol page now only points back to the case.
    assert client.get(f"/reviews/cases/{case.id}/enrol").status_code == 302


def test_an_upheld_objection_sends_the_case_back_to_the_county(world, people, as_):
    case = cases.enter_application(people.community, cases.parse_entry(
        people.community, entry_form(world), id_required=True))
    _db.session.commit()
    for user in (people.community, people.street, people.county):
        decisions.decide(user, case, "approve", draft_plan="低保")
        _db.session.commit()
    objection = publicity.record_objection(people.county, case, "有门面房出租")
    _db.session.commit()
    client = as_(people.county)
    r = client.post(f"/reviews/cases/{case.id}/objections/{objection.id}/resolve",
                    data={"outcome": "return", "resolution": "需重新核实租金收入"})
    assert r.status_code == 302
    page = text(client.get("/reviews/"))
    assert f'data-case-id="{case.id}"' in page.split('id="h-waiting"')[1].split("</section>")[0]
