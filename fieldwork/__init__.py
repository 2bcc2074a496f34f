"""fieldwork: offline-capable field visits for Nanyang's urban hardship relief programme."""

from __future__ import annotations

import sys
from typing import Any

from flask import Flask

from fieldwork.config import ROOT, ConfigError, build_config

__all__ = ["ROOT", "ConfigError", "create_app"]


def create_app(config: dict[str, Any] | None = None, *, exit_on_error: bool = False) -> Flask:
    """Build the app. With exit_on_error a configuration problem prints one clear line and
    exits non-zero (for the command line), instead of raising ConfigError."""
    try:
        return _create_app(config)
    except ConfigError as exc:
        if not exit_on_error:
            raise
        print(f"fieldwork 配置错误 / configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _create_app(config: dict[str, Any] | None) -> Flask:
    app = Flask(
        __name__,
        instance_path=str((config or {}).get("INSTANCE_PATH") or ROOT / "instance"),
        static_folder=str(ROOT / "static"),
        template_folder=str(ROOT / "templates"),
    )
    app.config.update(build_config(app.instance_path, config))

    from fieldwork import models  # noqa: F401  (registers every table on the metadata)
    from fieldwork.extensions import babel, csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    from fieldwork.dbsetup import configure_engine, read_body_before_database

    with app.app_context():
        configure_engine(app, db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)

    from fieldwork.i18n import init_i18n

    init_i18n(app, babel)

    from fieldwork.accounts.auth import init_login

    init_login(app, login_manager)

    from fieldwork.errors import register_error_handlers
    from fieldwork.security import init_security

    register_error_handlers(app)
    init_security(app)

    from fieldwork.accounts.staff_views import bp as staff_bp
    from fieldwork.accounts.views import bp as accounts_bp
    from fieldwork.audit.views import bp as audit_bp
    from fieldwork.discovery.views import bp as discovery_bp
    from fieldwork.home.views import bp as home_bp
    from fieldwork.households.imports.views import bp as imports_bp
    from fieldwork.households.intake.views import bp as reviews_bp
    from fieldwork.households.management.views import bp as manage_bp
    from fieldwork.households.member_views import bp as members_bp
    from fieldwork.households.views import bp as households_bp
    from fieldwork.photos.views import bp as photos_bp
    from fieldwork.privacy.views import bp as privacy_bp
    from fieldwork.pwa.views import bp as pwa_bp
    from fieldwork.supervision.export import bp as ledger_bp
    from fieldwork.supervision.overview import bp as places_bp
    from fieldwork.supervision.printing import bp as printing_bp
    from fieldwork.supervision.views import bp as supervision_bp
    from fieldwork.visits.views import bp as visits_bp
    from offline_sync.views import bp as sync_bp
    from offline_sync.views import openapi_bp

    app.register_blueprint(accounts_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(households_bp)
    app.register_blueprint(places_bp)
    app.register_blueprint(visits_bp)
    app.register_blueprint(photos_bp)
    app.register_blueprint(sync_bp)
    app.register_blueprint(openapi_bp)
    app.register_blueprint(discovery_bp)
    app.register_blueprint(pwa_bp)
    for blueprint in (supervision_bp, ledger_bp, printing_bp, reviews_bp, manage_bp, audit_bp,
                      privacy_bp, members_bp, staff_bp, imports_bp):
        app.register_blueprint(blueprint)

    from fieldwork.cli import register_cli

    register_cli(app)

    from fieldwork.templating import init_templating

    init_templating(app)

    read_body_before_database(app)
    from fieldwork.audit.guard import init_audit_guard
    from fieldwork.health import init_health
    from fieldwork.static_delivery import init_static_delivery

    init_audit_guard(app)
    init_health(app)
    init_static_delivery(app)
    if app.config["FIELDWORK_ENV"] == "production":
        from fieldwork.accounts.services import refuse_demo_accounts

        refuse_demo_accounts(app)
    return app
