"""Account logic shared by the pages and the command line."""

from __future__ import annotations

import re
import secrets
from functools import cache

import sqlalchemy as sa
import werkzeug.security
from flask import Flask
from flask_babel import gettext as _
from sqlalchemy.exc import OperationalError, ProgrammingError

from fieldwork.access import roles
from fieldwork.accounts.models import PASSWORD_METHOD, User
from fieldwork.audit import services as audit
from fieldwork.audit.models import AuditEvent
from fieldwork.config import ConfigError
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.places.models import Place

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$")
# A mainland mobile number, or a landline with its area code (0377-63123456).
PHONE_RE = re.compile(r"^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$")
MAX_NAME = 64
# Initial passwords are read off a printed slip: no 0/O, 1/l/I, 5/S, 2/Z look-alikes.
SLIP_ALPHABET = "ABCDEFGHJKMNPQRTUVWXYabcdefghjkmnpqrstuvwxy346789"
SLIP_LENGTH = 10
DEMO_PREFIX = "demo-"
MIN_PASSWORD = 8


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


def initial_password(username: str = "") -> str:
    """A one-time password for a slip: 10 characters from SLIP_ALPHABET, at least one letter
    and one digit, so it passes password_problem. Only its hash is ever stored."""
    while True:
        password = "".join(secrets.choice(SLIP_ALPHABET) for _i in range(SLIP_LENGTH))
        if password_problem(password, username) is None:
            return password


def normalise_phone(raw: str | None) -> str | None:
    """The phone number as stored, None when empty; FormError when it is not a mobile or
    landline number. A mobile is kept as its 11 digits whatever way it was typed (spaces,
    dashes, +86 or 0086 in front: 138-0013-8000, +86 13800138000); a landline keeps the dash
    after its area code."""
    text = re.sub(r"[\s\u3000]", "", raw or "")
    if not text:
        return None
    mobile = re.sub(r"^(\+86|0086)-?", "", text)
    if re.fullmatch(r"1[0-9]{2}-?[0-9]{4}-?[0-9]{4}", mobile):
        text = mobile.replace("-", "")
    if not PHONE_RE.match(text):
        raise FormError.of(
            _("手机号 %(p)s 格式不正确：应为 11 位手机号或带区号的固定电话", p=text[:20]), "phone")
    return text


def username_taken(username: str) -> bool:
    """Whether an account already has this username in any letter case: demo-helper and
    DEMO-HELPER would be two accounts that people (and the login rate limit, which folds
    case) take for one."""
    return db.session.scalar(sa.select(User.id).where(
        sa.func.lower(User.username) == username.lower()).limit(1)) is not None


def find_place(code: str) -> Place:
    place = db.session.scalar(sa.select(Place).where(Place.code == code.strip()))
    if place is None:
        raise FormError.of(_("找不到行政区划代码为 %(code)s 的地区", code=code), "place")
    return place


def role_place_problem(role: str, place: Place) -> str | None:
    """Why a role cannot have this home place (a street reviewer belongs to a street...)."""
    if place.level in roles.ROLE_PLACE_LEVELS[role]:
        return None
    return _(
        "%(role)s 的所属地区应为 %(levels)s 级，而 %(place)s 是 %(level)s 级",
        role=role,
        levels="/".join(roles.ROLE_PLACE_LEVELS[role]),
        place=place.name,
        level=place.level,
    )


def create_user(
    *,
    username: str,
    password: str,
    role: str,
    place: Place,
    display_name: str = "",
    phone: str | None = None,
    organisation: str = "",
    must_change_password: bool = True,
) -> User:
    """Create a user after checking every field; raises FormError with a clear reason."""
    if not USERNAME_RE.match(username):
        raise FormError.of(
            _("用户名需为 3–64 位字母、数字或 . _ -，且以字母或数字开头：%(u)s", u=username),
            "username",
        )
    if role not in roles.ROLES:
        raise FormError.of(
            _("未知角色 %(role)s，可选：%(all)s", role=role, all=", ".join(roles.ROLES)), "role"
        )
    if problem := role_place_problem(role, place):
        raise FormError.of(problem, "place")
    if username_taken(username):
        raise FormError.of(_("用户名 %(u)s 已存在", u=username), "username")
    problem = password_problem(password, username)
    if problem:
        raise FormError.of(problem, "password")
    user = User(
        username=username,
        role=role,
        place=place,
        display_name=display_name,
        phone=phone,
        organisation=organisation,
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


@cache
def _dummy_hash() -> str:
    """A hash of the same scheme and cost as real ones, of a password nobody knows."""
    return werkzeug.security.generate_password_hash(secrets.token_urlsafe(24),
                                                    method=PASSWORD_METHOD)


def authenticate(username: str, password: str) -> User | None:
    """The user of this username and password (active or not: the caller says which), or
    None. An unknown username costs the same password hash as a known one, so the time of the
    answer does not tell whether an account exists (audit issue 11, finding 7)."""
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        werkzeug.security.check_password_hash(_dummy_hash(), password)
        return None
    return user if user.check_password(password) else None


# ---------------------------------------------------------------- ending one session

LOGOUT = "logout"
_LOGIN_ID = re.compile(r"[0-9a-f]{16}")


def parse_login_token(token: str) -> tuple[int, str, str | None] | None:
    """(user id, session token, login id) of a login token (models.User.get_id), or None.
    A token from before login ids has none (login id None)."""
    parts = token.split(":")
    if len(parts) not in (2, 3) or not parts[0].isdigit() or not parts[1]:
        return None
    login_id = parts[2] if len(parts) == 3 else None
    if login_id is not None and not _LOGIN_ID.fullmatch(login_id):
        return None
    return int(parts[0]), parts[1], login_id


def login_ended(user_id: int, login_id: str) -> bool:
    """Whether that login was ended by logging out. The logout's audit event, which names the
    login id, is the record: the audit log is append-only, so no one can bring an ended
    session back by editing it."""
    return db.session.scalar(
        sa.select(AuditEvent.id).where(
            AuditEvent.user_id == user_id, AuditEvent.action == LOGOUT,
            AuditEvent.target_type == "session", AuditEvent.target_id == login_id,
        ).limit(1)
    ) is not None


def end_session(user: User, token: str) -> None:
    """Log the user out of the session that holds this login token, server-side: its session
    cookie and remember-me cookie stop working even if someone kept a copy, while the user's
    other devices stay signed in. A token without a login id (issued before they existed) can
    only be ended with all of the user's sessions. The caller commits."""
    parsed = parse_login_token(token)
    login_id = parsed[2] if parsed and parsed[0] == user.id else None
    if login_id:
        audit.record(LOGOUT, target_type="session", target_id=login_id, user=user)
    else:
        user.rotate_sessions()
        audit.record(LOGOUT, user=user, all_sessions=True)


def deactivate_user(user: User) -> None:
    """Deactivate an account: what the office does when a helper leaves or loses a phone.
    Rotating the session token ends every session and remember-me cookie, so the phone's
    next sync answers 401 `account_disabled` (accounts/auth.py: unauthorized) and the phone
    forgets its households while keeping its sealed, unsent records."""
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
