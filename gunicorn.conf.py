"""gunicorn settings for fieldwork in production: `make serve-prod`, or
`gunicorn -c gunicorn.conf.py app:app` (see docs/operations.md).

Environment: HOST, PORT (bind address; 127.0.0.1:8000 behind nginx), FIELDWORK_WORKERS
(default 2 x cores + 1, at most 8), FIELDWORK_THREADS (threads per worker, default 4),
FIELDWORK_TIMEOUT (seconds, default 180), FIELDWORK_LOG_LEVEL (default info).
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int, low: int = 1, high: int = 64) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise SystemExit(f"{name} must be between {low} and {high}, not {value}")
    return value


_cores = multiprocessing.cpu_count()

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"

# Processes for CPU (Jinja, Pillow), threads for waiting (database, phones on slow links).
# Each worker holds its own SQLAlchemy pool: workers x threads must stay well under
# PostgreSQL's max_connections summed over all app servers.
workers = _int("FIELDWORK_WORKERS", min(2 * _cores + 1, 8))
worker_class = "gthread"
threads = _int("FIELDWORK_THREADS", 4)

# Every worker builds its own app (and database engine, photo-store client): nothing is shared
# across fork, and a worker that dies takes nothing with it.
preload_app = False

# A 15 MB photo over a weak 2G/3G link (~100 KB/s) takes about 150 s; nginx buffers uploads
# before passing them on, but without it the worker thread reads the body itself.
timeout = _int("FIELDWORK_TIMEOUT", 180, 10, 3600)
graceful_timeout = 30
keepalive = 5

# Recycle workers now and then so slow leaks (Pillow buffers, caches) cannot grow forever.
max_requests = 2000
max_requests_jitter = 200

# A 15 MB body is accepted by the app (MAX_CONTENT_LENGTH); headers stay small.
limit_request_line = 8190
limit_request_fields = 100

# Heartbeat files on tmpfs, as gunicorn advises: a slow disk cannot stall the workers.
SHM = "/dev/shm"  # noqa: S108 - not a temporary file of ours
if os.path.isdir(SHM):
    worker_tmp_dir = SHM

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("FIELDWORK_LOG_LEVEL", "info")
# Path without the query string (search words may be names), status, bytes, time taken in ms.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
proc_name = "fieldwork"

# gunicorn ≥ 24 opens a control socket at ~/.gunicorn/gunicorn.ctl: a second instance on the
# same account (another county, a benchmark) would fight over it. Signals do the same job
# (systemctl reload = HUP); see docs/operations.md.
control_socket_disable = True
