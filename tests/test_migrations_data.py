"""The migrations of this release carry a database built by the previous release (revision
PREVIOUS_RELEASE) over: rows written the old way read right the new way. On SQLite always;
on PostgreSQL too when TEST_DATABASE_URL is set."""

from __future__ import annotations

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
