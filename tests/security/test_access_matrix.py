"""Every route of the app, for every role, in scope and out of scope.

The routes come from app.url_map, so a route added tomorrow is covered without touching this
file — unless it takes a URL parameter this file does not know (then the test fails and names
it, and the next engineer adds a row to PARAMS: an in-scope and an out-of-scope value), and
unless it has no row in EXPECT: then test_every_endpoint_has_explicit_expectations FAILS and
names it. There are no default expectations: every endpoint says which roles may use it, per
HTTP method where the methods differ.

Rules checked:
- anonymous: every non-public route redirects to /login (pages) or answers a JSON 401 (/api/);
- out of scope (an object of county B for a user of county A): 403 or 404, never 2xx/3xx;
- in scope, for roles EXPECT allows: 200 or a redirect (not to /login) for GET; a client
  error or success in OK_POST for POST/PUT (the matrix sends no valid form); every other role:
  403 or 404;
- the matrix's own CSRF token is never refused (a refused token would make every POST check
  meaningless: the route would never be reached);
- no response to a county-A user carries a name, address, ID number, phone or visit note of
  county B, and no response to anyone carries a full ID number or phone number.

Actions that depend on an object's state (a decision at a review step, an objection during
publicity, a correction after a return, an exit decision, a doubtful-visit review) are run
against an object in that state (MATRIX_PARAMS, built by the module's scene fixture), so
that the role rule is what answers, not "wrong state".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from fieldwork.timeutil import current_month, now_utc, today_local
from tests.factories import csrf_token, sha

from .conftest import ROLES, Scene, body_text, login

pytestmark = pytest.mark.usefixtures("fresh_g")


@pytest.fixture
def app_config(app_config):
    # As in production: CSRF on; every request below carries the token in X-CSRFToken.
    return {**app_config, "WTF_CSRF_ENABLED": True}


@pytest.fixture
def scene(scene):
    """The shared scene, plus objects in the states that state-dependent actions need, on
    both sides (county A in scope, county B out of scope)."""
    from fieldwork.extensions import db
    from fieldwork.households.intake import steps
    from fieldwork.households.management import exit as exits
    from fieldwork.households.models import Case, Objection, ReviewDecision

    today, now = today_local(), now_utc()
    worker = scene.users["community_worker"]

    def case(household, **kw):
        c = Case(**{"household_id": household.id, "kind": "intake", "channel": "territorial",
                    "state": "open", "source": "application", "opened_by_id": worker.id, **kw})
        db.session.add(c)
        return c

    for side, hh in (("a", scene.hh_a), ("b", scene.hh_b)):
        publicity = case(hh, stage=steps.PUBLICITY, publicity_ends_on=today + timedelta(days=5))
        street = case(hh, stage=steps.STREET_REVIEW)
        returned = case(hh, stage=steps.COMMUNITY_REVIEW, stage_since=now - timedelta(days=1))
        leaving = case(hh, kind=exits.KIND, stage="exit_community")
        exit_publicity = case(hh, kind=exits.KIND, stage="exit_publicity",
                              publicity_ends_on=today + timedelta(days=5))
        db.session.flush()
        exit_objection = Objection(case_id=exit_publicity.id, text="邻居反映仍有困难",
                                   recorded_by_id=scene.users["county_officer"].id)
        db.session.add(exit_objection)
        objection = Objection(case_id=publicity.id, text="邻居反映收入不实",
                              recorded_by_id=scene.users["county_officer"].id)
        db.session.add_all([objection, ReviewDecision(
            case_id=returned.id, step=steps.COMMUNITY_REVIEW, decision="return",
            reviewer_id=worker.id, decided_at=now)])
        db.session.flush()
        setattr(scene, f"publicity_{side}", publicity)
        setattr(scene, f"publicity_objection_{side}", objection)
        setattr(scene, f"street_case_{side}", street)
        setattr(scene, f"returned_case_{side}", returned)
        setattr(scene, f"exit_case_{side}", leaving)
        setattr(scene, f"exit_publicity_{side}", exit_publicity)
        setattr(scene, f"exit_objection_{side}", exit_objection)
    for visit in (scene.visit_a, scene.visit_b):  # doubtful: on the review queue
        visit.flags = ["far_from_household"]
        visit.flag_count = 1
    db.session.commit()
    return scene

# Reachable without logging in. A new public route must be added here consciously.
PUBLIC = {"accounts.login", "accounts.set_language", "accounts.flashes", "static",
          "pwa.service_worker", "pwa.manifest", "pwa.offline_shell", "pwa.device",
          "pwa.client_strings", "openapi.openapi", "health.healthz"}

ALL = frozenset(ROLES)
OFFICE = ALL - {"helper"}
HELPER = frozenset({"helper"})
COUNTY = frozenset({"county_officer"})
REPORTERS = frozenset({"community_worker", "street_reviewer", "county_officer"})
REVEALERS = frozenset({"county_officer", "street_reviewer"})
AUDIT_READERS = frozenset({"county_officer", "city_supervisor", "admin"})
# County management and the ledger: the county office acts; its street reviewers and the city
# supervisor look (fieldwork/households/management/pages.py VIEWERS, supervision/export.py).
MANAGE_VIEWERS = frozenset({"street_reviewer", "county_officer", "city_supervisor"})
# Supervision pages: the officers and the administrator (supervision/views.py VIEW_ROLES);
# deciding on a doubtful visit: street reviewers and county officers (review.DECIDER_ROLES).
SUPERVISORS = MANAGE_VIEWERS | {"admin"}
VISIT_DECIDERS = frozenset({"street_reviewer", "county_officer"})
# Reviews (households/intake/views.py): who takes part in review chains, who may read a case,
# who enters households, who sees discovery reports.
REVIEW_ACTORS = frozenset({"community_worker", "street_reviewer", "county_officer",
                           "department_reviewer"})
REVIEW_READERS = REVIEW_ACTORS | {"city_supervisor", "admin"}
ENTRANTS = frozenset({"community_worker", "county_officer", "department_reviewer"})
REPORT_VIEWERS = REPORTERS | {"city_supervisor", "admin"}
# Who runs a county's accounts and imports: its office and the administrator.
COUNTY_ADMINS = frozenset({"county_officer", "admin"})

# Which roles may use an endpoint on an in-scope object: one set for every method, or a set
# per method. Every endpoint of the app must be here (no defaults).
Expectation = frozenset[str] | dict[str, frozenset[str]]
EXPECT: dict[str, Expectation] = {
    "home.index": ALL,
    "accounts.login": ALL,
    "accounts.logout": ALL,
    "accounts.change_password": ALL,
    "accounts.set_language": ALL,
    # This browser's own queued flash messages (a logged-out session may hold some too).
    "accounts.flashes": ALL,
    "households.mine": frozenset({"helper"}),
    "households.tasks": frozenset({"helper"}),
    "households.detail": ALL,
    "households.confirm_reference": frozenset({"county_officer"}),
    # Changes of the file (households/views.py EDITORS, CONFIRMERS): the office roles change
    # it, the street and the county confirm (the scene's change waits for the street).
    "households.change_form": REPORTERS,
    "households.change": REPORTERS,
    "households.change_queue": VISIT_DECIDERS,
    "households.decide_change": VISIT_DECIDERS,
    "visits.new": frozenset({"helper"}),
    "visits.show": ALL,
    "photos.full": ALL,
    "photos.thumb": ALL,
    "places.overview": OFFICE,
    "places.place": OFFICE,
    "discovery.new": REPORTERS,
    "audit.index": AUDIT_READERS,
    "privacy.reveal_household": REVEALERS,
    "privacy.reveal_member": REVEALERS,
    # Members on the household file: the offices that enter and review households
    # (households/members.py OFFICE_ROLES); a helper's come from visits, through the phone.
    "members.add": REPORTERS,
    "members.edit": REPORTERS,
    "members.leave": REPORTERS,
    "sync.session": ALL,
    "sync.pull": ALL,
    "sync.push": ALL,
    "sync.status": ALL,
    "sync.discovery_check": REPORTERS,
    "sync.put_photo": frozenset({"helper"}),  # only the uploader
    "pwa.device": ALL,
    "pwa.offline_shell": ALL,
    "pwa.manifest": ALL,
    "pwa.service_worker": ALL,
    "pwa.client_strings": ALL,  # the client's translations (/i18n/<locale>.json)
    "openapi.openapi": ALL,
    "health.healthz": ALL,
    # the county ledger (supervision/export.py LEDGER_ROLES)
    "ledger.index": MANAGE_VIEWERS,
    "ledger.export_csv": MANAGE_VIEWERS,
    "ledger.export_xlsx": MANAGE_VIEWERS,
    "ledger.print_annex": MANAGE_VIEWERS,
    # county management: viewers read, the county office acts
    "manage.index": MANAGE_VIEWERS,
    "manage.measures": MANAGE_VIEWERS,
    "manage.add_measure": COUNTY,
    "manage.edit_measure": COUNTY,
    "manage.measure_active": COUNTY,
    "manage.plan": MANAGE_VIEWERS,
    # Taking or hiding a suggested measure: the street drafts the plan, the county approves
    # (management/pages.py SUGGESTION_ACTORS).
    "manage.plan_suggestion": VISIT_DECIDERS,
    "manage.add_plan_measure": COUNTY,
    "manage.end_plan_measure": COUNTY,
    "manage.assignments_index": MANAGE_VIEWERS,
    "manage.assign": COUNTY,
    "manage.household_assignment": MANAGE_VIEWERS,
    "manage.reassign": COUNTY,
    "manage.helper": MANAGE_VIEWERS,
    "manage.transfer": COUNTY,
    # Staff accounts (accounts/staff_views.py): the county office within its county, the
    # administrator everywhere.
    "staff.index": COUNTY_ADMINS,
    "staff.create": COUNTY_ADMINS,
    "staff.edit": COUNTY_ADMINS,
    "staff.deactivate": COUNTY_ADMINS,
    "staff.reactivate": COUNTY_ADMINS,
    "staff.reset_password": COUNTY_ADMINS,
    "staff.import_accounts": COUNTY_ADMINS,
    "staff.import_template": COUNTY_ADMINS,
    # exits (issue 14): the community reads and proposes too; the case is at the community's
    # opinion, so only the community decides it; the publicity is the county office's
    "manage.exit_list": MANAGE_VIEWERS | {"community_worker"},
    "manage.propose_exit": {"GET": MANAGE_VIEWERS | {"community_worker"}, "POST": REPORTERS},
    "manage.exit_case": MANAGE_VIEWERS | {"community_worker"},
    "manage.decide_exit": frozenset({"community_worker"}),
    "manage.resubmit_exit": REPORTERS,
    "manage.exit_objection": COUNTY,
    "manage.resolve_exit_objection": COUNTY,
    "manage.finish_exit": COUNTY,
    "manage.policy": {"GET": MANAGE_VIEWERS, "POST": COUNTY},
    # the county's 低保标准 is set by the county office; the platform list is read by the
    # offices that read the plans, entries are recorded by the county office (policy line 67)
    "manage.set_dibao_standard": COUNTY,
    "manage.platform_list": MANAGE_VIEWERS,
    # Household import (households/imports/views.py USERS): the county office, the admin.
    "imports.index": COUNTY_ADMINS,
    "imports.template": COUNTY_ADMINS,
    "imports.check": COUNTY_ADMINS,
    "imports.confirm": COUNTY_ADMINS,
    "imports.undo": COUNTY_ADMINS,
    "manage.record_platform_entry": COUNTY,
    # printed forms: whoever may see the household (or visit) may print it
    "printing.blank_visit_form": ALL,
    "printing.visit_form": ALL,
    "printing.review_form": ALL,
    "printing.card": ALL,
    # The 入户调查表 filled from the file, as the other forms of a household in scope.
    "printing.household_visit_form": ALL,
    # The 公示名单 of a place in scope: the offices (a helper's scope holds no place).
    "printing.publicity_list": OFFICE,
    # 帮扶人任务清单: the helper themself and the street or county office over the helper's place
    "printing.helper_tasks": frozenset({"helper", "street_reviewer", "county_officer"}),
    # review chains, publicity, enrolment (the case objects are in the state each needs)
    "reviews.queue": REVIEW_ACTORS,
    "reviews.new_entry": ENTRANTS,
    "reviews.report": REPORT_VIEWERS,
    "reviews.open_report": REPORTERS,
    "reviews.same_household": REPORTERS,
    "reviews.case": REVIEW_READERS,
    "reviews.decide": frozenset({"street_reviewer"}),  # a case at the street's review
    "reviews.correct": frozenset({"community_worker"}),  # returned to the community
    "reviews.add_objection": COUNTY,  # a case in publicity: the county office
    "reviews.resolve_objection": COUNTY,
    "reviews.enrol": COUNTY,
    # The watch list (加强监测): read by the territorial offices and the city; put on the list
    # and restarted by the household's community, street or county office; checks recorded
    # by its community or street. hh_a is enrolled, so the forms answer 302 / 409.
    "reviews.watch_list": REPORTERS | {"city_supervisor"},
    "reviews.watch_start": REPORTERS,
    "reviews.watch_check": frozenset({"community_worker", "street_reviewer"}),
    "reviews.watch_restart": REPORTERS,
    # evidence at intake: everyone who reads the case sees it; the current step (a case at
    # the street's review) and the county office record it
    "reviews.evidence_page": REVIEW_READERS,
    "reviews.record_evidence": frozenset({"street_reviewer", "county_officer"}),
    "reviews.add_document": frozenset({"street_reviewer", "county_officer"}),
    "reviews.document": REVIEW_READERS,
    "reviews.document_thumb": REVIEW_READERS,
    # supervision
    "supervision.dashboard": SUPERVISORS,
    "supervision.place": SUPERVISORS,
    "supervision.trend": SUPERVISORS,
    "supervision.reviews": SUPERVISORS,
    "supervision.review_visit": SUPERVISORS,
    "supervision.decide": VISIT_DECIDERS,
}
SKIP = {"static"}  # files on disk, no data

# URL parameter -> (in-scope value, out-of-scope value or None when scope does not apply).
PARAMS: dict[str, Callable[[Scene], tuple[Any, Any]]] = {
    "household_id": lambda s: (s.hh_a.id, s.hh_b.id),
    "visit_id": lambda s: (s.visit_a.id, s.visit_b.id),
    "photo_id": lambda s: (s.photo_a, s.photo_b),
    "place_id": lambda s: (s.world.community.id, s.world.community_b.id),
    "community_id": lambda s: (s.world.community.id, s.world.community_b.id),
    "street_id": lambda s: (s.world.street.id, s.world.street_b.id),
    "county_id": lambda s: (s.world.county.id, s.world.county_b.id),
    "member_id": lambda s: (s.member_a.id, s.member_b.id),
    "case_id": lambda s: (s.case_a.id, s.case_b.id),
    "report_id": lambda s: (s.report_a.id, s.report_b.id),
    "discovery_id": lambda s: (s.report_a.id, s.report_b.id),
    "user_id": lambda s: (s.users["helper"].id, s.helper_b.id),
    "helper_id": lambda s: (s.users["helper"].id, s.helper_b.id),
    "assignment_id": lambda s: (s.assignment_a.id, s.assignment_b.id),
    "measure_id": lambda s: (s.measure_a.id, s.measure_b.id),
    "plan_measure_id": lambda s: (s.plan_a.id, s.plan_b.id),
    "entry_id": lambda s: (s.plan_a.id, s.plan_b.id),  # a plan entry (PlanMeasure)
    "objection_id": lambda s: (s.objection_a.id, s.objection_b.id),
    "decision_id": lambda s: (s.decision_a.id, s.decision_b.id),
    "document_id": lambda s: (s.document_a.id, s.document_b.id),
    "form": lambda s: ("residence", None),  # an evidence form (scoped by its case)
    "change_id": lambda s: (s.change_a.id, s.change_b.id),
    "kind": lambda s: ("phone", None),  # a kind of change of the file
    "month": lambda s: (current_month(), None),
    "year": lambda s: (current_month() // 100, None),
    "filename": lambda s: ("css/app.css", None),
    "locale": lambda s: ("en", None),
    "batch_id": lambda s: (s.import_batch_a.id, s.import_batch_b.id),
}

# URL parameters that mean another object for some endpoints: one in the state the action
# needs (see the scene fixture above).
MATRIX_PARAMS: dict[str, dict[str, Callable[[Scene], tuple[Any, Any]]]] = {
    "reviews.decide": {"case_id": lambda s: (s.street_case_a.id, s.street_case_b.id)},
    "reviews.correct": {"case_id": lambda s: (s.returned_case_a.id, s.returned_case_b.id)},
    "reviews.add_objection": {"case_id": lambda s: (s.publicity_a.id, s.publicity_b.id)},
    "reviews.resolve_objection": {
        "case_id": lambda s: (s.publicity_a.id, s.publicity_b.id),
        "objection_id": lambda s: (s.publicity_objection_a.id, s.publicity_objection_b.id)},
    "reviews.enrol": {"case_id": lambda s: (s.publicity_a.id, s.publicity_b.id)},
    "reviews.record_evidence": {"case_id": lambda s: (s.street_case_a.id, s.street_case_b.id)},
    "reviews.add_document": {"case_id": lambda s: (s.street_case_a.id, s.street_case_b.id)},
    "manage.exit_case": {"case_id": lambda s: (s.exit_case_a.id, s.exit_case_b.id)},
    "manage.decide_exit": {"case_id": lambda s: (s.exit_case_a.id, s.exit_case_b.id)},
    "manage.resubmit_exit": {"case_id": lambda s: (s.exit_case_a.id, s.exit_case_b.id)},
    "manage.exit_objection": {
        "case_id": lambda s: (s.exit_publicity_a.id, s.exit_publicity_b.id)},
    "manage.resolve_exit_objection": {
        "case_id": lambda s: (s.exit_publicity_a.id, s.exit_publicity_b.id),
        "objection_id": lambda s: (s.exit_objection_a.id, s.exit_objection_b.id)},
    "manage.finish_exit": {
        "case_id": lambda s: (s.exit_publicity_a.id, s.exit_publicity_b.id)},
}

# Extra request arguments for endpoints that need a body to reach their scope check; called
# with "in" or "out" (of scope).
REQUEST: dict[str, Callable[[Scene, str], dict[str, Any]]] = {
    "sync.put_photo": lambda s, where: {
        "data": s.photo_a_bytes, "content_type": "image/jpeg",
        "headers": {"X-Content-SHA256": sha(s.photo_a_bytes)}},
    "manage.assign": lambda s, where: {
        "data": {"household_id": str((s.hh_a if where == "in" else s.hh_b).id)}},
}
# Endpoints without an object in the URL whose object comes in the body: run out of scope
# too, with the body's out-of-scope object.
BODY_SCOPED = {"manage.assign"}
# Pages the city supervisor sees one county at a time (?county=, the first by code when none
# is chosen: county A here): an object of county B is 404 there, not a page.
CITY_ONE_COUNTY = {"manage.helper"}

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
OK_POST = {200, 201, 204, 301, 302, 303, 400, 409, 413, 415, 422}


def rules(app) -> list:
    return sorted((r for r in app.url_map.iter_rules() if r.endpoint not in SKIP),
                  key=lambda r: (r.rule, r.endpoint))


def test_every_url_parameter_is_known(app):
    unknown = sorted({f"{name} (in {r.rule})" for r in rules(app) for name in r.arguments
                      if name not in PARAMS})
    assert not unknown, (
        "routes take URL parameters the access matrix cannot fill: add them to PARAMS in "
        f"tests/security/test_access_matrix.py with an in-scope and an out-of-scope value: "
        f"{', '.join(unknown)}")


def test_every_endpoint_has_explicit_expectations(app):
    """A new endpoint fails the suite until someone decides who may use it."""
    endpoints = {r.endpoint for r in rules(app)}
    missing = sorted(endpoints - set(EXPECT))
    assert not missing, (
        "endpoints without explicit access expectations: add each to EXPECT in "
        "tests/security/test_access_matrix.py with the roles that may use it (read the view "
        f"and fieldwork/access/roles.py): {', '.join(missing)}")
    stale = sorted(set(EXPECT) - endpoints - SKIP)
    assert not stale, f"EXPECT lists endpoints the app no longer has: {', '.join(stale)}"
    for endpoint, expectation in EXPECT.items():
        sets = expectation.values() if isinstance(expectation, dict) else [expectation]
        for roles_ in sets:
            assert roles_ <= ALL, f"{endpoint}: unknown roles {sorted(roles_ - ALL)}"
    for rule in rules(app):
        expectation = EXPECT[rule.endpoint]
        if isinstance(expectation, dict):
            methods = {m for m in METHODS if m in rule.methods}
            assert methods <= set(expectation), (
                f"{rule.endpoint}: no expectation for {sorted(methods - set(expectation))}")


def allowed_roles(endpoint: str, method: str) -> frozenset[str]:
    expectation = EXPECT[endpoint]
    return expectation[method] if isinstance(expectation, dict) else expectation


def _urls(rule, scene: Scene) -> tuple[str, str | None]:
    """The rule's URL with in-scope values, and with out-of-scope values (None if none)."""
    inside, outside, scoped = {}, {}, rule.endpoint in BODY_SCOPED
    special = MATRIX_PARAMS.get(rule.endpoint, {})
    for name in rule.arguments:
        if name not in PARAMS:
            pytest.fail(f"unknown URL parameter {name} in {rule.rule}: extend PARAMS")
        a, b = special.get(name, PARAMS[name])(scene)
        inside[name] = a
        outside[name] = a if b is None else b
        scoped = scoped or b is not None
    in_url = rule.build(inside, append_unknown=False)[1]
    out_url = rule.build(outside, append_unknown=False)[1] if scoped else None
    return in_url, out_url


def _call(client, method: str, url: str, endpoint: str, scene: Scene, token: str,
          where: str = "in"):
    extra = REQUEST.get(endpoint, lambda s, w: {})(scene, where)
    headers = {"X-CSRFToken": token, **extra.pop("headers", {})}
    return client.open(url, method=method, headers=headers, **extra)


def _signed_in(client, user, token: str) -> str:
    """Sign user in again (a POST /logout or /login of the run must not end it) and return a
    CSRF token the session accepts: a fresh one when logging out or in dropped the old."""
    login(client, user)
    with client.session_transaction() as session:
        has_token = "csrf_token" in session
    return token if has_token else csrf_token(client)


def _csrf_refused(response) -> bool:
    if response.status_code != 400:
        return False
    if response.is_json:
        return (response.get_json() or {}).get("error", {}).get("code") == "csrf"
    return "安全校验失败" in response.get_data().decode("utf-8", "replace")


def _is_login_redirect(response) -> bool:
    return response.status_code in (301, 302, 303) and "/login" in (response.location or "")


@pytest.mark.parametrize("role", ROLES)
def test_role_in_and_out_of_scope(client, app, scene, role):
    user = scene.users[role]
    whole_city = user.place.level == "city"
    failures: list[str] = []
    login(client, user)
    token = csrf_token(client)
    for rule in rules(app):
        in_url, out_url = _urls(rule, scene)
        for method in (m for m in METHODS if m in rule.methods):
            allowed = allowed_roles(rule.endpoint, method)
            targets = [("in", in_url)] + ([("out", out_url)] if out_url else [])
            for where, url in targets:
                token = _signed_in(client, user, token)
                response = _call(client, method, url, rule.endpoint, scene, token, where)
                status = response.status_code
                label = f"{role} {method} {url} [{rule.endpoint}, {where} of scope] -> {status}"
                body = body_text(response)
                if status >= 500:
                    failures.append(f"{label}: server error")
                    continue
                if _csrf_refused(response):
                    failures.append(f"{label}: the matrix's CSRF token was refused, so the "
                                    "route itself was never reached")
                    continue
                if where == "out" and not whole_city:
                    if status not in (403, 404):
                        failures.append(f"{label}: out-of-scope object must answer 403/404")
                elif where == "out" and rule.endpoint in CITY_ONE_COUNTY and \
                        role in allowed and status == 404:
                    pass
                elif role in allowed:
                    if method == "GET" and not (status == 200 or (
                            300 <= status < 400 and not _is_login_redirect(response))):
                        failures.append(f"{label}: allowed role should get the page")
                    elif method != "GET" and status not in OK_POST:
                        failures.append(f"{label}: allowed role refused")
                elif status not in (403, 404):
                    failures.append(f"{label}: role not allowed must get 403/404")
                if not whole_city:
                    leaked = [s for s in scene.secrets_b if s in body]
                    if leaked:
                        failures.append(f"{label}: shows county B data {leaked}")
                shown = [s for s in scene.never_shown if s in body]
                if shown:
                    failures.append(f"{label}: shows a full ID/phone number {shown}")
    assert not failures, "\n".join(failures)


def test_anonymous(client, app, scene):
    failures: list[str] = []
    for rule in rules(app):
        in_url, _out = _urls(rule, scene)
        for method in (m for m in METHODS if m in rule.methods):
            with client.session_transaction() as session:
                session.clear()
            token = csrf_token(client)
            response = _call(client, method, in_url, rule.endpoint, scene, token)
            status = response.status_code
            label = f"anonymous {method} {in_url} [{rule.endpoint}] -> {status}"
            body = body_text(response)
            if status >= 500:
                failures.append(f"{label}: server error")
            elif rule.endpoint in PUBLIC:
                pass
            elif in_url.startswith("/api/"):
                if status != 401 or not response.is_json or \
                        response.get_json()["error"]["code"] != "unauthenticated":
                    failures.append(f"{label}: the API must answer a JSON 401")
            elif not _is_login_redirect(response):
                failures.append(f"{label}: must redirect to the login page")
            leaked = [s for s in scene.secrets_b + [scene.hh_a.head_name, scene.hh_a.address]
                      + scene.never_shown if s in body]
            if leaked:
                failures.append(f"{label}: shows household data {leaked}")
    assert not failures, "\n".join(failures)


def test_the_matrix_notices_a_leak(client, app, scene, monkeypatch):
    """Self-check: if scope were dropped from the household page, the matrix would say so."""
    import fieldwork.households.views as views
    from fieldwork.extensions import db
    from fieldwork.households.models import Household

    monkeypatch.setattr(views, "get_household_or_404",
                        lambda user, hid: db.session.get(Household, hid))
    login(client, scene.users["county_officer"])
    response = client.get(f"/households/{scene.hh_b.id}")
    assert response.status_code == 200
    assert scene.hh_b.head_name in body_text(response)


def test_the_correction_form_keeps_the_phone_without_showing_it(client, app, scene):
    """Found by the matrix: the form to correct a returned entry showed the household's full
    phone number. It now shows the mask, and a blank phone keeps the number on file."""
    from fieldwork.extensions import db
    from fieldwork.households.intake import steps

    from .conftest import PHONE_A

    worker = scene.users["community_worker"]
    case_id, hh = scene.returned_case_a.id, scene.hh_a
    token = _signed_in(client, worker, "")
    page = client.get(f"/reviews/cases/{case_id}/correct")
    assert page.status_code == 200
    text = body_text(page)
    assert PHONE_A not in text
    assert "138****8000" in text
    form = {"head_name": hh.head_name, "id_number": "", "phone": "", "address": hh.address,
            "place_id": str(hh.place_id), "members_count": "3", "category": hh.category,
            "causes": list(hh.causes or []), "situation": "补正：已核实收入"}
    response = client.post(f"/reviews/cases/{case_id}/correct", data=form,
                           headers={"X-CSRFToken": token})
    assert response.status_code == 302, body_text(response)[:2000]
    db.session.expire_all()
    assert hh.phone == PHONE_A  # kept, not erased
    assert hh.notes == "补正：已核实收入"
    assert not steps.awaiting_correction(scene.returned_case_a)
