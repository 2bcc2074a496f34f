"""One way to fail a form (fieldwork.formflow.submit, fieldwork.errors.FormError): a refused
form leaves nothing half-written and shows the field's message with the refusal's status; an
accepted one is committed, flashed and redirected; the API and htmx get their own shape of the
same answer."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import render_template_string, request

from fieldwork.errors import FormError
from fieldwork.extensions import db as _db
from fieldwork.formflow import submit
from fieldwork.households.management import measures
from fieldwork.households.models import Measure

FORM = {"name": "宛城区冬季取暖补贴", "area": "income", "department": "民政", "amount": "300",
        "unit": "元/年", "note": ""}
PAGE = "<p class=error>{{ errors.get('name', '') }}</p>{{ partial }}"


def _count() -> int:
    return _db.session.scalar(sa.select(sa.func.count(Measure.id)).where(
        Measure.name == FORM["name"]))


def _add_then(county, officer, refusal: FormError | None):
    """The real catalogue service writes a measure; then, when told, a later rule refuses."""

    def action() -> Measure:
        measure = measures.add_measure(county, officer, request.form)
        assert _count() == 1  # written and flushed: only the rollback can take it back
        if refusal is not None:
            raise refusal
        return measure

    return action


@pytest.fixture
def form_app(app, world, make_user):
    officer = make_user("county_officer")
    officer_id, county_id = officer.id, world.county.id

    def view(refusal: FormError | None):
        from fieldwork.accounts.models import User
        from fieldwork.places.models import Place

        officer, county = _db.session.get(User, officer_id), _db.session.get(Place, county_id)
        return submit(
            _add_then(county, officer, refusal),
            failed=lambda exc: render_template_string(
                PAGE, errors=exc.errors, partial="partial" if request.headers.get(
                    "HX-Request") else "page"),
            to=lambda m: f"/manage/measures#measure-{m.id}",
            message=lambda m: f"已添加措施“{m.name}”")

    app.add_url_rule("/t/ok", "t_ok", lambda: view(None), methods=["POST"])
    app.add_url_rule("/t/bad", "t_bad", lambda: view(
        FormError.of("名称与本区已有措施冲突", "name")), methods=["POST"])
    app.add_url_rule("/t/conflict", "t_conflict", lambda: view(
        FormError.conflict("该措施已由他人修改")), methods=["POST"])
    app.add_url_rule("/t/forbidden", "t_forbidden", lambda: view(
        FormError.forbidden("不是您的环节")), methods=["POST"])
    app.add_url_rule("/api/t/bad", "api_t_bad", lambda: view(
        FormError.of("名称与本区已有措施冲突", "name")), methods=["POST"])
    app.add_url_rule("/api/t/uncaught", "api_t_uncaught", lambda: (_ for _ in ()).throw(
        FormError({"amount": "金额不能为负数"})), methods=["POST"])
    return app


def test_a_refused_form_leaves_no_half_written_record_and_shows_the_message(form_app, client):
    response = client.post("/t/bad", data=FORM)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "<p class=error>名称与本区已有措施冲突</p>page" in body
    _db.session.expire_all()
    assert _count() == 0
    with client.session_transaction() as session:
        assert not session.get("_flashes")


def test_an_accepted_form_is_committed_flashed_and_redirected(form_app, client):
    response = client.post("/t/ok", data=FORM)
    assert response.status_code == 302
    _db.session.remove()  # a new session sees only what was committed
    [measure] = _db.session.scalars(sa.select(Measure).where(Measure.name == FORM["name"]))
    assert response.location.endswith(f"/manage/measures#measure-{measure.id}")
    with client.session_transaction() as session:
        assert session["_flashes"] == [("success", f"已添加措施“{FORM['name']}”")]


def test_the_refusal_keeps_its_status(form_app, client):
    assert client.post("/t/conflict", data=FORM).status_code == 409
    forbidden = client.post("/t/forbidden", data=FORM)
    assert forbidden.status_code == 403
    assert "不是您的环节" not in forbidden.get_data(as_text=True)  # the error page, no form
    _db.session.expire_all()
    assert _count() == 0


def test_htmx_gets_the_partial_or_a_client_redirect(form_app, client):
    refused = client.post("/t/bad", data=FORM, headers={"HX-Request": "true"})
    assert refused.status_code == 422
    assert refused.get_data(as_text=True).endswith("partial")
    assert "HX-Request" in refused.headers["Vary"]
    accepted = client.post("/t/ok", data=FORM, headers={"HX-Request": "true"})
    assert accepted.status_code == 200
    assert accepted.headers["HX-Redirect"].startswith("/manage/measures#measure-")


def test_the_api_gets_the_protocol_error_with_the_fields(form_app, client):
    response = client.post("/api/t/bad", data=FORM)
    assert response.status_code == 422
    assert response.get_json() == {"error": {"code": "invalid", "message": "名称与本区已有措施冲突",
                                             "fields": {"name": "名称与本区已有措施冲突"}}}
    _db.session.expire_all()
    assert _count() == 0
    uncaught = client.post("/api/t/uncaught")
    assert uncaught.status_code == 422
    assert uncaught.get_json()["error"]["fields"] == {"amount": "金额不能为负数"}


def test_form_error_needs_a_message():
    with pytest.raises(ValueError):
        FormError({})
    refusal = FormError({"a": "第一", "b": "第二"}, 409)
    assert (refusal.message, refusal.status, refusal.errors) == ("第一", 409,
                                                                 {"a": "第一", "b": "第二"})
