"""User accounts."""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
import werkzeug.security
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldwork.access.roles import ROLE_LABELS, ROLES
from fieldwork.dbtypes import UTCDateTime, utcnow
from fieldwork.extensions import Model
from fieldwork.places.models import Place

# scrypt is werkzeug's default modern scheme; spelled out so a library change cannot weaken it.
PASSWORD_METHOD = "scrypt"  # noqa: S105 - a hash scheme name, not a password


def new_login_id() -> str:
    return secrets.token_hex(8)


class User(UserMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(64), default="")
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    # 工作单位: the body the person works for, for every role -- a department reviewer's
    # department or sector body (民政局, 残联, 工会), a helper's 单位 (which, by the policy,
    # names the successor when the helper is transferred; policy-zh.txt line 159).
    organisation: Mapped[str] = mapped_column(sa.String(64), default="")
    role: Mapped[str] = mapped_column(sa.String(24))
    place_id: Mapped[int] = mapped_column(sa.ForeignKey("places.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # Part of the login token: rotating it ends every session and remember-me cookie.
    session_token: Mapped[str] = mapped_column(
        sa.String(32), default=lambda: secrets.token_hex(8)
    )
    locale: Mapped[str | None] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    place: Mapped[Place] = relationship(lazy="joined")

    __table_args__ = (sa.CheckConstraint(sa.text(f"role in {ROLES}"), name="role"),)

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """A new login token, called by Flask-Login once per login and kept in the session
        and remember-me cookies: ``<user id>:<session_token>:<login id>``. Rotating
        session_token ends every login of the user; the login id, new at each login, lets
        logging out end just this one (accounts/services.py: end_session)."""
        return f"{self.id}:{self.session_token}:{new_login_id()}"

    def set_password(self, password: str) -> None:
        self.password_hash = werkzeug.security.generate_password_hash(
            password, method=PASSWORD_METHOD)
        self.rotate_sessions()

    def check_password(self, password: str) -> bool:
        return werkzeug.security.check_password_hash(self.password_hash, password)

    def rotate_sessions(self) -> None:
        self.session_token = secrets.token_hex(8)

    @property
    def role_label(self) -> str:
        return str(ROLE_LABELS[self.role])

    @property
    def name(self) -> str:
        return self.display_name or self.username
