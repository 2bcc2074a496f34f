"""The migrations of this release carry a database built by the previous release (revision
PREVIOUS_RELEASE) over: rows written the old way read right the new way. On SQLite always;
on PostgreSQL too when TEST_DATABASE_URL is set."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask_migrate import upgrade

from fieldwork.extensions import db

PREVIOUS_RELEASE = "5c2d8f4a1b93"


def _exec(conn, sql: str, **params):
    return conn.execute(sa.text(sql), params)


def _old_county(conn) -> tuple[int, int]:
    """The place tree and one household as the previous release stored them."""
    _exec(conn, "insert into places (id, code, official_code, name, level, path) values "
                "(1, '411300', true, '南阳市', 'city', '/1/'), "
                "(2, '411302', true, '宛城区', 'county', '/1/2/'), "
                "(3, '411302001', true, '东关街道', 'street', '/1/2/3/'), "
                "(4, '411302001001', true, '和平社区', 'community', '/1/2/3/4/')")
    _exec(conn, "update places set parent_id = 1 where id = 2")
    _exec(conn, "update places set parent_id = 2 where id = 3")
    _exec(conn, "update places set parent_id = 3 where id = 4")
    _exec(conn, "insert into households (id, head_name, address, place_id, county_id, street_id, "
                "category, causes, status, members_count, ref_confirmed, notes, version, "
                "created_at, updated_at) values (10, '王建国', '建设路1号', 4, 2, 3, "
                "'below_dibao', '[\"illness\"]', 'enrolled', 3, false, '', 1, "
                ":now, :now)", now="2026-01-05 08:00:00+00:00")
    return 10, 2


def test_member_free_text_becomes_structured_facts(migrating_app):
    upgrade(revision=PREVIOUS_RELEASE)
    with db.engine.begin() as conn:
        household_id, _ = _old_county(conn)
        rows = [  # (id, name, relation, health, disability, schooling, employment)
            (1, "王建国", "self", "高血压（慢性病）", "", "", "灵活就业"),
            (2, "李秀兰", "spouse", "尿毒症", "肢体二级", "", "无劳动能力"),
            (3, "王小明", "child", "", "", "小学四年级（寄宿）", "在校学生"),
            (4, "王大爷", "parent", "", "残疾", "", "退休"),
        ]
        for mid, name, relation, health, disability, schooling, employment in rows:
            _exec(conn, "insert into members (id, household_id, name, relation, health, "
                        "disability, schooling, employment) values (:id, :hh, :name, :rel, "
                        ":health, :dis, :school, :emp)", id=mid, hh=household_id, name=name,
                  rel=relation, health=health, dis=disability, school=schooling,
                  emp=employment)
    upgrade()
    with db.engine.connect() as conn:
        got = {r.id: tuple(r)[1:] for r in _exec(
            conn, "select id, illness, disability_kind, disability_grade, schooling_stage, "
                  "boarding, employment_status, left_on from members order by id")}
    assert got == {
        1: ("chronic", "", None, "", False, "flexible", None),
        2: ("serious", "physical", 2, "", False, "unable", None),
        3: ("", "", None, "primary", True, "student", None),
        # "残疾" with no kind named: disabled, kind to be checked -- not a guessed kind.
        4: ("", "unspecified", None, "", False, "retired", None),
    }


NOW = "2026-01-05 08:00:00+00:00"


def test_the_head_becomes_a_member_the_dibao_line_a_standard_and_watched_households_entries(
        migrating_app):
    upgrade(revision=PREVIOUS_RELEASE)
    with db.engine.begin() as conn:
        household_id, county_id = _old_county(conn)
        # The household's validated head ID, and a head member typed with another one (the
        # old demo did this); a spouse with the old gender spelling.
        _exec(conn, "update households set head_id_enc = 'enc-head', head_id_index = 'idx-head', "
                    "head_id_mask = '411302********0011', per_capita_income = 500 "
                    "where id = :id", id=household_id)
        for name, relation, gender, enc in (("王建国", "self", "男", "enc-other"),
                                            ("李秀兰", "spouse", "女", None)):
            _exec(conn, "insert into members (household_id, name, relation, gender, id_enc, "
                        "health, disability, schooling, employment) values (:hh, :name, "
                        ":rel, :g, :enc, '', '', '', '')", hh=household_id, name=name,
                  rel=relation, g=gender, enc=enc)
        # A second household with no member at all, on the watch list after a rejection.
        _exec(conn, "insert into households (id, head_name, address, place_id, county_id, "
                    "street_id, category, causes, status, members_count, ref_confirmed, notes, "
                    "version, created_at, updated_at, head_id_enc, head_id_index, head_id_mask) "
                    "values (11, '赵桂芝', '建设路2号', 4, 2, 3, 'edge', '[]', 'watch', 2, false, "
                    "'', 1, :now, :now, 'enc-zhao', 'idx-zhao', '411302********0022')", now=NOW)
        _exec(conn, "insert into users (id, username, display_name, organisation, role, place_id, "
                    "active, password_hash, must_change_password, session_token, created_at) "
                    "values (7, 'street', '街道王', '', 'street_reviewer', 3, true, 'x', false, "
                    "'t', :now)", now=NOW)
        _exec(conn, "insert into cases (id, household_id, kind, channel, stage, state, opened_at, "
                    "stage_since, closed_at, source, organisation, draft_plan) values (5, 11, "
                    "'intake', 'territorial', 'street_review', 'rejected', :now, :now, :now, "
                    "'application', '', '')", now=NOW)
        _exec(conn, "insert into review_decisions (case_id, step, decision, opinion, reviewer_id, "
                    "decided_at) values (5, 'street_review', 'reject', '名下有营运车辆', 7, :now)",
              now=NOW)
        # The county's "低保 line" as the previous release stored it (it was the 630 target).
        _exec(conn, "insert into policy_settings (place_id, dibao_line, visits_per_month, "
                    "geofence_m, exit_months, publicity_days, poor_accuracy_m, late_entry_hours, "
                    "clock_skew_minutes, max_photo_px, updated_at) values (:p, 650, 1, 500, 6, 7, "
                    "100, 72, 10, 1600, :now)", p=county_id, now=NOW)
    upgrade()
    with db.engine.connect() as conn:
        members = [tuple(r) for r in _exec(
            conn, "select household_id, name, relation, gender, id_enc, id_index, id_mask "
                  "from members order by household_id, id")]
        standards = [tuple(r) for r in _exec(
            conn, "select place_id, amount from dibao_standards")]
        target = _exec(conn, "select income_target from policy_settings").scalar()
        household = tuple(_exec(conn, "select intake_income, groups, employer from households "
                                      "where id = :id", id=household_id).one())
        watch = [tuple(r) for r in _exec(
            conn, "select household_id, case_id, reason, started_by_id, ended_at "
                  "from watch_entries")]
        columns = {c["name"] for c in sa.inspect(conn).get_columns("households")}
    assert members == [
        # one person, one ID: the household's validated head ID, on its head member
        (10, "王建国", "self", "male", "enc-head", "idx-head", "411302********0011"),
        (10, "李秀兰", "spouse", "female", None, None, None),
        (11, "赵桂芝", "self", None, "enc-zhao", "idx-zhao", "411302********0022"),
    ]
    assert not {"head_id_enc", "head_id_index", "head_id_mask"} & columns
    assert [(p, float(a)) for p, a in standards] == [(county_id, 650.0)]
    assert float(target) == 630
    groups = json.loads(household[1]) if isinstance(household[1], str) else household[1]
    assert (float(household[0]), groups, household[2]) == (1500.0, [], "")
    assert watch == [(11, 5, "名下有营运车辆", 7, None)]


def test_exits_of_the_previous_release_were_stable_exits(migrating_app):
    """Before issue 14 an exit had one route, 平稳退出: exited households and their exit cases get
    the route, the approved case the household's exit date; an intake case gets none."""
    upgrade(revision=PREVIOUS_RELEASE)
    with db.engine.begin() as conn:
        household_id, _ = _old_county(conn)
        _exec(conn, "update households set status = 'exited', exited_on = '2026-06-30' "
                    "where id = :id", id=household_id)
        for cid, kind, state in ((1, "intake", "approved"), (2, "exit", "approved")):
            _exec(conn, "insert into cases (id, household_id, kind, channel, stage, state, "
                        "opened_at, stage_since, source, organisation, draft_plan) values "
                        "(:id, :hh, :kind, 'territorial', 'done', :state, :now, :now, "
                        "'application', '', '')", id=cid, hh=household_id, kind=kind,
                  state=state, now=NOW)
        _exec(conn, "insert into policy_settings (place_id, dibao_line, visits_per_month, "
                    "geofence_m, exit_months, publicity_days, poor_accuracy_m, late_entry_hours, "
                    "clock_skew_minutes, max_photo_px, updated_at) values (2, 650, 1, 500, 6, 7, "
                    "100, 72, 10, 1600, :now)", now=NOW)
    upgrade()
    with db.engine.connect() as conn:
        household = tuple(_exec(conn, "select exit_route, exited_on from households").one())
        cases = [tuple(r) for r in _exec(
            conn, "select id, exit_route, exit_on, exit_reason from cases order by id")]
        office = [tuple(r) for r in _exec(
            conn, "select office_phone, exit_publicity from policy_settings")]
    assert (household[0], str(household[1])) == ("stable", "2026-06-30")
    assert [(i, r, str(d) if d else None, t) for i, r, d, t in cases] == [
        (1, None, None, ""), (2, "stable", "2026-06-30", "")]
    # The county has no office phone yet (the card falls back to the city's), and publicises
    # stable exits as enrolments are publicised until it says otherwise.
    assert [(p, bool(e)) for p, e in office] == [("", True)]


def test_the_stored_catalogue_takes_the_policys_names_and_plans_keep_their_measures(
        migrating_app):
    """A city-wide measure stored under its old name (accident insurance, then under 民政) is
    renamed in place with the policy's department and amount form: the plan entry keeps
    pointing at it; a county's own copy under the old name follows; measures the policy has
    and the old catalogue did not are added."""
    upgrade(revision=PREVIOUS_RELEASE)
    with db.engine.begin() as conn:
        household_id, county_id = _old_county(conn)
        ids = {}
        for key, county, dept, name, amount, note in (
                ("insurance", None, "民政", "意外伤害保险", 30, ""),
                ("city", None, "工会/妇联", "金秋助学、春蕾计划等社会助学", None, ""),
                ("county", county_id, "工会/妇联", "金秋助学、春蕾计划等社会助学", 800,
                 "本区调整")):
            # No explicit ids: PostgreSQL's sequence must hand out the next ones.
            ids[key] = _exec(conn, "insert into measures (county_id, area, department, name, "
                                   "amount, unit, note, active) values (:c, 'education', :d, "
                                   ":n, :a, '元/人', :note, true) returning id", c=county,
                             d=dept, n=name, a=amount, note=note).scalar()
        _exec(conn, "insert into plan_measures (household_id, measure_id, amount, start_date, "
                    "note) values (:h, :m, 30, '2026-01-01', '')", h=household_id,
              m=ids["insurance"])
    upgrade()
    with db.engine.connect() as conn:
        rows = {r.id: (r.county_id, r.department, r.name, r.amount_kind, r.policy_line)
                for r in _exec(conn, "select * from measures where id in (:a, :b, :c)",
                               a=ids["insurance"], b=ids["city"], c=ids["county"])}
        plan = _exec(conn, "select measure_id from plan_measures").scalar()
        names = set(_exec(conn, "select name from measures where county_id is null").scalars())
    assert rows == {
        ids["insurance"]: (None, "财政", "意外伤害保险", "fixed", 119),
        ids["city"]: (None, "慈善组织", "“金秋助学”公益助学活动", "none", 109),
        ids["county"]: (county_id, "工会/妇联", "“金秋助学”公益助学活动", "fixed", None),
    }
    assert plan == ids["insurance"]
    assert {"常态化助学救助", "特困人员护理补贴", "企业吸纳就业补助"} <= names
    assert len(names) == 64
