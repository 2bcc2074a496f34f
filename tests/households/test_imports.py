"""Household import from XLSX: the dry run's messages, all or nothing, idempotency, updates
recorded in the file's history, undo (and undo refused), hostile files, the command line and
the page's upload flow."""

from __future__ import annotations

import io
import zipfile
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from fieldwork.extensions import db
from fieldwork.households import timeline
from fieldwork.households.imports import columns as cols
from fieldwork.households.imports import services as imports
from fieldwork.households.imports.models import ImportBatch
from fieldwork.households.models import Assignment, Household, HouseholdChange, Member
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.privacy.service import protect_id, reveal_id
from fieldwork.timeutil import today_local
from fieldwork.xlsxin import XlsxRefused

HH_HEADERS = [c.header for c in cols.household_columns()]
M_HEADERS = [c.header for c in cols.member_columns()]


def pid(n: int, year: int = 1980) -> str:
    return make_test_id_number("411302", date(year, 1, 1) + timedelta(days=n), n % 1000)


def hh_row(n: int, **kw: object) -> dict[str, object]:
    return {"户主姓名": f"导入户{n}", "户主身份证号": pid(n), "社区": "和平社区",
            "困难类别": "收入低于城镇低保线", "致困原因": "重大疾病、残疾",
            "家庭住址": f"建设路{n}号", "联系电话": "13800000000", "人均月收入": "450",
            "纳入日期": "2024-03-01", **kw}


def m_row(head: int, n: int, **kw: object) -> dict[str, object]:
    return {"户主身份证号": pid(head), "姓名": f"成员{n}", "身份证号": pid(n, 2010),
            "与户主关系": "子女", "就学阶段": "小学", **kw}


def book(households: list[dict], members: list[dict] = (), *, hh_headers=None,
         m_headers=None) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "家庭"
    headers = hh_headers or HH_HEADERS
    ws.append(headers)
    for r in households:
        ws.append([r.get(h, "") for h in headers])
    ws2 = wb.create_sheet("成员")
    headers2 = m_headers or M_HEADERS
    ws2.append(headers2)
    for r in members:
        ws2.append([r.get(h, "") for h in headers2])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@pytest.fixture
def helper(make_user, world):
    return make_user("helper", username="zhang-helper", display_name="张帮扶")


@pytest.fixture
def officer(make_user):
    return make_user("county_officer", username="wancheng-officer")


def messages(report) -> list[str]:
    return [f"{p.sheet}|{p.row}|{p.column}|{p.message}" for p in report.problems]


def has(report, *fragments: str) -> bool:
    return any(all(f in m for f in fragments) for m in messages(report))


def snapshot() -> list[tuple]:
    hh = db.session.execute(sa.select(
        Household.id, Household.file_no, Household.head_name, Household.phone,
        Household.category, Household.causes, Household.per_capita_income,
        Household.members_count, Household.enrolled_on, Household.place_id)
        .order_by(Household.id)).all()
    ms = db.session.execute(sa.select(Member.id, Member.household_id, Member.name,
                                      Member.id_index, Member.relation, Member.schooling_stage)
                            .order_by(Member.id)).all()
    return [tuple(r) for r in hh] + [tuple(r) for r in ms]


# ---------------------------------------------------------------- dry run

def test_dry_run_reports_every_problem_and_writes_nothing(app, world, helper, make_household):
    other = protect_id(pid(900))
    make_household(place=world.community_b, head_id_enc=other.enc, head_id_index=other.index,
                   head_id_mask=other.mask, file_no="TAKEN-1")
    future = (today_local() + timedelta(days=3)).isoformat()
    bad_check = pid(1)[:-1] + ("0" if pid(1)[-1] != "0" else "1")
    data = book(
        [hh_row(1, **{"户主身份证号": bad_check}),
         hh_row(2, **{"社区": "不存在社区", "帮扶责任人": "nobody"}),
         hh_row(3, **{"纳入日期": future, "人均月收入": "很多"}),
         hh_row(4, **{"困难类别": "富裕"}),
         hh_row(5, **{"户主身份证号": pid(5)}),
         hh_row(6, **{"户主身份证号": pid(5)}),  # the same head twice
         hh_row(7, **{"户主身份证号": pid(900)}),  # on file in another county
         hh_row(8, **{"档案编号": "TAKEN-1"}),
         hh_row(9, **{"纬度": "95", "经度": "112.5", "坐标系": "GCJ-02"}),
         hh_row(10, **{"坐标系": "火星", "纬度": "33", "经度": "112"}),
         hh_row(11, **{"户主姓名": ""}),
         hh_row(12, **{"户主身份证号": 4.11302198001012e17}),
         hh_row(13, **{"人均月收入": "=100*2"})],
        [m_row(99, 50),  # no such household
         m_row(5, 51, **{"与户主关系": "表亲"}),
         m_row(5, 52, **{"身份证号": pid(51, 2010)}),  # duplicate of row above
         m_row(5, 53, **{"与户主关系": "户主"})],
        hh_headers=HH_HEADERS + ["备用列"])
    before = snapshot()
    report = imports.check(data, world.county)
    assert not report.ok
    assert snapshot() == before  # nothing written
    assert ("家庭", "备用列") in report.extra
    assert has(report, "家庭|2|户主身份证号|", "校验位")
    assert has(report, "家庭|3|社区|", "不存在社区", "不属于宛城区")
    assert has(report, "家庭|3|帮扶责任人|", "nobody")
    assert has(report, "家庭|4|纳入日期|", "不能晚于今天")
    assert has(report, "家庭|4|人均月收入|", "不是数字")
    assert has(report, "家庭|5|困难类别|", "富裕")
    assert has(report, "家庭|7|户主身份证号|", "第 6 行重复")
    assert has(report, "家庭|8|户主身份证号|", "七一街道") or has(report, "家庭|8|", "光明社区")
    assert has(report, "家庭|9|档案编号|", "TAKEN-1")
    assert has(report, "家庭|10|纬度|", "纬度超出范围")
    assert has(report, "家庭|11|坐标系|", "不支持的坐标系")
    assert has(report, "家庭|12|户主姓名|", "必填项")
    assert has(report, "家庭|13|户主身份证号|", "科学计数法") or has(report, "家庭|13|", "文本格式")
    assert has(report, "家庭|14|人均月收入|", "单元格含公式，请直接填写内容（不要使用公式）")
    assert has(report, "成员|2|户主身份证号|", "没有该户主身份证号")
    assert has(report, "成员|3|与户主关系|", "表亲")
    assert has(report, "成员|4|身份证号|", "第 3 行重复")
    assert has(report, "成员|5|与户主关系|", "一户只能有一位户主")


def test_missing_headers_are_named(app, world):
    headers = [h for h in HH_HEADERS if h not in ("户主身份证号", "纳入日期")]
    report = imports.check(book([hh_row(1)], hh_headers=headers), world.county)
    assert has(report, "家庭|1|户主身份证号|缺少必填列“户主身份证号”")
    assert has(report, "家庭|1|纳入日期|缺少必填列“纳入日期”")


def test_headers_matched_after_trimming_and_full_width(app, world, helper):
    headers = [f" {h} " if i % 2 else h.replace("身份证号", "身份证号\u3000")
               for i, h in enumerate(HH_HEADERS)]
    rows = [{f" {k} " if HH_HEADERS.index(k) % 2 else k.replace("身份证号", "身份证号\u3000"): v
             for k, v in hh_row(1).items()}]
    report = imports.check(book(rows, hh_headers=headers), world.county)
    assert report.ok, messages(report)
    assert report.created == 1


def test_member_already_in_another_household_of_the_county(app, world, make_household):
    head = protect_id(pid(800))
    hh = make_household(head_id_enc=head.enc, head_id_index=head.index, head_id_mask=head.mask)
    kid = protect_id(pid(801, 2010))
    db.session.add(Member(household_id=hh.id, name="别家孩子", relation="child",
                          id_enc=kid.enc, id_index=kid.index, id_mask=kid.mask))
    db.session.commit()
    report = imports.check(book([hh_row(1), hh_row(2, **{"户主身份证号": pid(801, 2010)})],
                                [m_row(1, 801, **{"身份证号": pid(801, 2010)})]), world.county)
    assert has(report, "家庭|3|户主身份证号|", "不是户主")
    assert has(report, "成员|2|身份证号|", "另一户的在册成员")


# ---------------------------------------------------------------- the real run

def test_import_creates_enrolled_households(app, world, helper, officer):
    data = book([hh_row(1, **{"帮扶责任人": "zhang-helper", "纬度": "32.99", "经度": "112.54",
                              "坐标系": "GCJ-02"}),
                 hh_row(2, **{"社区": world.community_3.code, "困难类别": "edge",
                              "人均月收入": ""})],
                [m_row(1, 10), m_row(1, 11, **{"与户主关系": "配偶", "就学阶段": "",
                                               "就业状况": "灵活就业", "月收入": "1200"})])
    dry = imports.check(data, world.county)
    assert dry.ok, messages(dry)
    assert (dry.created, dry.updated, dry.members) == (2, 0, 4)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == 0
    report = imports.run(data, world.county, user=officer, filename="导入.xlsx")
    db.session.commit()
    assert report.ok and report.batch_id
    hh = db.session.scalar(sa.select(Household).where(Household.head_name == "导入户1"))
    assert hh.status == "enrolled" and hh.enrolled_on == date(2024, 3, 1)
    assert hh.file_no == f"{world.county.code}-2024-00001"
    assert hh.import_batch_id == report.batch_id
    assert hh.members_count == 3 and hh.per_capita_income == Decimal("450.00")
    assert hh.causes == ["illness", "disability"] and hh.category == "below_dibao"
    assert hh.ref_source_crs == "gcj02" and hh.ref_lat != 32.99  # converted to WGS-84
    head = hh.head
    assert head.name == "导入户1" and reveal_id(head.id_enc) == pid(1)
    assert head.id_index == protect_id(pid(1)).index and head.id_mask.startswith("4113")
    spouse = next(m for m in hh.members if m.relation == "spouse")
    assert spouse.employment_status == "flexible" and spouse.monthly_income == Decimal("1200")
    assignment = db.session.scalar(sa.select(Assignment).where(Assignment.household_id == hh.id))
    assert assignment.helper_id == helper.id and assignment.start_date == date(2024, 3, 1)
    other = db.session.scalar(sa.select(Household).where(Household.head_name == "导入户2"))
    assert other.place_id == world.community_3.id and other.street_id == world.street_2.id
    assert other.file_no == f"{world.county.code}-2024-00002"
    titles = [e.title for e in timeline.build(hh)]
    assert any("批量导入" in t for t in titles)
    batch = db.session.get(ImportBatch, report.batch_id)
    assert (batch.created, batch.updated, batch.members, batch.filename) == (2, 0, 4, "导入.xlsx")


def test_any_error_writes_nothing(app, world, officer):
    data = book([hh_row(1), hh_row(2), hh_row(3, **{"纳入日期": "2024-02-30"})])
    report = imports.run(data, world.county, user=officer)
    db.session.commit()
    assert not report.ok and report.batch_id is None
    assert has(report, "家庭|4|纳入日期|", "无法识别")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportBatch)) == 0


def test_same_file_twice_changes_nothing(app, world, helper, officer):
    data = book([hh_row(1, **{"帮扶责任人": "zhang-helper"}), hh_row(2)],
                [m_row(1, 10), m_row(2, 11, **{"身份证号": "", "出生日期": "2023-05-01"})])
    first = imports.run(data, world.county, user=officer)
    db.session.commit()
    assert first.ok and first.created == 2
    before = snapshot()
    second = imports.run(data, world.county, user=officer)
    db.session.commit()
    assert second.ok, messages(second)
    assert (second.created, second.updated, second.unchanged, second.members) == (0, 0, 2, 0)
    assert snapshot() == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HouseholdChange)) == 0


def test_update_goes_into_history(app, world, officer, helper):
    imports.run(book([hh_row(1)], [m_row(1, 10)]), world.county, user=officer)
    db.session.commit()
    hh = db.session.scalar(sa.select(Household))
    changed = book([hh_row(1, **{"联系电话": "13900000000", "困难类别": "支出突增致困",
                                 "人均月收入": "380", "社区": "幸福社区"})],
                   [m_row(1, 10, **{"就学阶段": "初中"}), m_row(1, 12)])
    report = imports.run(changed, world.county, user=officer)
    db.session.commit()
    assert report.ok, messages(report)
    assert (report.created, report.updated, report.members) == (0, 1, 1)
    db.session.refresh(hh)
    assert hh.phone == "13900000000" and hh.category == "expenditure"
    assert hh.per_capita_income == Decimal("380.00") and hh.place_id == world.community_2.id
    assert len([m for m in hh.members if m.current]) == 3
    rows = db.session.scalars(sa.select(HouseholdChange).where(
        HouseholdChange.household_id == hh.id)).all()
    assert {c.kind for c in rows} == {"phone", "category", "income", "address", "member_edit",
                                      "member_add"}
    assert all(c.source == "import" and c.state == "applied" for c in rows)
    assert all(f"批次 {report.batch_id}" in c.reason for c in rows)
    phone = next(c for c in rows if c.kind == "phone")
    assert phone.before == {"phone": "13800000000"} and phone.after == {"phone": "13900000000"}
    assert any("变更" in e.title for e in timeline.build(hh))


# ---------------------------------------------------------------- undo

def test_undo_removes_created_and_reverts_updates(app, world, officer, helper):
    first = imports.run(book([hh_row(1)]), world.county, user=officer)
    db.session.commit()
    original = db.session.scalar(sa.select(Household))
    second = imports.run(book([hh_row(1, **{"联系电话": "13911111111"}), hh_row(2)],
                              [m_row(1, 10)]), world.county, user=officer)
    db.session.commit()
    assert (second.created, second.updated) == (1, 1)
    batch = db.session.get(ImportBatch, second.batch_id)
    imports.undo(batch, officer)
    db.session.commit()
    assert batch.state == "undone" and batch.undone_by_id == officer.id
    heads = db.session.scalars(sa.select(Household.head_name)).all()
    assert heads == ["导入户1"]
    db.session.refresh(original)
    assert original.phone == "13800000000"
    assert len([m for m in original.members if m.current]) == 1
    # the first batch now has nothing depending on it
    imports.undo(db.session.get(ImportBatch, first.batch_id), officer)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == 0


def test_undo_refused_while_something_depends(app, world, officer, helper, make_visit):
    from fieldwork.errors import FormError

    report = imports.run(book([hh_row(1, **{"帮扶责任人": "zhang-helper"})]), world.county,
                         user=officer)
    db.session.commit()
    hh = db.session.scalar(sa.select(Household))
    make_visit(hh, helper)
    batch = db.session.get(ImportBatch, report.batch_id)
    with pytest.raises(FormError) as caught:
        imports.undo(batch, officer)
    db.session.rollback()
    assert "走访记录" in caught.value.message
    assert db.session.get(ImportBatch, report.batch_id).state == "applied"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == 1


# ---------------------------------------------------------------- hostile files

def test_hostile_files_refused(app, world):
    def refused(data: bytes) -> str:
        with pytest.raises(XlsxRefused) as caught:
            imports.check(data, world.county)
        return caught.value.message

    assert ".xlsx" in refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    assert ".xlsx" in refused("户主姓名,户主身份证号\n张三,1\n".encode())
    assert ".xlsx" in refused(b"\x89PNG random bytes")
    good = book([hh_row(1)])
    bomb = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, \
            zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("xl/media/big.bin", b"0" * (30 * 1024 * 1024))
    assert "压缩炸弹" in refused(bomb.getvalue())
    app.config["IMPORT_MAX_BYTES"] = 1000
    assert "文件太大" in refused(good)
    app.config["IMPORT_MAX_BYTES"] = 30 * 1024 * 1024
    app.config["IMPORT_MAX_ROWS"] = 3
    assert "超过 3 行" in refused(book([hh_row(i) for i in range(1, 5)]))
    wb = Workbook()
    wb.active.title = "家庭"
    out = io.BytesIO()
    wb.save(out)
    assert "成员" in refused(out.getvalue())


def test_formula_cells_are_reported_not_evaluated(app, world):
    report = imports.check(book([hh_row(1, **{"户主姓名": '=HYPERLINK("http://x","点我")'})]),
                           world.county)
    assert has(report, "家庭|2|户主姓名|单元格含公式，请直接填写内容（不要使用公式）")


# ---------------------------------------------------------------- command line

def test_cli_template_dry_run_and_import(app, world, tmp_path, helper):
    runner = app.test_cli_runner()
    out = tmp_path / "t.xlsx"
    result = runner.invoke(args=["import", "template", "households", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(book([hh_row(1, **{"社区": "火星社区"})]))
    result = runner.invoke(args=["import", "households", str(bad), "--county", "411302"])
    assert result.exit_code == 1 and "火星社区" in result.output
    good = tmp_path / "good.xlsx"
    good.write_bytes(book([hh_row(1), hh_row(2)], [m_row(1, 10)]))
    result = runner.invoke(args=["import", "households", str(good), "--county", "411302",
                                 "--dry-run"])
    assert result.exit_code == 0 and "新建 2 户" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == 0
    result = runner.invoke(args=["import", "households", str(good), "--county", "411302"])
    assert result.exit_code == 0 and "已导入" in result.output, result.output
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == 2
    batch = db.session.scalar(sa.select(ImportBatch))
    assert batch.created_by_id is None and batch.filename == "good.xlsx"
    result = runner.invoke(args=["import", "households", str(good), "--county", "999999"])
    assert result.exit_code == 1


# ---------------------------------------------------------------- the page

def test_page_upload_check_confirm_and_undo(app, client, auth, world, officer, helper):
    auth.login(officer)
    page = client.get("/manage/import")
    assert page.status_code == 200 and "批量导入困难家庭" in page.get_data(as_text=True)
    template = client.get("/manage/import/template")
    assert template.status_code == 200 and template.data[:2] == b"PK"
    bad = book([hh_row(1, **{"帮扶责任人": "ghost"})])
    r = client.post("/manage/import/check", data={"file": (io.BytesIO(bad), "a.xlsx")},
                    content_type="multipart/form-data")
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and "ghost" in body and "import-confirm" not in body
    r = client.post("/manage/import/check", data={"file": (io.BytesIO(b"hello"), "a.csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 422 and "不是 Excel" in r.get_data(as_text=True)
    good = book([hh_row(1, **{"帮扶责任人": "zhang-helper"})])
    r = client.post("/manage/import/check", data={"file": (io.BytesIO(good), "a.xlsx")},
                    content_type="multipart/form-data")
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "import-confirm" in body and "将新建 1 户" in body
    import hashlib

    sha = hashlib.sha256(good).hexdigest()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == 0
    r = client.post("/manage/import/confirm", data={"sha256": sha, "filename": "a.xlsx"})
    assert r.status_code == 302
    page = client.get("/manage/import").get_data(as_text=True)
    assert "a.xlsx" in page and "已导入" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == 1
    # confirming the same upload again: it is gone
    r = client.post("/manage/import/confirm", data={"sha256": sha, "filename": "a.xlsx"})
    assert r.status_code == 409
    batch = db.session.scalar(sa.select(ImportBatch))
    r = client.post(f"/manage/import/{batch.id}/undo")
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(ImportBatch, batch.id).state == "undone"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == 0


def test_page_over_size_upload_answers_in_chinese(app, client, auth, world, officer):
    app.config["IMPORT_MAX_BYTES"] = 10_000
    auth.login(officer)
    r = client.post("/manage/import/check",
                    data={"file": (io.BytesIO(b"x" * 2_000_000), "big.xlsx")},
                    content_type="multipart/form-data")
    assert r.status_code == 413 and "文件太大" in r.get_data(as_text=True)


def test_other_roles_get_404(app, client, auth, make_user):
    auth.login(make_user("street_reviewer"))
    assert client.get("/manage/import").status_code == 404


def test_checked_upload_expires_unconfirmed(app, client, auth, world, officer, helper):
    """A checked file holds ID numbers in the clear: one nobody confirmed within the TTL is
    removed, and its 确认导入 then asks for a new upload instead of importing it."""
    import hashlib
    import os
    from pathlib import Path

    from fieldwork.households.imports.views import UPLOAD_TTL_SECONDS

    auth.login(officer)
    good = book([hh_row(1, **{"帮扶责任人": "zhang-helper"})])
    r = client.post("/manage/import/check", data={"file": (io.BytesIO(good), "a.xlsx")},
                    content_type="multipart/form-data")
    assert r.status_code == 200
    sha = hashlib.sha256(good).hexdigest()
    stored = Path(app.instance_path) / "imports" / f"{sha}.xlsx"
    assert stored.is_file()
    old = stored.stat().st_mtime - UPLOAD_TTL_SECONDS - 60
    os.utime(stored, (old, old))
    r = client.post("/manage/import/confirm", data={"sha256": sha, "filename": "a.xlsx"})
    assert r.status_code == 409 and "重新上传" in r.get_data(as_text=True)
    assert not stored.exists()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == 0
