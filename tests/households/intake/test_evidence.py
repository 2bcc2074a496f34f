"""Evidence at intake, as reviewers record and read it: 户籍 and residence, income by source,
the information checks of policy line 55, the department's screening result in its own place,
and application materials (PDFs and scans through the photo pipeline). Wrong step answers 403,
another place 404; a refused form writes nothing."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from PIL import Image

from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db as _db
from fieldwork.households.intake import cases, documents
from fieldwork.households.models import (
    INFO_CHECK_KINDS,
    Case,
    CaseDocument,
    CaseIncome,
    CaseResidence,
    CaseScreening,
    Household,
    InfoCheck,
    Member,
)
from fieldwork.photos.storage import photo_store
from tests.factories import encode_jpeg, photo
from tests.households.intake.conftest import TODAY, decide, entry

pytestmark = pytest.mark.usefixtures("fresh_g")

PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
       b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
       b"trailer << /Root 1 0 R >>\n%%EOF\n")


@pytest.fixture
def as_(client, auth):
    def switch(user):
        auth.logout()
        response = auth.login(user)
        assert response.status_code == 302
        return client
    return switch


@pytest.fixture
def case(world, people) -> Case:
    """An application at 社区初审 in 和平社区 (东关街道, 宛城区), household of three."""
    c = cases.enter_application(people.community, entry(world))
    for name, relation in (("李秀兰", "spouse"), ("王小明", "child")):
        c.household.members.append(Member(name=name, relation=relation))
    c.household.members_count = 3
    _db.session.commit()
    return c


def text(response) -> str:
    return response.get_data(as_text=True)


def count(model) -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model))


def audit_actions() -> list[str]:
    return list(_db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


# ---------------------------------------------------------------- 户籍 and residence

def test_residence_is_recorded_and_shown_on_the_case_page(case, people, as_):
    client = as_(people.community)
    r = client.post(f"/reviews/cases/{case.id}/evidence/residence", data={
        "urban_hukou": "yes", "hukou_address": "宛城区东关街道建设路8号",
        "lives_at_hukou": "no", "residence_address": "宛城区新华路3号院"})
    assert r.status_code == 302 and r.headers["Location"].endswith("#ev-residence")
    row = _db.session.scalar(sa.select(CaseResidence))
    assert row.urban_hukou and not row.lives_at_hukou and row.recorded_by_id == people.community.id
    page = text(client.get(f"/reviews/cases/{case.id}"))
    section = page[page.index('data-testid="ev-residence"'):]
    assert "宛城区东关街道建设路8号" in section and "宛城区新华路3号院" in section
    assert 'data-testid="evidence-warning"' not in page

    # Corrected: lives at the registered address, no urban hukou: one row, a warning.
    r = client.post(f"/reviews/cases/{case.id}/evidence/residence", data={
        "urban_hukou": "no", "hukou_address": "邓州市某村", "lives_at_hukou": "yes",
        "residence_address": "不应保存"})
    assert r.status_code == 302
    _db.session.expire_all()
    assert count(CaseResidence) == 1
    assert _db.session.scalar(sa.select(CaseResidence.residence_address)) == ""
    page = text(client.get(f"/reviews/cases/{case.id}"))
    assert "申请人没有南阳市城镇户籍，不符合申请条件" in page
    assert audit_actions().count("case.residence") == 2


def test_bad_residence_input_gets_specific_messages_and_writes_nothing(case, people, as_):
    client = as_(people.community)
    r = client.post(f"/reviews/cases/{case.id}/evidence/residence", data={
        "hukou_address": "", "lives_at_hukou": "no", "residence_address": ""})
    assert r.status_code == 422
    page = text(r)
    assert "请选择是否具有南阳市城镇户籍" in page
    assert "请填写“户籍地址”" in page
    assert "实际居住地与户籍地不一致时，请填写实际居住地址" in page
    r = client.post(f"/reviews/cases/{case.id}/evidence/residence", data={
        "urban_hukou": "yes", "hukou_address": "路" * 201, "lives_at_hukou": "maybe"})
    assert r.status_code == 422
    assert "“户籍地址”不能超过 200 个字" in text(r)
    assert "请选择实际居住地是否与户籍地一致" in text(r)
    assert count(CaseResidence) == 0 and "case.residence" not in audit_actions()


# ---------------------------------------------------------------- income

def test_income_by_source_gives_the_per_capita_figure(case, people, as_):
    client = as_(people.community)
    r = client.post(f"/reviews/cases/{case.id}/evidence/income", data={
        "wages": "1,200", "pensions": "", "business": "0", "transfers": "450.5",
        "other": "100", "other_note": "亲友资助"})
    assert r.status_code == 302
    row = _db.session.scalar(sa.select(CaseIncome))
    assert (row.wages, row.pensions, row.transfers, row.other) == (
        Decimal("1200.00"), Decimal("0.00"), Decimal("450.50"), Decimal("100.00"))
    assert row.total == Decimal("1750.50") and row.members_count == 3
    assert row.per_capita == Decimal("583.50")
    hh = _db.session.get(Household, case.household_id)
    assert hh.per_capita_income == Decimal("583.50")  # the figure on file until visits
    page = text(client.get(f"/reviews/cases/{case.id}"))
    section = page[page.index('data-testid="ev-income"'):]
    assert "1750.50" in section and "583.50" in section and "亲友资助" in section


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"wages": "一千"}, "wages", "“工资性收入”应为金额（元/月），例如 1200 或 1200.50"),
    ({"pensions": "-5"}, "pensions", "“养老金、退休金”不能为负数"),
    ({"business": "5000000"}, "business", "“经营性收入”超出合理范围"),
    ({"other": "300"}, "other_note", "有其他收入时，请说明收入来源"),
    ({}, "form", "请至少填写一项收入；没有收入的项目可填 0"),
])
def test_bad_income_input_is_refused(case, people, as_, data, field, message):
    client = as_(people.community)
    before = _db.session.get(Household, case.household_id).per_capita_income
    r = client.post(f"/reviews/cases/{case.id}/evidence/income", data=data)
    assert r.status_code == 422
    assert message in text(r)
    _db.session.expire_all()
    assert count(CaseIncome) == 0
    assert _db.session.get(Household, case.household_id).per_capita_income == before


# ---------------------------------------------------------------- information checks

def test_every_check_the_policy_names_is_recorded_with_who_and_when(case, people, as_):
    client = as_(people.community)
    for kind in INFO_CHECK_KINDS:
        r = client.post(f"/reviews/cases/{case.id}/evidence/checks", data={
            "kind": kind, "outcome": "pending" if kind == "finance" else "match",
            "checked_on": (TODAY - timedelta(days=2)).isoformat(), "note": ""})
        assert r.status_code == 302, text(r)[:500]
    # A re-check of the vehicles finds a car: the latest outcome is what the page shows.
    r = client.post(f"/reviews/cases/{case.id}/evidence/checks", data={
        "kind": "vehicle", "outcome": "mismatch", "checked_on": TODAY.isoformat(),
        "note": "名下有小型轿车一辆"})
    assert r.status_code == 302
    rows = list(_db.session.scalars(sa.select(InfoCheck)))
    assert len(rows) == 10 and {r.checked_by_id for r in rows} == {people.community.id}
    page = text(client.get(f"/reviews/cases/{case.id}"))
    table = page[page.index('data-testid="ev-checks"'):page.index("</table>",
                                                                 page.index("ev-checks"))]
    for label in ("户籍", "社保", "工商", "税务", "婚姻登记", "房产", "车辆", "公积金", "金融"):
        assert f"<th scope=\"row\">{label}</th>" in table
    assert 'data-check="vehicle" data-outcome="mismatch"' in table
    assert 'data-check="finance" data-outcome="pending"' in table
    assert "名下有小型轿车一辆" in table and "社区李" in table
    assert "信息核对不符合：车辆" in page
    # The history keeps the earlier vehicle check.
    page = text(client.get(f"/reviews/cases/{case.id}/evidence"))
    assert page.count("车辆 · ") == 2


@pytest.mark.parametrize(("data", "message"), [
    ({"kind": "car", "outcome": "match"}, "请选择核查项目"),
    ({"kind": "tax", "outcome": "ok"}, "请选择核查结果：符合、不符合或待核"),
    ({"kind": "tax", "outcome": "match", "checked_on": ""}, "请填写“核查日期”"),
    ({"kind": "tax", "outcome": "match", "checked_on": "2024-13-01"},
     "“核查日期”格式不正确，应为 年-月-日"),
    ({"kind": "tax", "outcome": "match", "checked_on": "tomorrow"}, "“核查日期”不能晚于今天"),
    ({"kind": "tax", "outcome": "mismatch"}, "核查结果为“不符合”时，请在备注中写明发现的情况"),
])
def test_bad_check_input_is_refused(case, people, as_, data, message):
    data = {"checked_on": TODAY.isoformat(), **data}
    if data["checked_on"] == "tomorrow":
        data["checked_on"] = (TODAY + timedelta(days=1)).isoformat()
    r = as_(people.community).post(f"/reviews/cases/{case.id}/evidence/checks", data=data)
    assert r.status_code == 422
    assert message in text(r)
    assert count(InfoCheck) == 0


# ---------------------------------------------------------------- the screening result

def test_a_departments_screening_result_has_its_own_place(world, people, as_):
    case = cases.enter_screening(people.commerce, entry(world), opinion="经本局初审，情况属实")
    _db.session.commit()
    assert case.stage == "county_confirm"  # the department's step is done
    client = as_(people.commerce)
    r = client.post(f"/reviews/cases/{case.id}/evidence/screening", data={
        "result": "eligible", "decided_on": TODAY.isoformat(), "organisation": "商务局",
        "document_no": "宛商〔2024〕12号", "note": "原南阳某纺织厂下岗职工"})
    assert r.status_code == 302
    row = _db.session.scalar(sa.select(CaseScreening))
    assert (row.result, row.organisation, row.document_no) == ("eligible", "商务局",
                                                               "宛商〔2024〕12号")
    page = text(as_(people.county).get(f"/reviews/cases/{case.id}"))
    section = page[page.index('data-testid="ev-screening"'):]
    assert "宛商〔2024〕12号" in section and "原南阳某纺织厂下岗职工" in section
    decisions = page[page.index('data-testid="decisions"'):page.index("</ol>",
                                                                      page.index("decisions"))]
    assert "宛商〔2024〕12号" not in decisions  # not mixed into the opinions

    # The county office corrects it; another department body may not touch it.
    r = client.post(f"/reviews/cases/{case.id}/evidence/screening", data={
        "result": "ineligible", "decided_on": "", "organisation": ""})
    assert r.status_code == 422
    assert "请填写“认定日期”" in text(r) and "请填写“认定单位”" in text(r)
    r = as_(people.civil).post(f"/reviews/cases/{case.id}/evidence/screening", data={
        "result": "ineligible", "decided_on": TODAY.isoformat(), "organisation": "民政局"})
    assert r.status_code == 404  # 民政 does not see 商务's cases
    r = as_(people.county).post(f"/reviews/cases/{case.id}/evidence/screening", data={
        "result": "ineligible", "decided_on": TODAY.isoformat(), "organisation": "商务局"})
    assert r.status_code == 302
    _db.session.expire_all()
    assert count(CaseScreening) == 1
    assert _db.session.scalar(sa.select(CaseScreening.result)) == "ineligible"


def test_a_territorial_case_has_no_screening_result(case, people, as_):
    r = as_(people.county).post(f"/reviews/cases/{case.id}/evidence/screening", data={
        "result": "eligible", "decided_on": TODAY.isoformat(), "organisation": "社区"})
    assert r.status_code == 422
    assert "只有部门或行业渠道的案件有认定结果" in text(r)
    r = as_(people.community).post(f"/reviews/cases/{case.id}/evidence/screening", data={
        "result": "eligible", "decided_on": TODAY.isoformat(), "organisation": "社区"})
    assert r.status_code == 422
    assert count(CaseScreening) == 0


# ---------------------------------------------------------------- who may record, who reads

def test_only_the_current_step_and_the_county_office_record(case, people, as_):
    residence = {"urban_hukou": "yes", "hukou_address": "建设路8号", "lives_at_hukou": "yes"}
    url = f"/reviews/cases/{case.id}/evidence/residence"
    # The street sees the case but it is not at its step yet; the city only reads.
    for user in (people.street, people.city):
        client = as_(user)
        assert client.post(url, data=residence).status_code == 403
        page = text(client.get(f"/reviews/cases/{case.id}/evidence"))
        assert 'data-testid="form-residence"' not in page
        assert 'data-testid="ev-checks"' in page
    assert count(CaseResidence) == 0
    assert as_(people.county).post(url, data=residence).status_code == 302

    decide(people.community, case)  # on to 街道复核
    assert as_(people.community).post(url, data=residence).status_code == 403
    client = as_(people.street)
    assert 'data-testid="form-residence"' in text(client.get(f"/reviews/cases/{case.id}/evidence"))
    assert client.post(url, data=residence).status_code == 302


@pytest.mark.parametrize("who", ["street_2", "county_b", "community_2", "commerce", "helper"])
def test_outside_the_scope_every_evidence_page_is_404(case, people, as_, who, app):
    client = as_(people.community)
    r = client.post(f"/reviews/cases/{case.id}/documents",
                    data={"doc_type": "income", "file": (io.BytesIO(PDF), "收入证明.pdf")},
                    content_type="multipart/form-data")
    assert r.status_code == 302
    doc = _db.session.scalar(sa.select(CaseDocument))
    client = as_(getattr(people, who))
    expected = 404  # as if the case did not exist (a helper has no review pages at all)
    for url in (f"/reviews/cases/{case.id}/evidence",
                f"/reviews/cases/{case.id}/documents/{doc.id}"):
        assert client.get(url).status_code == expected, url
    r = client.post(f"/reviews/cases/{case.id}/evidence/checks",
                    data={"kind": "tax", "outcome": "match", "checked_on": TODAY.isoformat()})
    assert r.status_code == expected
    assert count(InfoCheck) == 0


# ---------------------------------------------------------------- application materials

def upload(client, case, data: bytes, name: str, doc_type: str = "income"):
    return client.post(f"/reviews/cases/{case.id}/documents",
                       data={"doc_type": doc_type, "note": "", "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_a_pdf_is_accepted_listed_and_its_download_audited(case, people, as_):
    client = as_(people.community)
    r = upload(client, case, PDF, "收入证明.pdf")
    assert r.status_code == 302 and r.headers["Location"].endswith("#ev-documents")
    doc = _db.session.scalar(sa.select(CaseDocument))
    assert (doc.kind, doc.size, doc.filename) == ("pdf", len(PDF), "收入证明.pdf")
    assert photo_store().get(documents.document_key(doc)) == PDF

    decide(people.community, case)  # the street reviews it with the materials
    client = as_(people.street)
    page = text(client.get(f"/reviews/cases/{case.id}"))
    link = f"/reviews/cases/{case.id}/documents/{doc.id}"
    assert link in page and "收入证明" in page
    r = client.get(link)
    assert r.status_code == 200 and r.data == PDF and r.mimetype == "application/pdf"
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert "no-store" in r.headers["Cache-Control"]
    event = _db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "case.document_view"))
    assert event.user_id == people.street.id and event.target_id == doc.id
    assert event.detail["case_id"] == case.id
    assert client.get(f"/reviews/cases/{case.id}/documents/{'0' * 36}").status_code == 404


@pytest.mark.parametrize(("data", "name", "message"), [
    (encode_jpeg(photo(3)), "户口簿.pdf", "内容不是 PDF 文件（可能是改了扩展名的其他文件）"),
    (b"PK\x03\x04" + b"\x00" * 200, "申请书.pdf", "内容不是 PDF 文件"),
    (PDF, "身份证.jpg", "这个文件不是可识别的照片（可能是改了扩展名的其他文件）"),
    (b"MZ\x90\x00" + b"\x00" * 200, "scan.png", "这个文件不是可识别的照片"),
    (b"%PDF-1.7\n1 0 obj << /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>\n%%EOF",
     "a.pdf", "PDF 中含有脚本或自动运行的内容"),
    (b"%PDF-1.7\n1 0 obj << /Type /Catalog >>", "cut.pdf", "PDF 文件不完整"),
    (PDF, "证明.docx", "只能上传 PDF 文件或照片（JPG、PNG、WEBP、HEIC）"),
    (b"", "empty.pdf", "请选择要上传的文件"),
])
def test_what_is_not_a_pdf_or_a_photo_is_refused(case, people, as_, data, name, message):
    r = upload(as_(people.community), case, data, name)
    assert r.status_code == 422
    assert message in text(r)
    assert count(CaseDocument) == 0 and not list(photo_store().keys())


def test_an_oversize_file_is_refused(case, people, as_, app):
    app.config["DOCUMENT_MAX_BYTES"] = 1024 * 1024
    big = PDF[:-7] + b"%" + b"0" * (1024 * 1024) + b"\n%%EOF\n"
    r = upload(as_(people.community), case, big, "big.pdf")
    assert r.status_code == 422
    assert "文件太大，每份材料不能超过 1 MB" in text(r)
    r = upload(as_(people.community), case, PDF, "small.pdf", doc_type="")
    assert r.status_code == 422 and "请选择材料类型" in text(r)
    assert count(CaseDocument) == 0


def test_a_scan_goes_through_the_photo_pipeline(case, people, as_):
    exif = Image.Exif()
    exif[0x010F] = "HUAWEI"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif.get_ifd(0x8825).update({1: "N", 2: (32.0, 59.0, 42.0), 3: "E", 4: (112.0, 32.0, 0.0)})
    scan = encode_jpeg(photo(7, (400, 300)), quality=90, exif=exif.tobytes())
    assert b"HUAWEI" in scan
    client = as_(people.community)
    r = upload(client, case, scan, "IMG_0001.JPG", doc_type="id_card")
    assert r.status_code == 302
    doc = _db.session.scalar(sa.select(CaseDocument))
    assert doc.kind == "image" and (doc.width, doc.height) == (300, 400)  # turned upright
    stored = photo_store().get(documents.document_key(doc))
    assert b"HUAWEI" not in stored
    with Image.open(io.BytesIO(stored)) as im:
        assert not im.getexif() and "exif" not in im.info
    page = text(client.get(f"/reviews/cases/{case.id}"))
    thumb = re.search(r'src="(/reviews/cases/\d+/documents/[^"]+/thumb\.jpg)"', page).group(1)
    r = client.get(thumb)
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert "case.document_view" not in audit_actions()  # thumbnails are like photos
    r = client.get(f"/reviews/cases/{case.id}/documents/{doc.id}")
    assert r.status_code == 200 and r.data == stored
    assert r.headers["Content-Disposition"].startswith("inline")
    assert audit_actions().count("case.document_view") == 1
