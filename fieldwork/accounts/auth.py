"""Flask-Login wiring: sessions tied to the user's session token, JSON 401 for the API."""

from __future__ import annotations

from flask import Flask, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, current_user
from flask_login.utils import decode_cookie

from fieldwork.accounts.models import User
from fieldwork.accounts.services import login_ended, parse_login_token
from fieldwork.errors import api_error, is_api_request
from fieldwork.extensions import db
from offline_sync.models import Device

# Pages a user who must change their password may still reach.
PASSWORD_CHANGE_EXEMPT = {
    "accounts.change_password",
    "accounts.flashes",
    "accounts.logout",
    "accounts.set_language",
    "static",
    "sync.session",
}


def init_login(app: Flask, login_manager: LoginManager) -> None:
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(token: str) -> User | None:
        parsed = parse_login_token(token)
        if parsed is None:
            return None
        user_id, session_token, login_id = parsed
        user = db.session.get(User, user_id)
        # A rotated token (password change, deactivation) ends every session of the user;
        # logging out ends its own login, on whatever cookie still carries it.
        if user is None or not user.active or user.session_token != session_token:
            return None
        if login_id is not None and login_ended(user.id, login_id):
            return None
        return user

    @login_manager.unauthorized_handler
    def unauthorized():
        if is_api_request():
            # A deactivated account is told apart from an expired login, so that the phone
            # forgets its households (audit finding 4): the user named by this request's
            # signed session or remember-me cookie, else every user of the installation it
            # names (X-Fieldwork-Device), is inactive.
            cookie = request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME",
                                                                "remember_token"), "")
            parsed = parse_login_token(str(session.get("_user_id") or decode_cookie(cookie) or ""))
            users = [db.session.get(User, parsed[0])] if parsed else []
            device_id = request.headers.get("X-Fieldwork-Device", "")[:64]
            if not users and device_id:
                users = list(db.session.scalars(db.select(User).join(
                    Device, Device.user_id == User.id).where(Device.device_id == device_id)))
            if users and all(u is not None and not u.active for u in users):
                return api_error(401, "account_disabled",
                                 _("此账号已停用，本机保存的帮扶户资料已清除"))
            return api_error(401, "unauthenticated", _("登录已过期，请重新登录"))
        if request.method == "GET":
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        return redirect(url_for("accounts.login"))

    @app.before_request
    def force_password_change():
        if (
            current_user.is_authenticated
            and current_user.must_change_password
            and request.endpoint not in PASSWORD_CHANGE_EXEMPT
        ):
            message = _("首次登录请先修改初始密码")
            if is_api_request():
                return api_error(403, "password_change_required", message)
            flash(message, "warning")
            return redirect(url_for("accounts.change_password"))
        return None
