"""The command line: accounts (`user create|list|deactivate`), the demo county (`demo`) and
first start (`bootstrap`). Mistakes end with a clear message and a non-zero exit, never a
traceback."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from fieldwork import create_app
from fieldwork.access.scope import visible_households
from fieldwork.accounts.models import User
from fieldwork.audit.models import AuditEvent
from fieldwork.devdata.demo import DEMO_PASSWORD
from fieldwork.households.models import Household
from fieldwork.timeutil import current_month
from fieldwork.visits.models import Visit

GOOD_PASSWORD = "Start-pass-2024"


@pytest.fixture
def runner(app, fresh_g):
    return app.test_cli_runner()


def create(runner, *extra: str, username: str = "zhang-helper", role: str = "helper",
           place: str = "411302001", password: str | None = GOOD_PASSWORD):
    args = ["user", "create", "--username", username, "--role", role, "--place", place, *extra]
    if password is not None:
        args += ["--password", password]
    return runner.invoke(args=args)


def user_named(db, username: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.username == username))


def assert_refused(result, *phrases: str) -> None:
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.output


# ---------------------------------------------------------------- user create


def test_user_create_makes_an_account_that_must_change_its_password(runner, db, world, client,
                                                                    auth):
    result = create(runner, "--name", "张红梅", "--phone", "13837701234")
    assert result.exit_code == 0, result.output
    assert "zhang-helper" in result.output

    user = user_named(db, "zhang-helper")
    assert (user.role, user.place_id, user.display_name, user.phone) == (
        "helper", world.street.id, "张红梅", "13837701234")
    assert user.active and user.must_change_password
    assert user.check_password(GOOD_PASSWORD)
    assert db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "user.create", AuditEvent.target_id == str(user.id)))

    # The new user logs in and is sent straight to change the initial password.
    auth.login(as_="zhang-helper", password=GOOD_PASSWORD)
    response = client.get("/households/mine")
    assert response.status_code == 302
    assert response.location.endswith("/account/password")


def test_user_create_can_skip_the_forced_change(runner, db, world):
    result = create(runner, "--no-force-change", role="county_officer", place="411302",
                    username="liu-county")
    assert result.exit_code == 0, result.output
    assert user_named(db, "liu-county").must_change_password is False


def test_user_create_prompts_for_the_password(runner, db, world):
    result = runner.invoke(
        args=["user", "create", "--username", "prompted", "--role", "city_supervisor",
              "--place", "411300"],
        input=f"{GOOD_PASSWORD}\n{GOOD_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert GOOD_PASSWORD not in result.output
    assert user_named(db, "prompted").check_password(GOOD_PASSWORD)


def test_user_create_refuses_an_unknown_role(runner, db, world):
    result = create(runner, role="boss")
    assert_refused(result, "--role", "boss", "helper")
    assert user_named(db, "zhang-helper") is None


def test_user_create_refuses_an_unknown_place(runner, db, world):
    result = create(runner, place="999999")
    assert_refused(result, "找不到行政区划代码", "999999")
    assert user_named(db, "zhang-helper") is None


@pytest.mark.parametrize(
    ("role", "place"),
    [
        ("community_worker", "411302001"),  # a street, not a community
        ("street_reviewer", "411302"),  # a county
        ("county_officer", "411300"),  # the city
        ("city_supervisor", "411302"),
        ("helper", "411300"),
    ],
)
def test_user_create_refuses_a_role_at_the_wrong_level(runner, db, world, role, place):
    result = create(runner, role=role, place=place)
    assert_refused(result, "所属地区应为")
    assert user_named(db, "zhang-helper") is None


def test_user_create_refuses_a_duplicate_username(runner, db, make_user):
    make_user("helper", username="zhang-helper", display_name="原来的")
    result = create(runner, "--name", "新来的")
    assert_refused(result, "zhang-helper", "已存在")
    assert user_named(db, "zhang-helper").display_name == "原来的"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("ab1!", "密码至少需要 8 个字符"),
        ("onlyletters", "至少两类"),
        ("zhang-helper-2024", "密码不能包含用户名"),
    ],
)
def test_user_create_refuses_a_weak_password(runner, db, world, password, message):
    assert_refused(create(runner, password=password), message)
    assert user_named(db, "zhang-helper") is None


def test_user_create_refuses_a_bad_username(runner, db, world):
    assert_refused(create(runner, username="x"), "用户名")
    assert_refused(create(runner, username="张三丰"), "用户名")


# ---------------------------------------------------------------- user list / deactivate


def test_user_list_shows_every_account(runner, world, make_user):
    make_user("helper", username="list-helper")
    make_user("county_officer", username="list-county")
    make_user("community_worker", username="list-gone", active=False)

    result = runner.invoke(args=["user", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert set(lines) == {"list-helper", "list-county", "list-gone"}
    assert "county_officer" in lines["list-county"] and "411302" in lines["list-county"]
    assert lines["list-gone"].split()[-1] == "inactive"
    assert lines["list-helper"].split()[-1] == "active"

    only = runner.invoke(args=["user", "list", "--role", "helper"])
    assert [line.split()[0] for line in only.output.splitlines() if line.strip()] == [
        "list-helper"]


def test_user_deactivate_ends_the_account_and_its_sessions(runner, db, make_user, client, auth):
    user = make_user("helper", username="leaving-helper")
    auth.login(as_=user)
    assert client.get("/api/sync/v1/session").status_code == 200

    result = runner.invoke(args=["user", "deactivate", "leaving-helper"])
    assert result.exit_code == 0, result.output
    assert user_named(db, "leaving-helper").active is False
    assert client.get("/api/sync/v1/session").status_code == 401
    assert db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "user.deactivate", AuditEvent.target_id == str(user.id)))


def test_user_deactivate_unknown_user_is_a_clear_error(runner, world):
    assert_refused(runner.invoke(args=["user", "deactivate", "nobody-here"]),
                   "找不到用户", "nobody-here")


# ---------------------------------------------------------------- demo


def test_demo_refuses_a_database_that_has_data(runner, db, world):
    result = runner.invoke(args=["demo"])
    assert_refused(result, "--reset")
    assert db.session.scalar(sa.select(sa.func.count(Household.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_demo_refuses_to_run_in_production(runner, app, db):
    app.config["FIELDWORK_ENV"] = "production"
    assert_refused(runner.invoke(args=["demo", "--reset"]), "生产环境")
    assert db.session.scalar(sa.select(sa.func.count(Household.id))) == 0


DEMO_ACCOUNTS = {
    "demo-helper": "helper",
    "demo-community": "community_worker",
    "demo-street": "street_reviewer",
    "demo-county": "county_officer",
    "demo-department": "department_reviewer",
    "demo-city": "city_supervisor",
    "demo-admin": "admin",
}


def _fingerprint(db) -> tuple:
    db.session.expire_all()
    households = []
    for hh in db.session.scalars(sa.select(Household)):
        current = hh.current_assignment()
        households.append((
            hh.head_name, hh.address, hh.head.id_mask if hh.head else None, hh.status,
            hh.category, hh.place.code,
            current.helper.username if current else None, len(hh.assignments),
            tuple(sorted(db.session.scalars(
                sa.select(Visit.month).where(Visit.household_id == hh.id)))),
        ))
    users = [(u.username, u.role, u.place.code, u.display_name)
             for u in db.session.scalars(sa.select(User))]
    return tuple(sorted(households)), tuple(sorted(users))


def test_demo_reset_builds_the_same_demo_county_every_time(runner, db, world):
    first = runner.invoke(args=["demo", "--reset"])
    assert first.exit_code == 0, first.output
    assert "300 户" in first.output
    fingerprint = _fingerprint(db)

    second = runner.invoke(args=["demo", "--reset"])
    assert second.exit_code == 0, second.output
    assert _fingerprint(db) == fingerprint

    # The six published accounts, with the published password.
    users = {u.username: u for u in db.session.scalars(sa.select(User))}
    for username, role in DEMO_ACCOUNTS.items():
        assert users[username].role == role
        assert users[username].active
        assert users[username].check_password(DEMO_PASSWORD)

    assert db.session.scalar(sa.select(sa.func.count(Household.id))) == 300

    # Every helper carries a workable load; no household has two current helpers.
    helpers = [u for u in users.values() if u.role == "helper"]
    assert len(helpers) >= 10
    loads = {h.username: {hh.id for hh in db.session.scalars(visible_households(h))}
             for h in helpers}
    for username, load in loads.items():
        assert 10 <= len(load) <= 20, (username, len(load))
    counted = Counter(hid for load in loads.values() for hid in load)
    assert max(counted.values()) == 1

    # demo-helper's households are theirs alone, and inside demo-street's and demo-county's view.
    mine = loads["demo-helper"]
    assert mine
    for username, load in loads.items():
        if username != "demo-helper":
            assert not (load & mine), username
    street = {hh.id for hh in db.session.scalars(visible_households(users["demo-street"]))}
    county = {hh.id for hh in db.session.scalars(visible_households(users["demo-county"]))}
    assert mine <= street <= county

    # History: visits in past months, for demo-helper's households too.
    month = current_month()
    past = db.session.scalar(sa.select(sa.func.count(Visit.id)).where(Visit.month < month))
    assert past > 100
    assert db.session.scalar(sa.select(sa.func.count(Visit.id)).where(
        Visit.month < month, Visit.household_id.in_(mine))) > 0


# ---------------------------------------------------------------- bootstrap


def _fresh_app(tmp_path: Path, demo: bool):
    return create_app({
        "TESTING": True,
        "FIELDWORK_ENV": "testing",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fresh.db'}",
        "DEMO_MODE": demo,
        "RATELIMIT_ENABLED": False,
    })


def _count(app, model) -> int:
    from fieldwork.extensions import db

    with app.app_context():
        n = db.session.scalar(sa.select(sa.func.count()).select_from(model))
        db.session.remove()
        return n


# These tests build their own app on a new database file and must not use the `app` fixture: its
# pushed app context would make the commands run against the test database instead.


def test_bootstrap_migrates_and_seeds_once(tmp_path, keep_logging):
    app = _fresh_app(tmp_path, demo=True)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["bootstrap"])
    assert result.exit_code == 0, result.output
    assert "demo-helper" in result.output and DEMO_PASSWORD in result.output
    assert _count(app, Household) == 300
    users = _count(app, User)

    again = runner.invoke(args=["bootstrap"])
    assert again.exit_code == 0, again.output
    assert "演示数据已生成" not in again.output
    assert _count(app, Household) == 300
    assert _count(app, User) == users

    from fieldwork.extensions import db

    with app.app_context():
        version = db.session.scalar(sa.text("select version_num from alembic_version"))
        assert version
        db.engine.dispose()


def test_bootstrap_outside_demo_mode_only_migrates(tmp_path, keep_logging):
    app = _fresh_app(tmp_path, demo=False)
    result = app.test_cli_runner().invoke(args=["bootstrap"])
    assert result.exit_code == 0, result.output
    assert "demo-helper" not in result.output
    assert _count(app, Household) == 0
    assert _count(app, User) == 0

    from fieldwork.extensions import db

    with app.app_context():
        db.engine.dispose()
