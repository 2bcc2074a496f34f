"""Account logic shared by the pages and the command line."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Flask
from flask_babel import gettext as _
from sqlalchemy.exc import OperationalError, ProgrammingError

from fieldwork.accounts import roles
from fieldwork.accounts.models import User
from fieldwork.audit import services as audit
from fieldwork.config import ConfigError
from fieldwork.extensions import db
from fieldwork.places.models import Place

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$")
DEMO_PREFIX = "demo-"
MIN_PASSWORD = 8


class AccountError(ValueError):
    """A specific, user-facing reason an account action was refused."""


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password is too weak, or None. Policy: ≥ 8 characters, two kinds of character,
    not the username."""
    if len(password) < MIN_PASSWORD:
        return _("密码至少需要 %(n)d 个字符", n=MIN_PASSWORD)
    kinds = sum(
        bool(re.search(p, password)) for p in (r"[A-Za-z]", r"[0-9]", r"[^A-Za-z0-9]")
    )
    if kinds < 2:
        return _("密码需包含字母、数字、符号中的至少两类")
    if username and username.lower() in password.lower():
        return _("密码不能包含用户名")
    return None


def find_place(code: str) -> Place:
    place = db.session.scalar(sa.select(Place).where(Place.code == code.strip()))
    if place is None:
        raise AccountError(_("找不到行政区划代码为 %(code)s 的地区", code=code))
    return place


def create_user(
    *,
    username: str,
    password: str,
    role: str,
    place: Place,
    display_name: str = "",
    phone: str | None = None,
    must_change_password: bool = True,
) -> User:
    """Create a user after checking every field; raises AccountError with a clear reason."""
    if not USERNAME_RE.match(username):
        raise AccountError(
            _("用户名需为 3–64 位字母、数字或 . _ -，且以字母或数字开头：%(u)s", u=username)
        )
    if role not in roles.ROLES:
        raise AccountError(
            _("未知角色 %(role)s，可选：%(all)s", role=role, all=", ".join(roles.ROLES))
        )
    if place.level not in roles.ROLE_PLACE_LEVELS[role]:
        raise AccountError(
            _(
                "%(role)s 的所属地区应为 %(levels)s 级，而 %(place)s 是 %(level)s 级",
                role=role,
                levels="/".join(roles.ROLE_PLACE_LEVELS[role]),
                place=place.name,
                level=place.level,
            )
        )
    if db.session.scalar(sa.select(User.id).where(User.username == username)):
        raise AccountError(_("用户名 %(u)s 已存在", u=username))
    problem = password_problem(password, username)
    if problem:
        raise AccountError(problem)
    user = User(
        username=username,
        role=role,
        place=place,
        display_name=display_name,
        phone=phone,
        must_change_password=must_change_password,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user.create", target_type="user", target_id=user.id, place_id=place.id,
        username_created=username, role=role,
    )
    return user


def deactivate_user(user: User) -> None:
    user.active = False
    user.rotate_sessions()
    audit.record("user.deactivate", target_type="user", target_id=user.id, place_id=user.place_id)


def refuse_demo_accounts(app: Flask) -> None:
    """Production must not start with the well-known demo accounts active."""
    with app.app_context():
        try:
            demo = db.session.scalar(
                sa.select(sa.func.count(User.id)).where(
                    User.username.startswith(DEMO_PREFIX), User.active.is_(True)
                )
            )
        except (OperationalError, ProgrammingError):
            db.session.rollback()
            return  # no tables yet: nothing to refuse; migrations will create them
        finally:
            db.session.remove()
        if demo:
            raise ConfigError(
                "数据库中存在启用的演示账号（demo-*）；生产环境拒绝启动。"
                "请用 `flask --app app user deactivate` 停用它们或使用新的数据库"
            )
