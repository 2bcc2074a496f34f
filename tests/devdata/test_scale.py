"""seed-scale: the county-scale synthetic dataset, at a small size."""

from __future__ import annotations

import math
from datetime import date

import sqlalchemy as sa

from fieldwork.accounts.models import User
from fieldwork.devdata.scale import SCALE_PASSWORD, generate, reset_all, seed_scale_command
from fieldwork.households.models import Assignment, Household, Member, PlanMeasure
from fieldwork.places.models import Place
from fieldwork.privacy.service import cipher, reveal_id
from fieldwork.timeutil import local, today_local
from fieldwork.visits.models import Visit

HOUSEHOLDS = 300


def run(app, *args):
    return app.test_cli_runner().invoke(seed_scale_command, list(args))


def fingerprint(db):
    households = db.session.execute(
        sa.select(Household.file_no, Household.head_name,
                  Household.status, Household.enrolled_on, Household.exited_on,
                  Household.members_count, Household.per_capita_income, Place.code)
        .join(Place, Place.id == Household.place_id).order_by(Household.file_no,
                                                               Household.head_name)).all()
    visits = db.session.execute(
        sa.select(Household.head_name, Visit.id, Visit.visited_at, User.username,
                  Visit.review_status, Visit.flag_count)
        .join(Household, Household.id == Visit.household_id)
        .join(User, User.id == Visit.helper_id).order_by(Visit.id)).all()
    assignments = db.session.execute(
        sa.select(Household.head_name, User.username, Assignment.start_date, Assignment.end_date)
        .join(Household, Household.id == Assignment.household_id)
        .join(User, User.id == Assignment.helper_id)
        .order_by(Household.head_name, Assignment.start_date)).all()
    return households, visits, assignments


def test_seed_scale_makes_the_requested_dataset(app, db):
    result = run(app, "--households", str(HOUSEHOLDS), "--months", "4", "--seed", "7")
    assert result.exit_code == 0, result.output
    assert "规模数据已生成" in result.output

    county = db.session.scalar(sa.select(Place).where(Place.code == "411302"))
    total = db.session.scalar(sa.select(sa.func.count(Household.id)))
    assert total == HOUSEHOLDS
    assert db.session.scalar(sa.select(sa.func.count(Household.id)).where(
        Household.county_id == county.id)) == HOUSEHOLDS
    helpers = db.session.scalar(sa.select(sa.func.count(User.id)).where(User.role == "helper"))
    assert helpers == math.ceil(HOUSEHOLDS / 15)
    # Members as declared on each household.
    assert db.session.scalar(sa.select(sa.func.count(Member.id))) == \
        db.session.scalar(sa.select(sa.func.sum(Household.members_count)))

    # Every enrolled household has exactly one helper today and a plan; visits about monthly.
    today = today_local()
    enrolled = db.session.scalar(sa.select(sa.func.count(Household.id)).where(
        Household.status == "enrolled"))
    in_force = db.session.scalar(sa.select(sa.func.count(sa.distinct(Assignment.household_id)))
                                 .join(Household, Household.id == Assignment.household_id)
                                 .where(Household.status == "enrolled",
                                        Assignment.start_date <= today,
                                        sa.or_(Assignment.end_date.is_(None),
                                               Assignment.end_date >= today)))
    assert in_force == enrolled > HOUSEHOLDS * 0.8
    reassigned = db.session.scalar(sa.select(sa.func.count()).select_from(
        sa.select(Assignment.household_id).group_by(Assignment.household_id)
        .having(sa.func.count() > 1).subquery()))
    assert reassigned > 0
    assert db.session.scalar(sa.select(sa.func.count(PlanMeasure.id))) >= enrolled
    visits = db.session.scalar(sa.select(sa.func.count(Visit.id)))
    assert enrolled * 2.5 < visits < HOUSEHOLDS * 4 * 1.2
    assert db.session.scalar(sa.select(sa.func.count(Visit.id)).where(Visit.flag_count > 0))
    assert db.session.scalar(sa.select(sa.func.count(Visit.id)).where(
        Visit.review_status == "rejected"))
    # Nobody visits before enrolment or after exit, and visits belong to the helper in charge.
    spans = {}
    for a in db.session.scalars(sa.select(Assignment)):
        spans.setdefault(a.household_id, []).append(a)
    dates = {h.id: (h.enrolled_on, h.exited_on) for h in db.session.scalars(sa.select(Household))}
    for v in db.session.scalars(sa.select(Visit)):
        day = local(v.visited_at).date()
        enrolled_on, exited_on = dates[v.household_id]
        assert enrolled_on <= day and (exited_on is None or day <= exited_on)
        assert [a.helper_id for a in spans[v.household_id]
                if a.start_date <= day and (a.end_date is None or day <= a.end_date)] == \
            [v.helper_id]

    # Synthetic and clearly marked: ID numbers decrypt to what the mask and index describe.
    h = db.session.scalar(sa.select(Household).order_by(Household.id).limit(1))
    assert h.head is not None and h.head.name == h.head_name  # the head is a member
    number = reveal_id(h.head.id_enc)
    assert number.startswith("411399")
    assert h.head.id_mask == number[:4] + "*" * 10 + number[-4:]
    assert h.head.id_index == cipher().blind_index(number)
    assert "合成数据" in h.notes
    # Accounts log in with the published password (one precomputed hash).
    officer = db.session.scalar(sa.select(User).where(User.username == "scale-411302-county"))
    assert officer.role == "county_officer" and officer.check_password(SCALE_PASSWORD)
    assert db.session.scalar(sa.select(sa.func.count(sa.distinct(User.password_hash)))) == 1


def test_seed_scale_is_deterministic(app, db):
    first_result = generate("411302", 120, 3, seed=11, today=date(2026, 5, 17), echo=lambda s: None)
    first = fingerprint(db)
    reset_all()
    second_result = generate("411302", 120, 3, seed=11, today=date(2026, 5, 17),
                             echo=lambda s: None)
    second = fingerprint(db)
    assert first_result.counts == second_result.counts
    assert first == second
    assert len(first[1]) > 200
    reset_all()
    other = generate("411302", 120, 3, seed=12, today=date(2026, 5, 17), echo=lambda s: None)
    assert fingerprint(db) != first
    assert other.counts["户"] == 120


def test_seed_scale_refuses_a_second_run_and_production(app, db):
    assert run(app, "--households", "30", "--months", "2").exit_code == 0
    again = run(app, "--households", "30", "--months", "2")
    assert again.exit_code == 1
    assert "已有规模测试数据" in again.output
    assert db.session.scalar(sa.select(sa.func.count(Household.id))) == 30
    # --reset empties the database first.
    assert run(app, "--households", "20", "--months", "2", "--reset").exit_code == 0
    assert db.session.scalar(sa.select(sa.func.count(Household.id))) == 20

    app.config["FIELDWORK_ENV"] = "production"
    refused = run(app, "--households", "10", "--reset")
    assert refused.exit_code == 1
    assert "生产环境" in refused.output
    assert db.session.scalar(sa.select(sa.func.count(Household.id))) == 20


def test_seed_scale_reports_an_unknown_county(app, db):
    result = run(app, "--households", "10", "--county", "999999")
    assert result.exit_code == 1
    assert "找不到县级单位" in result.output
