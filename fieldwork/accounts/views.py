"""Login, logout, password change and language choice."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    get_flashed_messages,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from fieldwork.accounts.forms import ChangePasswordForm, LoginForm
from fieldwork.accounts.models import User
from fieldwork.accounts.services import authenticate, end_session, password_problem
from fieldwork.audit import services as audit
from fieldwork.extensions import db, limiter
from fieldwork.i18n import normalise_locale
from fieldwork.security import forget_flash_cookie
from fieldwork.timeutil import now_utc

bp = Blueprint("accounts", __name__)


def _login_username_key() -> str:
    return "login-user:" + (request.form.get("username") or "").strip().lower()[:64]


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("home.index")
    parts = urlsplit(target)
    # Only local paths: never redirect a freshly logged-in user to another site. Browsers read
    # "/\\evil.example" as "//evil.example" and drop tabs and newlines, so refuse those too.
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)
    ):
        return url_for("home.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"])
@limiter.limit("10/minute", methods=["POST"], key_func=_login_username_key)
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        username = form.username.data.strip()
        user = authenticate(username, form.password.data)
        if user is None:
            audit.record("login.failure", username=username[:64], user=None)
            db.session.commit()
            form.password.errors.append(_("用户名或密码不正确"))
        elif not user.active:
            audit.record("login.refused_inactive", user=user)
            db.session.commit()
            form.username.errors.append(_("该账号已停用，请联系县级解困办"))
        else:
            # A new session gets a new CSRF token: one read before the login (on a shared
            # computer, or planted by another site) does not carry over.
            _forget_csrf_token()
            login_user(user, remember=bool(form.remember.data))
            session.permanent = True
            user.last_login_at = now_utc()
            audit.record("login.success", user=user, target_type="user", target_id=user.id)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
    return render_template("accounts/login.html", form=form)


def _forget_csrf_token() -> None:
    name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(name, None)
    g.pop(name, None)


@bp.post("/logout")
@login_required
def logout():
    # Ended on the server, not only by deleting this browser's cookies: a copy of the session
    # or remember-me cookie is refused from now on (accounts/services.py: end_session).
    end_session(current_user._get_current_object(), str(session.get("_user_id") or ""))
    db.session.commit()
    logout_user()
    _forget_csrf_token()
    flash(_("您已退出登录"), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user: User = current_user._get_current_object()
        if not user.check_password(form.current.data):
            form.current.errors.append(_("当前密码不正确"))
        elif form.new.data == form.current.data:
            form.new.errors.append(_("新密码不能与当前密码相同"))
        elif problem := password_problem(form.new.data, user.username):
            form.new.errors.append(problem)
        else:
            user.set_password(form.new.data)
            user.must_change_password = False
            audit.record("user.password_change", target_type="user", target_id=user.id)
            db.session.commit()
            # The token rotated: log in again with it so this phone stays signed in, renewing
            # the remember-me cookie only where the user had chosen it.
            remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
            login_user(user, remember=remember_cookie in request.cookies)
            flash(_("密码已修改"), "success")
            return redirect(url_for("home.index"))
    return render_template("accounts/password.html", form=form)


@bp.get("/api/session/flashes")
def flashes():
    """The messages queued for this browser's next page, handed over once: the field pages are
    drawn from the service worker's cached shell, which cannot render them (security.py:
    FLASH_COOKIE). Logged out too: a session may hold flashes without a user."""
    queued = get_flashed_messages(with_categories=True)
    response = jsonify([{"category": category, "message": str(message)}
                        for category, message in queued])
    response.headers["Cache-Control"] = "no-store"
    forget_flash_cookie(response)
    return response


@bp.post("/language")
def set_language():
    locale = normalise_locale(request.form.get("locale"))
    if locale:
        session["locale"] = locale
        if current_user.is_authenticated:
            current_user.locale = locale
            db.session.commit()
    return redirect(_safe_next(request.form.get("next")))
