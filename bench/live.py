"""A real fieldwork server for benchmarks: migrated database, werkzeug in a thread."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from werkzeug.security import generate_password_hash  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

PASSWORD = "bench-pass-123"  # noqa: S105 - a throwaway benchmark account


def make_app(database_url: str | None = None, instance: str | None = None):
    from fieldwork import create_app

    instance = instance or tempfile.mkdtemp(prefix="fieldwork-bench-")
    config = {
        "INSTANCE_PATH": instance,
        "SQLALCHEMY_DATABASE_URI": database_url or f"sqlite:///{instance}/bench.db",
        "PHOTO_DIR": os.path.join(instance, "photos"),
        "RATELIMIT_ENABLED": False,
        "FIELDWORK_ENV": "testing",
    }
    app = create_app(config)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    return app


def seed_places(app):
    """City, one county, one street, communities; returns ids."""
    from fieldwork.extensions import db
    from fieldwork.places.models import Place, PolicySettings

    with app.app_context():
        def add(code, name, level, parent, lat=32.99, lon=112.54):
            p = Place(code=code, name=name, level=level, parent=parent, lat=lat, lon=lon)
            db.session.add(p)
            db.session.flush()
            p.path = f"{parent.path if parent else '/'}{p.id}/"
            return p

        city = add("411300", "南阳市", "city", None)
        county = add("411302", "宛城区", "county", city)
        db.session.add(PolicySettings(place=county))
        street = add("411302001", "东关街道", "street", county)
        communities = [add(f"411302001{i:03d}", f"第{i}社区", "community", street)
                       for i in range(1, 5)]
        db.session.commit()
        return {"city": city.id, "county": county.id, "street": street.id,
                "communities": [c.id for c in communities]}


def seed_user(app, username: str, role: str, place_id: int) -> int:
    from fieldwork.accounts.models import User
    from fieldwork.extensions import db

    with app.app_context():
        user = User(username=username, role=role, place_id=place_id, display_name=username,
                    password_hash=generate_password_hash(PASSWORD))
        db.session.add(user)
        db.session.commit()
        return user.id


def seed_households(app, n: int, community_ids: list[int], helper_id: int | None) -> list[int]:
    """n enrolled households with a reference point, bulk-inserted; assigned to helper_id."""
    import sqlalchemy as sa

    from fieldwork.extensions import db
    from fieldwork.households.models import Assignment, Household
    from fieldwork.places.models import Place

    with app.app_context():
        places = {p.id: p for p in db.session.scalars(
            sa.select(Place).where(Place.id.in_(community_ids)))}
        start = db.session.scalar(sa.select(sa.func.count(Household.id))) or 0
        rows = []
        for i in range(n):
            p = places[community_ids[i % len(community_ids)]]
            rows.append({
                "head_name": f"住户{start + i}", "address": f"建设路{start + i}号",
                "place_id": p.id, "county_id": p.county_id(), "street_id": p.street_id(),
                "category": "below_dibao", "causes": ["illness"], "status": "enrolled",
                "members_count": 3, "per_capita_income": Decimal("500"),
                "ref_lat": 32.99 + (i % 100) * 1e-4, "ref_lon": 112.54 + (i // 100) * 1e-4,
                "ref_source": "manual", "ref_source_crs": "wgs84",
                "enrolled_on": date(2025, 1, 1), "file_no": f"B-{start + i:07d}", "version": 1,
            })
        db.session.execute(sa.insert(Household), rows)
        ids = list(db.session.scalars(sa.select(Household.id).order_by(Household.id)
                                      .offset(start)))
        if helper_id is not None:
            db.session.execute(sa.insert(Assignment), [
                {"household_id": hid, "helper_id": helper_id, "start_date": date(2025, 1, 1),
                 "reason": "bench"} for hid in ids])
        db.session.commit()
        return ids


def seed_helper_database(instance: Path, name: str, username: str,
                         households: int) -> tuple[str, int]:
    """A SQLite database in instance/<name>.db: the place tree, one helper in the first
    community and that many households assigned to them. Returns (url, first household id)."""
    url = f"sqlite:///{instance / f'{name}.db'}"
    app = make_app(url, str(instance))
    places = seed_places(app)
    helper = seed_user(app, username, "helper", places["communities"][0])
    ids = seed_households(app, households, places["communities"][:1], helper)
    with app.app_context():
        from fieldwork.extensions import db

        db.engine.dispose()
    return url, ids[0]


@contextmanager
def serving(app, port: int = 0):
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
