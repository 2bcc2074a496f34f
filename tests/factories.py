"""Builders the tests share: photos, survey answers and sync records as a phone sends them.

Plain functions (fixtures that need the app live in conftest.py). Each takes parameters for
what its callers vary, so that every test keeps its own inputs: the same seed, size, colour and
quality give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from PIL import Image, ImageDraw

from fieldwork.extensions import db
from fieldwork.places.models import PolicySettings

RGB = tuple[int, int, int]
Size = tuple[int, int]

DIMS = ("income", "housing", "education", "medical", "employment", "elderly")
HOME = (32.995, 112.541)  # the reference point the tests' households are given (WGS-84)


# ------------------------------------------------------------------ photos

def encode_jpeg(img: Image.Image, **params: Any) -> bytes:
    """img as JPEG bytes; params go to Pillow's encoder (quality, exif, …)."""
    out = io.BytesIO()
    img.save(out, format="JPEG", **params)
    return out.getvalue()


def jpeg(colour: RGB = (30, 120, 200), size: Size = (640, 480), *, quality: int | None = 85,
         dot_every: int | None = 40) -> bytes:
    """A card of one colour, with a white dot every dot_every pixels (None: plain); quality
    None leaves Pillow's default."""
    img = Image.new("RGB", size, colour)
    if dot_every:
        for x in range(0, size[0], dot_every):
            for y in range(0, size[1], dot_every):
                img.putpixel((x, y), (255, 255, 255))
    return encode_jpeg(img) if quality is None else encode_jpeg(img, quality=quality)


def photo(seed: int = 1, size: Size = (320, 240), *, background: RGB = (120, 140, 160),
          blocks: int = 12, block: Size = (60, 45), ellipses: bool = False) -> Image.Image:
    """A varied picture: blocks rectangles (or ellipses) of one size, placed and coloured by
    Random(seed), so that the perceptual hashes of different seeds differ."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(img)
    shape = draw.ellipse if ellipses else draw.rectangle
    for _ in range(blocks):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        shape((x, y, x + block[0], y + block[1]), fill=tuple(rng.randrange(256) for _ in "rgb"))
    return img


def photo_jpeg(seed: int = 1, size: Size = (320, 240), *, quality: int = 85,
               **photo_params: Any) -> bytes:
    """photo(seed, size, …) as JPEG."""
    return encode_jpeg(photo(seed, size, **photo_params), quality=quality)


def scene(seed: int, size: Size = (640, 480), *, shapes: int = 30,
          widths: tuple[int, int] | None = None, heights: tuple[int, int] | None = None,
          ellipses: bool = True) -> Image.Image:
    """A picture with structure, like a camera's (not a flat card): a background and shapes
    of random size, colour and place, all drawn from Random(seed); each seed is a different
    photo. widths/heights bound the shapes (default 40 to half the picture); with ellipses
    each shape is an ellipse or a rectangle at random, else always a rectangle."""
    rng = random.Random(seed)
    w, h = size
    widths = widths or (40, w // 2)
    heights = heights or (40, h // 2)
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(shapes):
        x, y = rng.randrange(w), rng.randrange(h)
        box = (x, y, x + rng.randrange(*widths), y + rng.randrange(*heights))
        fill = tuple(rng.randrange(256) for _ in range(3))
        if not ellipses or rng.random() >= 0.5:
            draw.rectangle(box, fill=fill)
        else:
            draw.ellipse(box, fill=fill)
    return img


def camera_jpeg(seed: int, size: Size = (1200, 900), *, shapes: int = 10,
                widths: tuple[int, int] = (80, 600), heights: tuple[int, int] = (80, 400)) -> bytes:
    """A camera-like JPEG of rectangles; every seed looks different (no photo_reused flag)."""
    img = scene(seed, size, shapes=shapes, widths=widths, heights=heights, ellipses=False)
    return encode_jpeg(img, quality=85)


def sha(data: bytes) -> str:
    """The SHA-256 a phone declares for a photo (hex)."""
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ requests

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_token(client: Any) -> str:
    """The CSRF token of this client's session, read the way the pages and the phone do: from
    the session API once signed in, else from the login page."""
    response = client.get("/api/sync/v1/session")
    if response.status_code == 200:
        return response.get_json()["csrf_token"]
    return CSRF_META.search(client.get("/login").get_data(as_text=True)).group(1)


def upload_photo(client: Any, photo_id: str, data: bytes, *, content_type: str = "image/jpeg",
                 sha256: str | None = None, csrf: str | None = None) -> Any:
    """PUT a declared photo's bytes as the phone does (SYNC-PROTOCOL.md "Photos"); csrf: the
    session's token, for clients that enforce it."""
    headers = {"X-Content-SHA256": sha256 or sha(data)}
    if csrf is not None:
        headers["X-CSRFToken"] = csrf
    return client.put(f"/api/sync/v1/photos/{photo_id}", data=data, content_type=content_type,
                      headers=headers)


def utc(*args: int) -> datetime:
    """datetime(*args) in UTC."""
    return datetime(*args, tzinfo=UTC)


# ------------------------------------------------------------------ sync records

def answers(**over: Any) -> dict[str, Any]:
    """A complete visit survey, every dimension "ok"; over replaces or adds answers, and an
    answer given as None is left out."""
    out: dict[str, Any] = {"present": "户主本人", "household_income": "1500"}
    for dim in DIMS:
        out[f"{dim}_status"] = "ok"
    out.update(over)
    return {k: v for k, v in out.items() if v is not None}


def gps(lat: float = HOME[0], lon: float = HOME[1], accuracy_m: float = 12) -> dict[str, Any]:
    """A GPS fix as the phone reports it."""
    return {"lat": lat, "lon": lon, "accuracy_m": accuracy_m, "source": "gps"}


def photo_declaration(data: bytes, photo_id: str | None = None,
                      caption: str = "household") -> dict[str, Any]:
    """How a record declares a photo whose bytes are uploaded afterwards."""
    return {"id": photo_id or str(uuid.uuid4()), "sha256": sha(data), "bytes": len(data),
            "caption": caption}


def _declared(photo: bytes | tuple[str, bytes] | dict[str, Any]) -> dict[str, Any]:
    if isinstance(photo, bytes):
        return photo_declaration(photo)
    if isinstance(photo, tuple):
        return photo_declaration(photo[1], photo[0])
    return photo


def visit_record(household_id: int | str, /, *,
                 photos: Iterable[bytes | tuple[str, bytes] | dict[str, Any]] = (),
                 **over: Any) -> dict[str, Any]:
    """A visit as the sync API receives it: an hour ago, at HOME, with answers(). photos are
    bytes (declared under a new id), (id, bytes), or declarations as they are; over replaces
    any field. household_id is sent as given (a phone sends a string)."""
    rec: dict[str, Any] = {
        "type": "visit", "id": str(uuid.uuid4()), "household_id": household_id,
        "visited_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "location": gps(), "answers": answers(), "notes": "",
        "photos": [_declared(p) for p in photos],
        "supersedes": None,
    }
    rec.update(over)
    return rec


# ------------------------------------------------------------------ the database

def set_policy(world: Any, **values: Any) -> None:
    """Change the county's policy settings (world.county) and commit."""
    row = db.session.scalar(sa.select(PolicySettings).where(
        PolicySettings.place_id == world.county.id))
    for k, v in values.items():
        setattr(row, k, v)
    db.session.commit()


def postgres_database(base_url: str, prefix: str = "fieldwork_test") -> Iterator[str]:
    """Create a throwaway database on the server of base_url, named prefix_<pid>_<random>;
    yield its URL and drop it afterwards."""
    url = sa.engine.make_url(base_url.replace("postgres://", "postgresql://", 1))
    if url.drivername in ("postgresql", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
            ), {"n": name})
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def query(live_server: Any, fn: Callable[[], Any]) -> Any:
    """Run fn against a live server's database (what the browser sent is committed)."""
    with live_server.app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()
