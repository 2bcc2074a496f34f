"""Staff accounts managed in the browser (/manage/staff): who may administer which account,
and the create / edit / deactivate / reactivate / reset-password actions.

A county officer administers the accounts whose home place lies in the county, with the roles
at or below the county (COUNTY_ROLES); an administrator administers every account. The rules
shared with the command line (username, password, role and place level) stay in
accounts/services.py. Every action is audited; no password ever reaches the audit log.

An initial or reset password is made here (services.initial_password), only its hash is
stored, and the caller shows it once, on the page that answers the POST (the slip).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.access import roles
from fieldwork.access.scope import staff_clause
from fieldwork.accounts.models import User
from fieldwork.accounts.services import (
    MAX_NAME,
    create_user,
    deactivate_user,
    initial_password,
    normalise_phone,
)
from fieldwork.accounts.services import role_place_problem as level_problem
from fieldwork.audit import services as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.models import Assignment, Household
from fieldwork.places.models import Place
from fieldwork.timeutil import today_local

# Roles a county officer may give, within the county: everything at or below it.
COUNTY_ROLES = (roles.HELPER, roles.COMMUNITY_WORKER, roles.STREET_REVIEWER,
                roles.COUNTY_OFFICER, roles.DEPARTMENT_REVIEWER)
MANAGERS = (roles.COUNTY_OFFICER, roles.ADMIN)
LEVEL_LABELS = {"city": _l("市"), "county": _l("县（市、区）"), "street": _l("街道（乡镇）"),
                "community": _l("社区（村）")}
LIST_LIMIT = 300
MAX_QUERY = 64


@dataclass
class Issued:
    """An account with the one-time password just given to it (shown once, never stored)."""

    user: User
    password: str


def is_admin(actor: User | None) -> bool:
    """None is the command line, which acts for the whole installation."""
    return actor is None or actor.role == roles.ADMIN


def assignable_roles(actor: User | None) -> tuple[str, ...]:
    return roles.ROLES if is_admin(actor) else COUNTY_ROLES


def chinese_label(label: Any) -> str:
    """The Chinese text of a lazy label (its msgid), whatever the page's language."""
    args = getattr(label, "_args", None)
    return str(args[0]) if args else str(label)


def _norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def parse_role(text: str) -> str | None:
    """A role from its code (helper) or its label in Chinese or the page's language."""
    wanted = _norm(text or "")
    if not wanted:
        return None
    for role in roles.ROLES:
        label = roles.ROLE_LABELS[role]
        if wanted in (role, _norm(chinese_label(label)), _norm(str(label))):
            return role
    return None


def place_choices(actor: User) -> list[Place]:
    """Places an account of the actor's may belong to, in tree order."""
    query = sa.select(Place)
    if not is_admin(actor):
        query = query.where(Place.path.startswith(actor.place.path, autoescape=True))
    return list(db.session.scalars(query.order_by(Place.path)))


def in_actor_scope(actor: User | None, place: Place) -> bool:
    return actor is None or actor.role == roles.ADMIN or place.is_within(actor.place)


def role_place_problem(actor: User | None, role: str | None, place: Place | None,
                       errors: dict[str, str]) -> None:
    """The checks of a role and home place given by this actor, into errors."""
    if role is not None and role not in assignable_roles(actor):
        errors["role"] = (_("县级解困办不能设置系统管理员账号") if role == roles.ADMIN else
                          _("县级解困办只能设置本县（市、区）及以下的角色，不能设置%(role)s",
                            role=roles.ROLE_LABELS[role]))
    if place is not None and not in_actor_scope(actor, place):
        errors["place"] = _("%(place)s 不在本县（市、区）范围内，不能设为所属单位",
                            place=place.name)
    if role is not None and place is not None and "role" not in errors \
            and "place" not in errors and level_problem(role, place):
        errors["place"] = _("%(role)s 的所属单位应为%(levels)s，而 %(place)s 是%(level)s",
                            role=roles.ROLE_LABELS[role],
                            levels=_("或").join(str(LEVEL_LABELS[x])
                                            for x in roles.ROLE_PLACE_LEVELS[role]),
                            place=place.name, level=str(LEVEL_LABELS[place.level]))


def organisation_problem(role: str | None, organisation: str, errors: dict[str, str],
                         key: str = "organisation") -> None:
    """A department reviewer's 工作单位 is their department: it decides which cases they
    review (access/scope.py: department_case_clause), so it cannot be empty."""
    if role == roles.DEPARTMENT_REVIEWER and not organisation and key not in errors:
        errors[key] = _("部门/行业审核人须填写工作单位（所在部门，如：民政局、残联、商务局）")


def held_elsewhere(user: User, role: str, place: Place) -> int:
    """How many households a helper holds (now or scheduled) that the account would no longer
    reach as their helper with this role and place: all of them when it stops being a helper,
    those of other counties when it moves county. The transfer page finds a helper by role
    and county, so these must be handed over first."""
    if user.role != roles.HELPER:
        return 0
    query = (sa.select(sa.func.count(sa.distinct(Assignment.household_id)))
             .join(Household, Household.id == Assignment.household_id)
             .where(Assignment.helper_id == user.id,
                    sa.or_(Assignment.end_date.is_(None), Assignment.end_date >= today_local())))
    if role == roles.HELPER:
        query = query.where(Household.county_id != (place.county_id() or place.id))
    return db.session.scalar(query) or 0


def _text(form: Mapping[str, Any], key: str, errors: dict[str, str], label: str, *,
          required: bool = False, max_length: int = MAX_NAME) -> str:
    value = " ".join(str(form.get(key) or "").split())
    if required and not value:
        errors[key] = _("请填写%(label)s", label=label)
    elif len(value) > max_length:
        errors[key] = _("%(label)s不能超过 %(n)d 个字", label=label, n=max_length)
    return value


def _place_from_form(actor: User, form: Mapping[str, Any], errors: dict[str, str]
                     ) -> Place | None:
    raw = str(form.get("place_id") or "").strip()
    if not raw:
        errors["place"] = _("请选择所属单位")
        return None
    place = db.session.get(Place, int(raw)) if raw.isdigit() and len(raw) < 10 else None
    if place is None:
        errors["place"] = _("所选的所属单位不存在")
    return place


def _role_from_form(form: Mapping[str, Any], errors: dict[str, str]) -> str | None:
    raw = str(form.get("role") or "").strip()
    if not raw:
        errors["role"] = _("请选择角色")
        return None
    role = parse_role(raw)
    if role is None:
        errors["role"] = _("未知角色：%(role)s", role=raw[:30])
    return role


def _phone(form: Mapping[str, Any], errors: dict[str, str]) -> str | None:
    try:
        return normalise_phone(str(form.get("phone") or ""))
    except FormError as exc:
        errors["phone"] = exc.message
        return None


def _account_fields(actor: User, form: Mapping[str, Any], errors: dict[str, str]
                    ) -> tuple[str, str, str | None, str | None, Place | None]:
    """What the create and edit forms share: name, work unit, phone, role and home place,
    each checked (problems into errors), the role against the place and the actor's reach."""
    display_name = _text(form, "display_name", errors, _("姓名"), required=True)
    organisation = _text(form, "organisation", errors, _("工作单位"))
    phone = _phone(form, errors)
    role = _role_from_form(form, errors)
    place = _place_from_form(actor, form, errors)
    role_place_problem(actor, role, place, errors)
    organisation_problem(role, organisation, errors)
    return display_name, organisation, phone, role, place


# ---------------------------------------------------------------- actions

def create_staff(actor: User, form: Mapping[str, Any]) -> Issued:
    """Create an account with a one-time initial password. The caller commits and shows the
    password once."""
    errors: dict[str, str] = {}
    username = str(form.get("username") or "").strip()
    if not username:
        errors["username"] = _("请填写用户名")
    display_name, organisation, phone, role, place = _account_fields(actor, form, errors)
    if errors or role is None or place is None:
        raise FormError(errors)
    password = initial_password(username)
    user = create_user(username=username, password=password, role=role, place=place,
                       display_name=display_name, phone=phone, organisation=organisation,
                       must_change_password=True)
    return Issued(user, password)


def update_staff(actor: User, user: User, form: Mapping[str, Any]) -> User:
    """Edit an account's name, phone, role, home place and work unit (never its password).
    The caller commits."""
    errors: dict[str, str] = {}
    display_name, organisation, phone, role, place = _account_fields(actor, form, errors)
    if user.id == actor.id and role is not None and role != user.role:
        errors["role"] = _("不能修改自己的角色")
    if user.id == actor.id and place is not None and place.id != user.place_id:
        errors["place"] = _("不能修改自己的所属单位")
    if not errors and role is not None and place is not None and (
            role != user.role or place.id != user.place_id):
        if held := held_elsewhere(user, role, place):
            errors["role" if role != user.role else "place"] = _(
                "%(name)s 名下还有 %(n)d 户帮扶户，请先在“帮扶责任人”页面整体移交，"
                "再修改角色或所属单位",
                name=user.name, n=held)
    if errors or role is None or place is None:
        raise FormError(errors)
    before = {"display_name": user.display_name, "phone": user.phone, "role": user.role,
              "place_id": user.place_id, "organisation": user.organisation}
    after = {"display_name": display_name, "phone": phone, "role": role,
             "place_id": place.id, "organisation": organisation}
    changed = sorted(k for k in before if before[k] != after[k])
    if not changed:
        raise FormError.of(_("没有修改任何内容"))
    user.display_name, user.phone, user.role = display_name, phone, role
    user.place, user.organisation = place, organisation
    if "role" in changed or "place_id" in changed:
        # What the account may see changed: its open sessions end (the phone signs in again
        # and pulls its new scope).
        user.rotate_sessions()
    db.session.flush()
    audit.record("user.update", target_type="user", target_id=user.id, place_id=place.id,
                 user=actor, fields=changed,
                 changes={k: [before[k], after[k]] for k in changed
                          if k in ("role", "place_id", "organisation")})
    return user


def deactivate_staff(actor: User, user: User) -> User:
    """Deactivate: sessions end and the phone is revoked as for a lost phone
    (services.deactivate_user). The caller commits."""
    if user.id == actor.id:
        raise FormError.of(_("不能停用自己的账号"))
    if not user.active:
        raise FormError.conflict(_("该账号已经停用"))
    deactivate_user(user)
    return user


def reactivate_staff(actor: User, user: User) -> User:
    if user.active:
        raise FormError.conflict(_("该账号已在使用中"))
    user.active = True
    user.rotate_sessions()
    audit.record("user.reactivate", target_type="user", target_id=user.id,
                 place_id=user.place_id, user=actor)
    return user


def reset_password(actor: User, user: User) -> Issued:
    """A new one-time password: every session of the account ends, the next login must change
    it. The caller commits and shows it once."""
    if user.id == actor.id:
        raise FormError.of(_("请在“修改密码”页面修改自己的密码"))
    if not user.active:
        raise FormError.conflict(_("该账号已停用，请先启用再重置密码"))
    password = initial_password(user.username)
    user.set_password(password)  # rotates the session token
    user.must_change_password = True
    audit.record("user.password_reset", target_type="user", target_id=user.id,
                 place_id=user.place_id, user=actor)
    return Issued(user, password)


# ---------------------------------------------------------------- list

@dataclass
class StaffFilter:
    role: str = ""
    place_id: int | None = None
    active: str = ""  # "" | "1" | "0"
    q: str = ""


def parse_filter(args: Mapping[str, Any]) -> StaffFilter:
    role = str(args.get("role") or "")
    place = str(args.get("place_id") or "")
    active = str(args.get("active") or "")
    return StaffFilter(role=role if role in roles.ROLES else "",
                       place_id=int(place) if place.isdigit() and len(place) < 10 else None,
                       active=active if active in ("1", "0") else "",
                       q=" ".join(str(args.get("q") or "").split())[:MAX_QUERY])


def list_staff(actor: User, f: StaffFilter) -> tuple[list[User], int]:
    """The accounts the actor administers matching the filter (at most LIST_LIMIT), and how
    many match in all."""
    query = sa.select(User).where(staff_clause(actor))
    if f.role:
        query = query.where(User.role == f.role)
    if f.place_id is not None:
        place = db.session.get(Place, f.place_id)
        path = place.path if place is not None else "-"
        query = query.where(User.place_id.in_(sa.select(Place.id).where(
            Place.path.startswith(path, autoescape=True))))
    if f.active:
        query = query.where(User.active.is_(f.active == "1"))
    if f.q:
        like = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(sa.or_(User.username.ilike(like, escape="\\"),
                                   User.display_name.ilike(like, escape="\\")))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    users = list(db.session.scalars(
        query.order_by(User.active.desc(), User.role, User.username).limit(LIST_LIMIT)))
    return users, total
