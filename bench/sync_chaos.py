"""200 visits with 2 photos each, pushed through a connection that drops at random points,
must end with exactly 200 visits and 400 photos on the server, none twice.

A TCP proxy between the client and a real fieldwork server cuts a share of the connections
after a random number of bytes, in either direction (mid-request, mid-upload, mid-answer).
The client (bench/sync_client.py, written from SYNC-PROTOCOL.md alone) retries until its
outbox is empty. Bounded in time and count; stops by itself.

    python bench/sync_chaos.py [--visits 200] [--drop 0.35] [--seed 7]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import socket
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from live import PASSWORD, make_app, seed_households, seed_places, seed_user, serving  # noqa: E402
from PIL import Image  # noqa: E402
from sync_client import OutboxEntry, SyncClient  # noqa: E402


class DroppingProxy:
    """Forwards 127.0.0.1:port → upstream; cuts `drop` of the connections at a random byte."""

    def __init__(self, upstream_port: int, drop: float, rng: random.Random) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.drop, self.rng = drop, rng
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.cuts = 0
        self.connections = 0
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            budget = self.rng.randint(1, 60_000) if self.rng.random() < self.drop else None
            threading.Thread(target=self._pipe_pair, args=(client, budget), daemon=True).start()

    def _pipe_pair(self, client: socket.socket, budget: int | None) -> None:
        upstream = socket.create_connection(self.upstream)
        state = {"left": budget}
        lock = threading.Lock()

        def cut() -> None:
            for s in (client, upstream):
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                    s.close()
                except OSError:
                    pass

        def pipe(src: socket.socket, dst: socket.socket) -> None:
            try:
                while True:
                    data = src.recv(16384)
                    if not data:
                        break
                    with lock:
                        if state["left"] is not None:
                            if len(data) >= state["left"]:
                                dst.sendall(data[: state["left"]])
                                self.cuts += 1
                                cut()
                                return
                            state["left"] -= len(data)
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        pipe(upstream, client)

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def photo(rng: random.Random) -> bytes:
    img = Image.new("RGB", (800, 600), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(300):
        x, y = rng.randrange(800), rng.randrange(600)
        img.putpixel((x, y), tuple(rng.randrange(256) for _ in range(3)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def run(visits: int = 200, drop: float = 0.35, seed: int = 7) -> dict:
    import sqlalchemy as sa

    from fieldwork.extensions import db
    from fieldwork.photos.models import Photo
    from fieldwork.visits.models import Visit

    rng = random.Random(seed)  # noqa: S311 - reproducible chaos, not secrets
    app = make_app()
    places = seed_places(app)
    helper = seed_user(app, "chaos-helper", "helper", places["street"])
    households = seed_households(app, 50, places["communities"], helper)
    outbox = []
    base_time = datetime.now(UTC) - timedelta(hours=3)
    for i in range(visits):
        photos = {str(uuid.uuid4()): photo(rng) for _ in range(2)}
        import hashlib

        record = {
            "type": "visit", "id": str(uuid.uuid4()), "household_id": str(households[i % 50]),
            "visited_at": (base_time + timedelta(seconds=i)).isoformat(),
            "location": {"lat": 32.99, "lon": 112.54, "accuracy_m": 15, "source": "gps"},
            "answers": {"present": "户主", "household_income": 1000,
                        **{f"{d}_status": "ok" for d in ("income", "housing", "education",
                                                         "medical", "employment", "elderly")}},
            "notes": "", "supersedes": None,
            "photos": [{"id": pid, "sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)}
                       for pid, b in photos.items()],
        }
        outbox.append(OutboxEntry(record, photos))
    started = time.monotonic()
    with serving(app) as url:
        port = int(url.rsplit(":", 1)[1])
        proxy = DroppingProxy(port, drop, rng)
        client = SyncClient(f"http://127.0.0.1:{proxy.port}", timeout=10)
        for _ in range(50):
            try:
                client.login("chaos-helper", PASSWORD)
                break
            except Exception:  # noqa: BLE001, S112 - the proxy may cut the login too
                continue
        # Small batches so that drops hit pushes, uploads and answers alike.
        stats = client.drain(outbox, "chaos-device", batch=20, max_seconds=600)
        proxy.close()
    elapsed = time.monotonic() - started
    with app.app_context():
        n_visits = db.session.scalar(sa.select(sa.func.count(Visit.id)))
        n_photos = db.session.scalar(sa.select(sa.func.count(Photo.id)).where(
            Photo.stored_at.is_not(None)))
        declared = db.session.scalar(sa.select(sa.func.count(Photo.id)))
        distinct_hashes = db.session.scalar(sa.select(sa.func.count(sa.distinct(
            Photo.upload_sha256))))
    return {"visits": n_visits, "photos": n_photos, "photo_rows": declared,
            "distinct_photo_hashes": distinct_hashes, "retries": stats["retries"],
            "connections": proxy.connections, "cut": proxy.cuts, "seconds": round(elapsed, 1),
            "expected_visits": visits, "expected_photos": 2 * visits}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--visits", type=int, default=200)
    parser.add_argument("--drop", type=float, default=0.35)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    r = run(args.visits, args.drop, args.seed)
    ok = (r["visits"] == r["expected_visits"] and r["photos"] == r["expected_photos"]
          and r["photo_rows"] == r["expected_photos"]
          and r["distinct_photo_hashes"] == r["expected_photos"])
    print(f"connections {r['connections']}, cut {r['cut']}, client retries {r['retries']}, "
          f"{r['seconds']} s")
    print(f"server: {r['visits']} visits (expected {r['expected_visits']}), "
          f"{r['photos']} photos stored (expected {r['expected_photos']}), "
          f"{r['photo_rows']} photo rows, {r['distinct_photo_hashes']} distinct photos")
    print("BENCH_JSON " + json.dumps({"figures": [
        {"name": "dropped-connection run: visits stored / sent", "value": r["visits"],
         "unit": f"of {r['expected_visits']}", "target": f"= {r['expected_visits']}",
         "met": r["visits"] == r["expected_visits"]},
        {"name": "dropped-connection run: photos stored / sent", "value": r["photos"],
         "unit": f"of {r['expected_photos']}", "target": f"= {r['expected_photos']}, none twice",
         "met": ok},
        {"name": "dropped-connection run: connections cut", "value": r["cut"],
         "unit": f"of {r['connections']}", "target": "info", "met": True},
    ]}, ensure_ascii=False))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
