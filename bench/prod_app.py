"""The WSGI app the benchmarks serve with gunicorn (``gunicorn -c gunicorn.conf.py
--pythonpath bench prod_app:app``): the production app, plus the benchmark's instance folder and
rate-limit key prefix from the environment.

It makes sure /healthz and compression are on even before create_app registers them itself
(init_health and init_static_delivery do nothing the second time), and says which was the case
in ``app.extensions["bench_wired_by_create_app"]``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fieldwork import create_app  # noqa: E402
from fieldwork.health import init_health  # noqa: E402
from fieldwork.static_delivery import init_static_delivery  # noqa: E402

config: dict = {}
if os.environ.get("BENCH_INSTANCE"):
    config["INSTANCE_PATH"] = os.environ["BENCH_INSTANCE"]
if os.environ.get("BENCH_RATELIMIT_PREFIX"):
    config["RATELIMIT_KEY_PREFIX"] = os.environ["BENCH_RATELIMIT_PREFIX"]
if os.environ.get("BENCH_RATELIMIT") == "0":
    config["RATELIMIT_ENABLED"] = False

app = create_app(config, exit_on_error=True)
wired = {"health": "health" in app.blueprints,
         "compression": "fieldwork_static_delivery" in app.extensions}
init_static_delivery(app)
init_health(app)
app.extensions["bench_wired_by_create_app"] = wired
