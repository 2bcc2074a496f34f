"""The printable forms on paper: each one rendered by Chromium with print emulation as A4,
counted in pages, and checked for columns squeezed to one character per line.

The household printed here is the longest the forms expect: six members with every fact
filled in, three review opinions, a long 初步救助方案, two objections, an exit case with its
three opinions, six measures; and a community with twelve households publicised in a month.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page

from fieldwork.accounts.models import User
from fieldwork.extensions import db
from fieldwork.households.models import (
    Case,
    CaseIncome,
    Household,
    Measure,
    Member,
    Objection,
    PlanMeasure,
    ReviewDecision,
)
from fieldwork.places.models import Place, PolicySettings
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.privacy.service import protect_id
from fieldwork.visits.models import Visit
from tests.factories import query

pytestmark = pytest.mark.browser

DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, "is_mobile": False,
                           "has_touch": False, "device_scale_factor": 1}
PERIOD = (date(2026, 3, 1), date(2026, 3, 31))
PUBLICISED = 12
LONG = "该户主因尿毒症长期透析，配偶灵活就业收入不稳定，子女在校就读，家庭支出负担较重。"


def _id(n: int, born: date) -> Any:
    return protect_id(make_test_id_number("411302", born, 500 + n))


@pytest.fixture(scope="module")
def paper(live_server: Any) -> dict[str, Any]:
    """A full file in the demo county (宛城区) and a month of publicity in its community."""
    def make() -> dict[str, Any]:
        officer = db.session.scalar(sa.select(User).where(User.username == "demo-county"))
        worker = db.session.scalar(sa.select(User).where(User.username == "demo-community"))
        street = db.session.scalar(sa.select(User).where(User.username == "demo-street"))
        helper = db.session.scalar(sa.select(User).where(User.username == "demo-helper"))
        community = db.session.get(Place, worker.place_id)
        settings = db.session.scalar(sa.select(PolicySettings).where(
            PolicySettings.place_id == officer.place_id))
        if settings is None:
            settings = PolicySettings(place_id=officer.place_id)
            db.session.add(settings)
        settings.office_phone = "0377-63112345"

        hh = Household(head_name="欧阳建华", address="宛城区东关街道建设路188号院3号楼2单元501室",
                       category="below_dibao", groups=["expenditure"],
                       causes=["illness", "education", "disability"], status="exited",
                       members_count=6, intake_income=Decimal("1980.00"),
                       per_capita_income=Decimal("330.00"), phone="13912345678",
                       file_no=f"PRINT-{uuid.uuid4().hex[:8]}", enrolled_on=date(2025, 1, 20),
                       exited_on=date(2026, 5, 31), exit_route="death")
        hh.set_place(community)
        db.session.add(hh)
        db.session.flush()
        people = [
            ("欧阳建华", "self", "male", date(1968, 4, 2), "serious", "尿毒症，每周透析三次",
             "physical", 2, "", "unable"),
            ("李秀兰", "spouse", "female", date(1970, 8, 9), "chronic", "高血压、糖尿病",
             "", None, "", "flexible"),
            ("欧阳小雨", "child", "female", date(2010, 9, 1), "", "", "", None, "junior", ""),
            ("欧阳小明", "child", "male", date(2016, 3, 1), "", "", "hearing", 3, "primary", ""),
            ("欧阳老汉", "parent", "male", date(1940, 1, 5), "chronic", "慢性阻塞性肺疾病",
             "visual", 1, "", "retired"),
            ("王桂英", "parent", "female", date(1942, 6, 6), "", "", "", None, "", "retired"),
        ]
        for n, (name, rel, sex, born, ill, health, dis, grade, school, work) in enumerate(people):
            pid = _id(n, born)
            db.session.add(Member(household_id=hh.id, name=name, relation=rel, gender=sex,
                                  birth_date=born, id_enc=pid.enc, id_index=pid.index,
                                  id_mask=pid.mask, illness=ill, health=health,
                                  disability_kind=dis, disability_grade=grade,
                                  schooling_stage=school, boarding=school == "junior",
                                  employment_status=work,
                                  monthly_income=Decimal("800") if work == "flexible" else None))
        intake = Case(household_id=hh.id, kind="intake", channel="territorial", stage="enrolled",
                      state="approved", opened_at=datetime(2025, 1, 2, tzinfo=UTC),
                      draft_plan=(LONG + "拟申请低保边缘救助、医疗救助和教育救助；协调配偶公益性"
                                  "岗位；子女申请寄宿生生活补助；残疾人两项补贴按规定申领。") * 2,
                      publicity_ends_on=date(2025, 1, 20), opened_by_id=worker.id)
        leave = Case(household_id=hh.id, kind="exit", channel="territorial", stage="done",
                     state="approved", opened_at=datetime(2026, 6, 1, tzinfo=UTC),
                     exit_route="death", exit_on=date(2026, 5, 31),
                     exit_reason="户主欧阳建华于2026年5月病故，家庭其他成员已随子女迁居外地。",
                     opened_by_id=worker.id)
        db.session.add_all([intake, leave])
        db.session.flush()
        for case, steps in ((intake, (("community_review", worker), ("street_review", street),
                                      ("county_confirm", officer))),
                            (leave, (("exit_community", worker), ("exit_street", street),
                                     ("exit_county", officer)))):
            for day, (step, who) in enumerate(steps, start=3):
                db.session.add(ReviewDecision(
                    case_id=case.id, step=step, decision="approve", opinion=LONG + "同意。",
                    reviewer_id=who.id,
                    decided_at=case.opened_at + timedelta(days=day)))
        for n in range(2):
            db.session.add(Objection(case_id=intake.id, text=f"群众反映该户有经营性收入（{n + 1}）",
                                     raised_by="匿名", recorded_by_id=officer.id,
                                     recorded_at=datetime(2025, 1, 15, tzinfo=UTC),
                                     resolution="经入户核实，反映情况不属实", upheld=False,
                                     resolved_at=datetime(2025, 1, 17, tzinfo=UTC)))
        db.session.add(CaseIncome(case_id=intake.id, wages=Decimal("0"),
                                  pensions=Decimal("1180"), business=Decimal("0"),
                                  transfers=Decimal("0"), other=Decimal("800"),
                                  other_note="配偶打零工", members_count=6,
                                  total=Decimal("1980"), per_capita=Decimal("330"),
                                  recorded_by_id=worker.id))
        measures = list(db.session.scalars(sa.select(Measure).order_by(Measure.id).limit(6)))
        for m in measures:
            db.session.add(PlanMeasure(household_id=hh.id, measure_id=m.id,
                                       start_date=date(2025, 2, 1), end_date=date(2026, 5, 31),
                                       note="按月发放"))
        answers: dict[str, Any] = {"present": "户主本人、配偶", "household_income": 1980.0,
                                   "needs": LONG, "next_steps": LONG,
                                   "measures_delivered": [m.id for m in measures]}
        for d in ("income", "housing", "education", "medical", "employment", "elderly"):
            answers[f"{d}_status"] = "risk"
            answers[f"{d}_note"] = LONG
        at = datetime(2026, 3, 5, 2, 30, tzinfo=UTC)
        visit = Visit(id=str(uuid.uuid4()), household_id=hh.id, helper_id=helper.id,
                      visited_at=at, month=202603, recorded_at=at, answers=answers,
                      lat=33.0, lon=112.5, accuracy_m=12.0, distance_m=35.0,
                      per_capita_income=Decimal("330.00"))
        db.session.add(visit)

        # Twelve households publicised in March in the same community.
        for n in range(PUBLICISED):
            pid = _id(20 + n, date(1975, 1, 1 + n))
            other = Household(head_name=f"公示{n:02d}号", address=f"建设路{n}号",
                              category="dibao_unemployed", causes=["unemployment"],
                              status="publicity", members_count=3,
                              file_no=f"PUB-{uuid.uuid4().hex[:8]}")
            other.set_place(community)
            db.session.add(other)
            db.session.flush()
            db.session.add(Member(household_id=other.id, name=other.head_name, relation="self",
                                  id_enc=pid.enc, id_index=pid.index, id_mask=pid.mask))
            case = Case(household_id=other.id, kind="intake", channel="territorial",
                        stage="publicity", state="open",
                        publicity_ends_on=date(2026, 3, 8 + n))
            db.session.add(case)
            db.session.flush()
            db.session.add(ReviewDecision(case_id=case.id, step="county_confirm",
                                          decision="approve", reviewer_id=officer.id,
                                          decided_at=datetime(2026, 3, 1 + n, 2, tzinfo=UTC)))
        db.session.commit()
        return {"household": hh.id, "visit": visit.id, "community": community.id}

    return query(live_server, make)


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-z])", pdf))


def _print(page: Page, url: str) -> int:
    """Open the form, switch to print media and return its number of A4 pages."""
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    page.emulate_media(media="print")
    assert not page.locator(".print-actions").first.is_visible()
    return _pages(page.pdf(format="A4", prefer_css_page_size=True))


# A cell with Chinese text must be at least three characters of its own font wide (or as wide
# as its text, when shorter): narrower, Chinese wraps one or two characters a line.
SQUEEZE_JS = """(selector) => {
  const bad = [];
  for (const cell of document.querySelectorAll(selector)) {
    const text = cell.innerText.trim();
    const han = (text.match(/[\\u3400-\\u9fff]/g) || []).length;
    if (han === 0) continue;
    const style = getComputedStyle(cell);
    const font = parseFloat(style.fontSize);
    const inner = cell.clientWidth - parseFloat(style.paddingLeft)
      - parseFloat(style.paddingRight);
    if (inner < Math.min(han, 3) * font) {
      bad.push(text.slice(0, 12) + ' ' + Math.round(inner) + 'px');
    }
  }
  return bad;
}"""


def _squeezed(page: Page, selector: str = ".sheet th, .sheet td") -> list[str]:
    # The printable width of A4 portrait with the form's margins: 186 mm ≈ 703 CSS px.
    page.set_viewport_size({"width": 703, "height": 1000})
    return page.evaluate(SQUEEZE_JS, selector)


@pytest.mark.parametrize("form,max_pages", [
    ("review-form", 2), ("visit-form", 2), ("card", 1),
])
def test_household_forms_fit_their_pages(new_page, login, paper, form, max_pages):
    page = new_page(**DESKTOP)
    login(page, "demo-county")
    pages = _print(page, f"/print/households/{paper['household']}/{form}")
    assert 1 <= pages <= max_pages, f"{form}: {pages} pages"
    assert _squeezed(page) == []


def test_filled_visit_form_fits_two_pages(new_page, login, paper):
    page = new_page(**DESKTOP)
    login(page, "demo-county")
    pages = _print(page, f"/print/visits/{paper['visit']}")
    assert 1 <= pages <= 2
    assert _squeezed(page) == []
    assert page.locator("[data-testid=member-row]").count() == 6


def test_blank_visit_form_fits_two_pages(new_page, login, paper):
    page = new_page(**DESKTOP)
    login(page, "demo-helper")
    assert 1 <= _print(page, "/print/visit-form") <= 2


def test_card_marks_the_exit_and_shows_the_county_phone(new_page, login, paper):
    page = new_page(**DESKTOP)
    login(page, "demo-county")
    _print(page, f"/print/households/{paper['household']}/card")
    stamp = page.get_by_test_id("card-exited")
    assert stamp.is_visible()
    assert "已退出" in stamp.inner_text() and "死亡" in stamp.inner_text()
    assert page.get_by_test_id("card-office-phone").inner_text().strip() == "0377-63112345"
    assert page.locator("[data-testid=card-measure]").count() == 6


def test_publicity_list_fits_one_page_and_is_linked(new_page, login, paper):
    page = new_page(**DESKTOP)
    login(page, "demo-street")
    page.goto(f"/places/{paper['community']}")
    page.get_by_test_id("print-publicity").click()
    page.locator("input[name=from]").fill(PERIOD[0].isoformat())
    page.locator("input[name=to]").fill(PERIOD[1].isoformat())
    page.get_by_role("button", name="生成名单").click()
    page.wait_for_url(re.compile(r"from=2026-03-01"))
    assert page.locator("[data-testid=publicity-row]").count() == PUBLICISED
    url = page.url
    assert _print(page, url) == 1
    assert _squeezed(page) == []
    assert "公示00号" not in page.content() and "公某某" in page.content()
    assert "0377-63112345" in page.get_by_test_id("publicity-channel").inner_text()


def test_publicity_list_bad_date_message(new_page, login, paper):
    page = new_page(**DESKTOP)
    login(page, "demo-county")
    response = page.goto(f"/print/places/{paper['community']}/publicity?from=2026-02-30")
    assert response is not None and response.status == 400
    assert "起始日期不是有效日期" in page.get_by_test_id("publicity-error").inner_text()
    page.console_errors.clear()  # the 400 response itself is logged by Chromium
