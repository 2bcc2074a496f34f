"""Command line: `flask --app app user ...`, `demo`, `bootstrap`, `import households FILE
--county CODE [--dry-run]` and `import template households OUT.xlsx` (households/imports),
and the registration of
`backup`, `restore` (backup.py), `rotate-keys` (privacy/rotation.py) and `seed-scale`
(devdata/scale.py)."""

from __future__ import annotations

import os
import sys

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from flask_migrate import upgrade
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from fieldwork.access import roles
from fieldwork.accounts import staff_import
from fieldwork.accounts.models import User
from fieldwork.accounts.services import create_user, deactivate_user, find_place
from fieldwork.backup import register_backup_cli
from fieldwork.devdata.demo import DEMO_PASSWORD, has_data, load_places, reset_database, seed_demo
from fieldwork.devdata.scale import seed_scale_command
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.management.measures import seed_catalogue
from fieldwork.places.models import Place
from fieldwork.privacy.rotation import rotate_keys_command

user_cli = AppGroup("user", help="管理账号 / manage accounts")


def fail(message: str) -> None:
    click.secho(f"错误 / error: {message}", fg="red", err=True)
    sys.exit(1)


@user_cli.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(roles.ROLES))
@click.option("--place", "place_code", required=True, help="所属地区的行政区划代码")
@click.option("--name", "display_name", default="", help="姓名")
@click.option("--phone", default=None)
@click.option("--organisation", default="", help="工作单位")
@click.option("--password", default=None, help="初始密码（不提供则提示输入）")
@click.option("--no-force-change", is_flag=True, help="不要求首次登录修改密码")
def create_user_command(username, role, place_code, display_name, phone, organisation,
                        password, no_force_change):
    """Create an account."""
    if password is None:
        password = click.prompt("初始密码 / initial password", hide_input=True,
                                confirmation_prompt=True)
    try:
        place = find_place(place_code)
        user = create_user(
            username=username, password=password, role=role, place=place,
            display_name=display_name, phone=phone, organisation=organisation,
            must_change_password=not no_force_change,
        )
        db.session.commit()
    except FormError as exc:
        db.session.rollback()
        fail(exc.message)
    click.echo(f"已创建 / created: {user.username} ({role}, {place.name} {place.code})")


@user_cli.command("list")
@click.option("--role", type=click.Choice(roles.ROLES), default=None)
def list_users(role):
    """List accounts."""
    query = sa.select(User).order_by(User.role, User.username)
    if role:
        query = query.where(User.role == role)
    for user in db.session.scalars(query):
        state = "active" if user.active else "inactive"
        click.echo(f"{user.username:24} {user.role:16} {user.place.code:14} "
                   f"{user.place.name:12} {state}")


@user_cli.command("deactivate")
@click.argument("username")
def deactivate(username):
    """Deactivate an account and end its sessions."""
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        fail(f"找不到用户 {username}")
    deactivate_user(user)
    db.session.commit()
    click.echo(f"已停用 / deactivated: {username}")


@user_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="只检查，不创建账号")
def import_users(path, dry_run):
    """Import accounts from the sheet 账号 of an XLSX file (the same checks as the web page);
    prints every new one-time password once."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        report = staff_import.run(None, data, dry_run=dry_run)
    except FormError as exc:
        db.session.rollback()
        fail(exc.message)
    for p in report.problems:
        click.echo(f"第 {p.row or '—'} 行 [{p.column}] {p.message}")
    if report.extra:
        click.echo("已忽略的列 / ignored columns: " + "、".join(report.extra))
    if report.problems:
        db.session.rollback()
        fail(f"发现 {len(report.problems)} 个问题，未创建任何账号 / nothing imported")
    if dry_run:
        db.session.rollback()
        click.echo(f"检查通过，可导入 {report.rows} 个账号 / dry run OK: {report.rows} accounts")
        return
    db.session.commit()
    click.echo(f"已创建 {len(report.issued)} 个账号（初始密码只显示这一次，首次登录须修改）:")
    for item in report.issued:
        u = item.user
        click.echo(f"{u.username}\t{item.password}\t{u.display_name}\t{u.role}\t{u.place.code}")


@click.command("demo")
@with_appcontext
@click.option("--reset", is_flag=True, help="清空数据库并重建演示县")
def demo_command(reset):
    """Load the demo county (seeded: the same data every time)."""
    if current_app.config["FIELDWORK_ENV"] == "production":
        fail("生产环境不能加载演示数据")
    if not sa.inspect(db.engine).has_table("places"):
        upgrade()  # a brand-new database gets its tables first
    if reset:
        reset_database()
    elif has_data():
        fail("数据库已有数据；要重建演示数据请加 --reset")
    summary = seed_demo()
    click.echo(summary)


@click.command("bootstrap")
@with_appcontext
def bootstrap_command():
    """Apply migrations and, in demo mode, seed the demo county into an empty database."""
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except OperationalError as exc:
        fail(f"无法连接数据库 {db.engine.url.render_as_string(hide_password=True)}：{exc.orig}")
    try:
        upgrade()
    except SQLAlchemyError as exc:
        fail(f"数据库迁移失败：{exc}")
    if not current_app.config["DEMO_MODE"]:
        _load_reference_data()
    else:
        if not has_data():
            click.echo(seed_demo())
        click.echo(
            "演示模式 / demo mode — 账号 accounts: demo-helper, demo-community, demo-street, "
            f"demo-county, demo-department, demo-city, demo-admin；密码 password: {DEMO_PASSWORD}"
        )


def _load_reference_data() -> None:
    """A new production database gets the city's county-level units and the measures
    catalogue (both idempotent); streets, communities and accounts are the county's to add."""
    if not has_data():
        load_places()
        click.echo("已载入南阳市及所辖县级单位 / loaded the city and its county-level units")
    added = seed_catalogue()
    db.session.commit()
    if added:
        click.echo(f"已载入帮扶措施目录 {added} 项 / loaded {added} measures")


import_cli = AppGroup("import", help="批量导入 / import from XLSX")
import_template_cli = AppGroup("template", help="下载导入模板 / write an import template")
import_cli.add_command(import_template_cli)


@import_template_cli.command("households")
@click.argument("out", type=click.Path(dir_okay=False, writable=True))
def import_template_households(out):
    """Write the household import template (sheets 家庭, 成员, 说明) to OUT.xlsx."""
    from fieldwork.households.imports.columns import template_bytes

    with open(out, "wb") as f:
        f.write(template_bytes())
    click.echo(f"已写出模板 / template written: {out}")


@import_cli.command("households")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--county", "county_code", required=True, help="县（市、区）行政区划代码")
@click.option("--dry-run", is_flag=True, help="只检查，不写入")
def import_households(file, county_code, dry_run):
    """Import households from FILE.xlsx into the county (all or nothing)."""
    from fieldwork.households.imports import services as imports
    from fieldwork.xlsxin import XlsxRefused

    county = db.session.scalar(sa.select(Place).where(Place.code == county_code,
                                                      Place.level == "county"))
    if county is None:
        fail(f"找不到县（市、区）{county_code}")
    with open(file, "rb") as f:
        data = f.read()
    try:
        if dry_run:
            report = imports.check(data, county)
        else:
            report = imports.run(data, county, user=None, filename=os.path.basename(file))
    except XlsxRefused as exc:
        db.session.rollback()
        fail(exc.message)
    except FormError as exc:
        db.session.rollback()
        fail(exc.message)
    for sheet, header in report.extra:
        click.echo(f"忽略的列 / ignored column: {sheet}·{header}")
    for p in report.problems:
        where = f"{p.sheet} 第{p.row}行" if p.row else p.sheet
        click.echo(f"{where} {p.column}：{p.message}" if p.column else f"{where}：{p.message}")
    if not report.ok:
        db.session.rollback()
        more = report.problem_count - len(report.problems)
        if more:
            click.echo(f"另有 {more} 个问题未列出")
        fail(f"发现 {report.problem_count} 个问题，未导入任何数据")
    summary = (f"新建 {report.created} 户，更新 {report.updated} 户，无变化 {report.unchanged} 户，"
               f"新增成员 {report.members} 人")
    if dry_run:
        click.echo(f"检查通过（未写入）/ dry run OK: {summary}")
        return
    db.session.commit()
    click.echo(f"已导入 批次 {report.batch_id} / imported: {summary}")


def register_cli(app: Flask) -> None:
    register_backup_cli(app)
    app.cli.add_command(rotate_keys_command)
    app.cli.add_command(seed_scale_command)
    app.cli.add_command(user_cli)
    app.cli.add_command(demo_command)
    app.cli.add_command(bootstrap_command)
    app.cli.add_command(import_cli)
