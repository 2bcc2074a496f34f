"""Error answers: JSON under /api/ (SYNC-PROTOCOL.md "Errors"), friendly pages elsewhere."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from fieldwork.extensions import db

# Marked for extraction, translated when used.
MESSAGES = {
    400: _l("请求格式不正确"),
    401: _l("登录已过期，请重新登录"),
    403: _l("您没有权限执行此操作"),
    404: _l("找不到该页面或记录"),
    405: _l("不支持该请求方式"),
    409: _l("记录冲突"),
    413: _l("提交的内容太大"),
    415: _l("不支持的内容类型"),
    422: _l("提交的内容有误"),
    429: _l("操作过于频繁，请稍后再试"),
    500: _l("服务器内部错误，请稍后重试；您的数据未丢失"),
}
CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "server_error",
}


# Exceptions whose messages speak of the code (names, types), never of the data.
_CODE_MESSAGES = (AttributeError, NameError, ImportError, NotImplementedError, RecursionError,
                  TypeError)


def _describe(err: BaseException) -> str:
    from sqlalchemy.exc import StatementError

    name = f"{type(err).__module__}.{type(err).__qualname__}"
    if isinstance(err, StatementError):
        orig = err.orig
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        # The statement as written in the code, with placeholders: hide_parameters keeps
        # the values out of the exception, and the driver's message (which may quote a
        # value: "Key (username)=(...) already exists") is left out.
        return (f"{name}: ({type(orig).__module__}.{type(orig).__qualname__}, "
                f"sqlstate {code}) [SQL: {err.statement}]")
    if isinstance(err, _CODE_MESSAGES):
        return f"{name}: {err}"
    return f"{name}: (message withheld: it may quote what the user sent)"


def redacted_traceback(err: BaseException) -> str:
    """The traceback of err and of the exceptions that led to it: every frame and exception
    type, but no message that could quote user data (names, phone numbers, ID numbers, the
    request body). A server log is read by more people than the database."""
    import traceback

    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__
                                        else current.__context__)
    parts = []
    for e in reversed(chain):
        parts.append("Traceback (most recent call last):\n"
                     + "".join(traceback.format_tb(e.__traceback__)) + _describe(e))
    return "\n\nThe above exception led to:\n\n".join(parts)


class FormError(Exception):
    """A submitted form (or any mapping a service checks) was refused: {field: message}, and
    the status the refusal answers with -- 422 wrong input, 409 someone else changed the
    record first, 403 this step is not the user's. Services raise it and never build an HTTP
    answer; a page view turns it into the re-rendered form (`fieldwork.formflow.submit`), the
    API and any uncaught case into the error answer below (one place each)."""

    def __init__(self, errors: dict[str, str], status: int = 422) -> None:
        if not errors:
            raise ValueError("FormError needs at least one field message")
        super().__init__("; ".join(str(m) for m in errors.values()))
        self.errors, self.status = dict(errors), status

    @classmethod
    def of(cls, message: str, field: str = "form", status: int = 422) -> FormError:
        """One message for one field ("form": the form as a whole)."""
        return cls({field: message}, status)

    @classmethod
    def conflict(cls, message: str, field: str = "form") -> FormError:
        """Someone else moved the record on in the meantime (409)."""
        return cls({field: message}, 409)

    @classmethod
    def forbidden(cls, message: str, field: str = "form") -> FormError:
        """The user sees the record, but this action is not theirs (403)."""
        return cls({field: message}, 403)

    @property
    def message(self) -> str:
        """The first message: what a page without per-field slots shows."""
        return next(iter(self.errors.values()))


class ApiError(Exception):
    """Raise from an API view to answer with the protocol's error body."""

    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def api_error(status: int, code: str, message: str,
              fields: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    resp = jsonify({"error": body})
    resp.status_code = status
    return resp


def _message(status: int) -> str:
    return str(MESSAGES.get(status, MESSAGES[500]))


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(err: ApiError) -> ResponseReturnValue:
        return api_error(err.status, err.code, err.message, err.fields)

    @app.errorhandler(FormError)
    def handle_form_error(err: FormError) -> ResponseReturnValue:
        # A view that renders its form catches FormError itself (formflow.submit); this is
        # the API's answer, and the page for a refusal no form shows.

        db.session.rollback()
        if is_api_request():
            return api_error(err.status, CODES.get(err.status, "invalid"), err.message,
                             err.errors)
        return render_template("error.html", status=err.status, message=err.message), err.status

    @app.errorhandler(CSRFError)
    def handle_csrf(err: CSRFError) -> ResponseReturnValue:
        message = _("页面已过期或安全校验失败，请刷新页面后重试")
        if is_api_request():
            return api_error(400, "csrf", message)
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def handle_http(err: HTTPException) -> ResponseReturnValue:
        status = err.code or 500
        if status == 413:
            limit_mb = app.config["MAX_CONTENT_LENGTH"] // 2**20
            message = _("提交的内容太大（上限 %(mb)s MB）", mb=limit_mb)
        elif status == 429:
            message = _("操作过于频繁，请稍后再试")
        else:
            message = _message(status)
        response = err.get_response()
        # A 405 names the methods that are allowed, for the API as for pages.
        allow = {k: v for k, v in response.headers.items() if k == "Allow"}
        if is_api_request():
            answer = api_error(status, CODES.get(status, "error"), message)
            answer.headers.update(allow)
            return answer
        page = render_template("error.html", status=status, message=message)
        return page, status, allow

    @app.errorhandler(Exception)
    def handle_unexpected(err: Exception) -> ResponseReturnValue:
        # Never the request body, the query string or an exception's message (see redacted).
        app.logger.error("unhandled error on %s %s\n%s", request.method, request.path,
                         redacted_traceback(err))
        db.session.rollback()
        message = _message(500)
        if is_api_request():
            return api_error(500, "server_error", message)
        return render_template("error.html", status=500, message=message), 500
