"""A second, independent client of the sync protocol (SYNC-PROTOCOL.md), written from the
document alone: log in, push records from an outbox, upload their photos, retry on any
network failure. Used by the sync benchmarks and the dropped-connection run."""

from __future__ import annotations

import hashlib
import http.client
import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field


class Retry(Exception):
    """The network failed; try again later."""


@dataclass
class OutboxEntry:
    record: dict
    photos: dict[str, bytes]  # photo id -> bytes
    accepted: bool = False
    stored: set[str] = field(default_factory=set)

    @property
    def done(self) -> bool:
        return self.accepted and self.stored >= set(self.photos)


class SyncClient:
    def __init__(self, base: str, *, timeout: float = 20) -> None:
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.timeout = timeout
        self.csrf = ""

    def _open(self, req: urllib.request.Request):
        try:
            return self.opener.open(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            return exc
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError,
                OSError) as exc:
            raise Retry(str(exc)) from exc

    def _read(self, resp) -> tuple[int, bytes]:
        try:
            return resp.status if hasattr(resp, "status") else resp.code, resp.read()
        except (http.client.HTTPException, ConnectionError, TimeoutError, OSError) as exc:
            raise Retry(str(exc)) from exc

    def login(self, username: str, password: str) -> None:
        status, page = self._read(self._open(urllib.request.Request(self.base + "/login")))
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page)
        if token is None:
            token = re.search(rb'name="csrf-token" content="([^"]+)"', page)
        data = urllib.parse.urlencode({"username": username, "password": password,
                                       "csrf_token": token.group(1).decode()}).encode()
        self._read(self._open(urllib.request.Request(self.base + "/login", data=data)))
        self.session()

    def session(self) -> dict:
        status, body = self._read(self._open(urllib.request.Request(
            self.base + "/api/sync/v1/session")))
        if status != 200:
            raise RuntimeError(f"session: HTTP {status}")
        data = json.loads(body)
        self.csrf = data["csrf_token"]
        return data

    def pull(self, since: str | None = None) -> tuple[dict, int]:
        url = self.base + "/api/sync/v1/pull" + (f"?since={since}" if since else "")
        status, body = self._read(self._open(urllib.request.Request(
            url, headers={"Accept-Encoding": "identity"})))
        if status != 200:
            raise Retry(f"pull: HTTP {status}")
        return json.loads(body), len(body)

    def push(self, records: list[dict], device_id: str) -> list[dict]:
        body = json.dumps({"device_id": device_id, "records": records}).encode()
        req = urllib.request.Request(self.base + "/api/sync/v1/push", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "X-CSRFToken": self.csrf})
        status, raw = self._read(self._open(req))
        if status != 200:
            raise Retry(f"push: HTTP {status}")
        return json.loads(raw)["results"]

    def put_photo(self, photo_id: str, data: bytes) -> int:
        req = urllib.request.Request(
            f"{self.base}/api/sync/v1/photos/{photo_id}", data=data, method="PUT",
            headers={"Content-Type": "image/jpeg", "X-CSRFToken": self.csrf,
                     "X-Content-SHA256": hashlib.sha256(data).hexdigest()})
        status, _ = self._read(self._open(req))
        if status >= 500:
            raise Retry(f"photo: HTTP {status}")
        return status

    def drain(self, outbox: list[OutboxEntry], device_id: str, *, batch: int = 100,
              max_seconds: float = 600) -> dict[str, int]:
        """Send everything, in order, retrying after failures until done (bounded in time)."""
        started = time.monotonic()
        retries = 0
        while not all(e.done for e in outbox):
            if time.monotonic() - started > max_seconds:
                raise TimeoutError("outbox not drained in time")
            try:
                pending = [e for e in outbox if not e.accepted]
                for i in range(0, len(pending), batch):
                    chunk = pending[i:i + batch]
                    results = {r["id"]: r for r in self.push([e.record for e in chunk], device_id)}
                    for e in chunk:
                        r = results[e.record["id"]]
                        if r["status"] == "rejected":
                            raise RuntimeError(f"rejected: {r}")
                        e.accepted = True
                        e.stored |= set(e.photos) - set(r["missing_photos"])
                for e in outbox:
                    for pid, data in e.photos.items():
                        if e.accepted and pid not in e.stored:
                            status = self.put_photo(pid, data)
                            if status in (200, 201):
                                e.stored.add(pid)
                            elif status == 404:
                                e.accepted = False  # push the record again first
                            else:
                                raise RuntimeError(f"photo {pid}: HTTP {status}")
            except Retry:
                retries += 1
                time.sleep(min(0.05 * retries, 0.5))
        return {"retries": retries}
