"""Run fieldwork the production way for a benchmark: gunicorn with gunicorn.conf.py on a free
loopback port, access log to a file, ready when /healthz answers 200; and a byte-counting TCP
proxy in front of it (what goes over the wire, headers included)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn -c gunicorn.conf.py prod_app:app on 127.0.0.1, stopped on exit."""

    def __init__(self, database_url: str, instance: Path, *, workers: int | None = None,
                 threads: int | None = None, env: dict[str, str] | None = None,
                 log_dir: Path | None = None, ready_timeout: float = 60) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.instance = Path(instance)
        self.log_dir = Path(log_dir or instance)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.access_log = self.log_dir / f"access-{self.port}.log"
        self.error_log = self.log_dir / f"error-{self.port}.log"
        self.ready_timeout = ready_timeout
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "BENCH_INSTANCE": str(self.instance),
            "FIELDWORK_PHOTO_DIR": str(self.instance / "photos"),
            # Production settings but plain HTTP on loopback: "production" would mark cookies
            # Secure, which a client on http://127.0.0.1 may not send back.
            "FIELDWORK_ENV": "development",
            "FIELDWORK_DEMO": "0",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
            **({"FIELDWORK_WORKERS": str(workers)} if workers else {}),
            **({"FIELDWORK_THREADS": str(threads)} if threads else {}),
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        self.access_log.write_text("")
        self.proc = subprocess.Popen(
            [str(GUNICORN), "-c", str(ROOT / "gunicorn.conf.py"), "--pythonpath",
             f"{ROOT / 'bench'},{ROOT}", "--access-logfile", str(self.access_log),
             "--error-logfile", str(self.error_log), "prod_app:app"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + self.ready_timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + self.error_log.read_text()[-2000:])
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=5) as resp:
                    if resp.status == 200:
                        self.health = json.loads(resp.read())
                        return self
            except urllib.error.HTTPError as exc:
                last = exc.read().decode(errors="replace")
            except OSError as exc:
                last = str(exc)
            time.sleep(0.3)
        self.__exit__(None, None, None)
        raise RuntimeError(f"gunicorn not healthy in time: {last}")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                             text=True, check=False).stdout
        return [int(p) for p in out.split()]

    def log_size(self) -> int:
        return self.access_log.stat().st_size

    def log_since(self, offset: int) -> list[dict]:
        """Access-log entries written after byte offset: method, path, status, bytes, ms."""
        time.sleep(0.3)  # let the workers' log handlers flush
        with self.access_log.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", "replace")
        entries = []
        pattern = re.compile(r'"(\w+) (\S+) HTTP/[\d.]+" (\d{3}) (\d+|-) (\d+)ms')
        for line in text.splitlines():
            m = pattern.search(line)
            if m:
                entries.append({"method": m[1], "path": m[2], "status": int(m[3]),
                                "bytes": 0 if m[4] == "-" else int(m[4]), "ms": int(m[5])})
        return entries


class CountingProxy:
    """127.0.0.1:port → upstream; counts bytes in each direction (reset between phases)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.down = 0  # server → browser
        self.up = 0  # browser → server
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.down = self.up = 0

    def totals(self) -> tuple[int, int]:
        with self.lock:
            return self.down, self.up

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=30)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, downstream: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    if downstream:
                        self.down += len(data)
                    else:
                        self.up += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self.closed = True
        self.sock.close()
