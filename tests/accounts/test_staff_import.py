"""Bulk import of staff accounts from the sheet 账号: the template round trip, the dry run's
per-row messages, all-or-nothing, the slips of the real run and the command line."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
import sqlalchemy as sa
import werkzeug.security

from fieldwork.accounts.models import User
from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db
from tests.factories import csrf_token

PASSWORD = "test-pass-123"
HEADERS = ["用户名", "姓名", "角色", "所属单位代码", "手机号", "工作单位"]

pytestmark = pytest.mark.usefixtures("fresh_g")


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


@pytest.fixture
def officer(client, make_user):
    user = make_user("county_officer", username="wancheng-office")
    client.post("/login", data={"username": user.username, "password": PASSWORD,
                                "csrf_token": csrf_token(client)})
    return user


def workbook(rows: list[list], headers: list[str] = HEADERS, sheet: str = "账号") -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(headers)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def upload(client, data: bytes, mode: str = "check"):
    return client.post("/manage/staff/import", data={
        "csrf_token": csrf_token(client), "mode": mode,
        "file": (io.BytesIO(data), "账号.xlsx")}, content_type="multipart/form-data")


def problems(response) -> list[tuple[str, str, str]]:
    html = response.get_data(as_text=True)
    return re.findall(r'data-testid="import-problem"><td[^>]*>([^<]*)</td><td[^>]*>([^<]*)'
                      r'</td><td[^>]*>([^<]*)</td>', html)


def count_users() -> int:
    return db.session.scalar(sa.select(sa.func.count(User.id)))


GOOD = [
    ["wang-li", "王丽", "帮扶责任人", "411302001001", "13800000001", "宛城区民政局"],
    ["zhao-qiang", "赵强", "community_worker", "411302001001", "", ""],
    ["sun-min", "孙敏", "街道（乡镇）审核人", "411302001", "0377-63123456", "东关街道办事处"],
]


def test_the_template_round_trip(client, officer, world):
    response = client.get("/manage/staff/import/template.xlsx")
    assert response.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(response.data))
    ws = wb["账号"]
    assert [c.value for c in ws[1]] == HEADERS
    choices = [str(v[0]) for v in wb["选项"].iter_rows(min_row=2, values_only=True)]
    assert "帮扶责任人" in choices and "系统管理员" not in choices  # a county officer's roles
    assert any("账号" in str(dv.sqref) or "C2" in str(dv.sqref)
               for dv in ws.data_validations.dataValidation)
    for r, row in enumerate(GOOD, start=2):
        for c, value in enumerate(row, start=1):
            ws.cell(row=r, column=c, value=value)
    filled = io.BytesIO()
    wb.save(filled)
    before = count_users()
    checked = upload(client, filled.getvalue())
    assert checked.status_code == 200, problems(checked)
    assert "检查通过：可导入 3 个账号" in checked.get_data(as_text=True)
    assert count_users() == before  # a dry run writes nothing
    applied = upload(client, filled.getvalue(), mode="apply")
    assert applied.status_code == 200
    assert "no-store" in applied.headers["Cache-Control"]
    html = applied.get_data(as_text=True)
    passwords = re.findall(r'data-testid="slip-password">([^<]+)<', html)
    assert len(passwords) == 3 and len(set(passwords)) == 3
    for (username, *_rest), password in zip(GOOD, passwords, strict=True):
        user = db.session.scalar(sa.select(User).where(User.username == username))
        assert user.must_change_password
        assert werkzeug.security.check_password_hash(user.password_hash, password)
    sun = db.session.scalar(sa.select(User).where(User.username == "sun-min"))
    assert (sun.role, sun.place.code, sun.phone, sun.organisation) == (
        "street_reviewer", "411302001", "0377-63123456", "东关街道办事处")
    events = db.session.scalars(sa.select(AuditEvent)).all()
    assert any(e.action == "user.import" for e in events)
    assert not any(p in str(e.detail) for e in events for p in passwords)


def test_the_dry_run_names_every_problem_by_row(client, officer, make_user, world):
    make_user("helper", username="taken-name")
    rows = [
        ["taken-name", "甲", "帮扶责任人", "411302001001", "", ""],           # 2 taken
        ["x", "乙", "帮扶责任人", "411302001001", "", ""],                    # 3 invalid
        ["dup-name", "丙", "帮扶责任人", "411302001001", "", ""],             # 4
        ["DUP-name", "丁", "帮扶责任人", "411302001001", "", ""],             # 5 duplicate
        ["role-less", "戊", "村长", "411302001001", "", ""],                  # 6 unknown role
        ["no-place", "己", "帮扶责任人", "999999", "", ""],                   # 7 unknown code
        ["far-away", "庚", "帮扶责任人", "411303001001", "", ""],             # 8 other county
        ["bad-level", "辛", "街道(乡镇)审核人", "411302001001", "", ""],      # 9 level
        ["bad-phone", "壬", "帮扶责任人", "411302001001", "1380000", ""],     # 10 phone
        ["want-admin", "癸", "admin", "411302", "", ""],                      # 11 admin
        ["no-dept", "子", "部门/行业审核人", "411302", "", ""],               # 12 no unit
    ]
    response = upload(client, workbook(rows))
    assert response.status_code == 422
    found = problems(response)
    text = {(row, col): msg for row, col, msg in found}
    assert "用户名 taken-name 已存在" in text[("2", "用户名")]
    assert "用户名需为 3–64 位" in text[("3", "用户名")]
    assert "与第 4 行重复" in text[("5", "用户名")]
    assert "未知角色：村长" in text[("6", "角色")]
    assert "找不到代码或名称为 999999 的地区" in text[("7", "所属单位代码")]
    assert "光明社区 不在本县（市、区）范围内" in text[("8", "所属单位代码")]
    assert "所属单位应为街道（乡镇）" in text[("9", "所属单位代码")]
    assert "手机号 1380000 格式不正确" in text[("10", "手机号")]
    assert "县级解困办不能设置系统管理员账号" in text[("11", "角色")]
    assert "部门/行业审核人须填写工作单位" in text[("12", "工作单位")]
    assert ("4", "用户名") not in text


def test_the_real_run_is_all_or_nothing(client, officer, world):
    rows = [*GOOD, ["bad-phone", "壬", "帮扶责任人", "411302001001", "12", ""]]
    before = count_users()
    response = upload(client, workbook(rows), mode="apply")
    assert response.status_code == 422
    assert "未导入任何账号" in response.get_data(as_text=True)
    assert 'data-testid="slip-password"' not in response.get_data(as_text=True)
    assert count_users() == before


def test_missing_columns_formulas_and_wrong_files_are_refused(client, officer, world):
    response = upload(client, workbook([["a-user", "甲", "帮扶责任人"]], HEADERS[:3]))
    assert response.status_code == 422
    assert ("—", "所属单位代码", "缺少必填列“所属单位代码”") in problems(response)
    response = upload(client, workbook([["f-user", "=A1", "帮扶责任人", "411302001001"]]))
    assert ("2", "B2", "单元格含公式，请直接填写内容（不要使用公式）") in problems(response)
    response = upload(client, workbook(GOOD, sheet="Sheet1"))
    assert response.status_code == 422
    assert "没有名为“账号”的工作表" in response.get_data(as_text=True)
    response = upload(client, "用户名,姓名\n".encode())
    assert response.status_code == 422
    assert "不是 Excel（.xlsx）文件" in response.get_data(as_text=True)
    response = upload(client, b"")
    assert response.status_code == 422
    assert count_users() == 1


def test_the_command_line_import(app, world, tmp_path):
    path = tmp_path / "accounts.xlsx"
    path.write_bytes(workbook(GOOD))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["user", "import", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "检查通过，可导入 3 个账号" in result.output
    assert count_users() == 0
    result = runner.invoke(args=["user", "import", str(path)])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.splitlines() if "\t" in line]
    assert [line[0] for line in lines] == ["wang-li", "zhao-qiang", "sun-min"]
    db.session.expire_all()
    user = db.session.scalar(sa.select(User).where(User.username == "wang-li"))
    assert werkzeug.security.check_password_hash(user.password_hash, lines[0][1])
    again = runner.invoke(args=["user", "import", str(path)])
    assert again.exit_code == 1 and "用户名 wang-li 已存在" in again.output
    assert count_users() == 3


def test_a_place_may_be_named_and_a_taken_username_is_found_in_any_case(
        client, officer, make_user, world):
    make_user("helper", username="taken-name")
    rows = [
        ["he-ping", "甲", "帮扶责任人", "和平社区", "", ""],         # 2 named, unique in county
        ["guang-ming", "乙", "帮扶责任人", "光明社区", "", ""],      # 3 named, other county
        ["TAKEN-NAME", "丙", "帮扶责任人", "411302001001", "", ""],  # 4 taken, other case
    ]
    response = upload(client, workbook(rows))
    assert response.status_code == 422
    text = {(row, col): msg for row, col, msg in problems(response)}
    assert ("2", "所属单位代码") not in text
    assert "找不到代码或名称为 光明社区 的地区" in text[("3", "所属单位代码")]
    assert "已存在" in text[("4", "用户名")]
    ok = upload(client, workbook(rows[:1]), mode="apply")
    assert ok.status_code == 200
    user = db.session.scalar(sa.select(User).where(User.username == "he-ping"))
    assert user.place_id == world.community.id
