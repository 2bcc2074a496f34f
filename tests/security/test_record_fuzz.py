"""Every field of every record type (visit, discovery report, photo declaration) and of the push
envelope, replaced by each value of a catalogue of hostile values: times that overflow when
converted to UTC, years no phone can mean, wrong JSON types, huge numbers, NaN and Infinity,
deep nesting, very long strings, NUL and lone surrogates, hostile keys. No input may answer
5xx, and the good record sent in the same batch is always stored (security audit, finding 5:
one hostile record used to fail the whole batch with a 500, which the phone retries forever,
so that the phone's outbox was blocked for good).

A hypothesis run then substitutes arbitrary JSON at arbitrary places of a record."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldwork.discovery.models import DiscoveryReport
from fieldwork.records import parse_uuid
from fieldwork.timeutil import now_utc
from fieldwork.visits.models import Visit
from tests.factories import answers, csrf_token, sha, visit_record

from .conftest import login

pytestmark = pytest.mark.usefixtures("fresh_g")


class Raw:
    """JSON text put into the body as it is (what json.dumps cannot write: NaN, lone
    surrogates, numbers of thousands of digits)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r})"


def nested(depth: int) -> Any:
    value: Any = "deep"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


HOSTILE: dict[str, Any] = {
    "far future, -14:00 (overflows UTC)": "9999-12-31T23:59:59-14:00",
    "year 1, +14:00 (overflows UTC)": "0001-01-01T00:00:00+14:00",
    "year 1": "0001-01-01T00:00:00Z",
    "year 9999": "9999-12-31T00:00:00Z",
    "no offset": "2026-11-20T15:04:00",
    "month 13": "2026-13-01T00:00:00Z",
    "offset 24h": "2026-11-20T15:04:00+24:00",
    "not a time": "yesterday",
    "empty string": "",
    "blank": "   ",
    "object": {},
    "object with a key": {"a": 1},
    "list": [],
    "list of objects": [{"a": {"b": 1}}],
    "true": True,
    "false": False,
    "null": None,
    "zero": 0,
    "negative": -1,
    "fraction": 0.5,
    "2**31": 2**31,
    "2**63": 2**63,
    "10**30": 10**30,
    "-10**30": -(10**30),
    "5000 digits": Raw("9" * 5000),
    "1e400": Raw("1e400"),
    "NaN": Raw("NaN"),
    "Infinity": Raw("Infinity"),
    "-Infinity": Raw("-Infinity"),
    "nested 6 deep": nested(6),
    "nested 200 deep": nested(200),
    "long string": "长" * 100_000,
    "NUL": "a\x00b",
    "lone high surrogate": Raw('"a\\ud800b"'),
    "lone low surrogate": Raw('"\\udfff"'),
    "reversed surrogates": Raw('"\\udc00\\ud800"'),
    "outside the BMP": "𠮷\U0001F600",
    "RTL and zero-width": "\u202e\u200d\u200b",
    "SQL": "'; DROP TABLE visits; --",
    "HTML": "<script>alert(1)</script>",
    "a UUID": "8c6f4a52-7a4e-4d38-9b52-2f1c5a6e8d11",
    "digits": "123",
}
HOSTILE_KEYS = {
    "NUL key": "a\x00b",
    "long key": "k" * 100_000,
    "surrogate key": Raw('"\\ud800"'),
    "empty key": "",
}

FIELDS: dict[str, list[str]] = {
    "visit": [
        "", "type", "id", "household_id", "visited_at", "location", "location.lat",
        "location.lon", "location.accuracy_m", "location.captured_at", "location.source",
        "answers", "answers.present", "answers.income_status", "answers.income_note",
        "answers.housing_status", "answers.household_income", "answers.needs",
        "answers.measures_delivered", "answers.measures_delivered[0]", "answers.next_steps",
        "answers.unknown", "notes", "photos", "photos[0]", "photos[0].id", "photos[0].sha256",
        "photos[0].bytes", "photos[0].taken_at", "photos[0].caption", "supersedes",
    ],
    "discovery": [
        "", "type", "id", "region_id", "address", "reason", "location", "location.lat",
        "location.lon", "location.accuracy_m", "location.captured_at", "location.source",
        "answers", "answers.head_name", "answers.id_number", "answers.contact_phone",
        "answers.members_count", "answers.category", "answers.causes", "answers.causes[0]",
        "answers.unknown", "reported_at", "photos", "photos[0]", "photos[0].id",
        "photos[0].sha256", "photos[0].bytes", "photos[0].taken_at", "photos[0].caption",
    ],
}


def good_visit(scene) -> dict[str, Any]:
    data = b"photo"
    rec = visit_record(str(scene.hh_a.id))
    rec["location"]["captured_at"] = (now_utc() - timedelta(hours=1)).isoformat()
    rec["answers"] = answers(income_note="", needs="", next_steps="",
                             measures_delivered=[scene.measure_a.id])
    rec["photos"] = [{"id": str(uuid.uuid4()), "sha256": sha(data), "bytes": len(data),
                      "taken_at": (now_utc() - timedelta(hours=1)).isoformat(),
                      "caption": "门口"}]
    return rec


def good_discovery(scene) -> dict[str, Any]:
    data = b"photo"
    return {
        "type": "discovery", "id": str(uuid.uuid4()), "region_id": str(scene.world.community.id),
        "address": "东关街道发现路9号", "reason": "失业后无收入",
        "location": {"lat": 32.995, "lon": 112.541, "accuracy_m": 12,
                     "captured_at": (now_utc() - timedelta(hours=1)).isoformat(),
                     "source": "gps"},
        "answers": {"head_name": "新发现户", "contact_phone": "13700000000", "members_count": 3,
                    "category": "below_dibao", "causes": ["illness"]},
        "reported_at": (now_utc() - timedelta(hours=1)).isoformat(),
        "photos": [{"id": str(uuid.uuid4()), "sha256": sha(data), "bytes": len(data),
                    "taken_at": (now_utc() - timedelta(hours=1)).isoformat(),
                    "caption": "门口"}],
    }


GOOD = {"visit": good_visit, "discovery": good_discovery}
PUSHER = {"visit": "helper", "discovery": "community_worker"}
MODEL = {"visit": Visit, "discovery": DiscoveryReport}


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        name, _, index = part.partition("[")
        if name:
            steps.append(name)
        if index:
            steps.append(int(index.rstrip("]")))
    return steps


def substitute(record: dict[str, Any], path: str, value: Any) -> Any:
    """The record with the value at path ("" = the whole record)."""
    if not path:
        return value
    *parents, last = _steps(path)
    target: Any = record
    for step in parents:
        target = target[step]
    if isinstance(target, list):
        target[last] = value  # type: ignore[index]
    else:
        target[last] = value
    return record


def encode(body: Any) -> bytes:
    """JSON with each Raw value written as it is."""
    raws: dict[str, str] = {}

    def mark(value: Any) -> Any:
        if isinstance(value, Raw):
            key = f"@@raw{len(raws)}@@"
            raws[key] = value.text
            return key
        if isinstance(value, dict):
            return {(mark(k) if isinstance(k, Raw) else k): mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = json.dumps(mark(body), ensure_ascii=True)
    for key, raw in raws.items():
        text = text.replace(json.dumps(key), raw)
    return text.encode()


def post(client, token: str, body: Any):
    return client.post("/api/sync/v1/push", data=body if isinstance(body, bytes) else
                       encode(body), content_type="application/json",
                       headers={"X-CSRFToken": token})


def _as(client, scene, kind: str) -> str:
    login(client, scene.users[PUSHER[kind]])
    return csrf_token(client)


def _stored(db, kind: str, record_id: str) -> bool:
    db.session.expire_all()
    return db.session.get(MODEL[kind], record_id) is not None


@pytest.mark.parametrize("kind", ["visit", "discovery"])
def test_the_good_records_are_stored(client, db, scene, kind):
    """The baseline the fuzz relies on: the unaltered records are accepted."""
    token = _as(client, scene, kind)
    good = GOOD[kind](scene)
    response = post(client, token, {"device_id": "fuzz", "records": [good]})
    assert response.status_code == 200
    assert response.get_json()["results"][0]["status"] == "created", response.get_json()
    assert _stored(db, kind, good["id"])


CASES = [(kind, path) for kind, paths in FIELDS.items() for path in paths]


@pytest.mark.parametrize(("kind", "path"), CASES, ids=[f"{k}:{p or '<record>'}" for k, p in CASES])
def test_every_hostile_value_in_every_field_is_answered_per_record(client, db, scene, kind,
                                                                  path):
    token = _as(client, scene, kind)
    values = list(HOSTILE.items())
    if path.startswith("answers.") and path.count(".") == 1 and "[" not in path:
        values += [(f"key: {name}", ("key", key)) for name, key in HOSTILE_KEYS.items()]
    hostile: list[tuple[str, Any]] = []
    for name, value in values:
        record = GOOD[kind](scene)
        if isinstance(value, tuple) and value[0] == "key":
            record["answers"][value[1]] = "x"  # a hostile key beside the real answers
            hostile.append((name, record))
        else:
            hostile.append((name, substitute(record, path, value)))
    good = GOOD[kind](scene)
    body = {"device_id": "fuzz", "records": [r for _, r in hostile] + [good]}
    response = post(client, token, body)
    if response.status_code >= 500:
        # Find the culprits, one by one, for a useful message.
        culprits = [name for name, record in hostile if post(
            client, token, {"device_id": "fuzz", "records": [record]}).status_code >= 500]
        pytest.fail(f"{kind}.{path or '<record>'}: 5xx for {culprits}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    results = response.get_json()["results"]
    assert len(results) == len(hostile) + 1
    assert results[-1]["status"] == "created", (path, results[-1])
    assert _stored(db, kind, good["id"])
    for (name, record), result in zip(hostile, results, strict=False):
        assert result["status"] in ("created", "rejected"), (name, result)
        if result["status"] == "rejected":
            assert result["errors"] and all(isinstance(m, str) and m
                                            for m in result["errors"].values()), (name, result)
            record_id = parse_uuid(record.get("id")) if isinstance(record, dict) else None
            if record_id:
                assert not _stored(db, kind, record_id), (name, "rejected yet stored")


# What the audit found, answered exactly: rejected, the field named, the rest stored.
FINDINGS = [
    ("visit", "visited_at", "9999-12-31T23:59:59-14:00", "visited_at"),
    ("visit", "location.captured_at", "9999-12-31T23:59:59-14:00", "location.captured_at"),
    ("visit", "photos[0].taken_at", "9999-12-31T23:59:59-14:00", "photos[0].taken_at"),
    ("visit", "answers.household_income", Raw("NaN"), "answers.household_income"),
    ("visit", "answers.measures_delivered", [Raw("Infinity")],
     "answers.measures_delivered[0]"),
    ("visit", "location.lat", 10**400, "location"),
    ("discovery", "reported_at", "0001-01-01T00:00:00+14:00", "reported_at"),
    ("discovery", "photos[0].taken_at", "0001-01-01T00:00:00+14:00", "photos[0].taken_at"),
    ("discovery", "answers.causes", [{"illness": True}], "answers.causes"),
    ("discovery", "answers.causes", {"a": "b"}, "answers.causes"),
    ("discovery", "answers.members_count", Raw("1e400"), "answers.members_count"),
    ("discovery", "answers.head_name", "a\x00b", "answers.head_name"),
    ("discovery", "address", nested(20), "address"),
]


@pytest.mark.parametrize(("kind", "path", "value", "field"), FINDINGS,
                         ids=[f"{k}.{p}" for k, p, _v, _f in FINDINGS])
def test_the_audit_findings_are_rejected_per_record(client, db, scene, kind, path, value,
                                                    field):
    token = _as(client, scene, kind)
    bad = substitute(GOOD[kind](scene), path, value)
    good = GOOD[kind](scene)
    response = post(client, token, {"device_id": "fuzz", "records": [bad, good]})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    first, second = response.get_json()["results"]
    assert first["status"] == "rejected"
    assert any(k == field or k.startswith(field) for k in first["errors"]), first["errors"]
    assert second["status"] == "created"
    assert _stored(db, kind, good["id"]) and not _stored(db, kind, bad["id"])


# ---------------------------------------------------------------- the envelope

ENVELOPE = ["device_id", "sent_at", "records"]


@pytest.mark.parametrize("field", ENVELOPE)
def test_every_hostile_value_in_the_envelope_is_a_client_error_or_harmless(
        client, db, scene, field):
    """The envelope is the request as a whole: a bad one is a 400 naming the field and stores
    nothing; a harmless one (an emoji device id, a time no clock can mean) stores the record."""
    token = _as(client, scene, "visit")
    for name, value in HOSTILE.items():
        good = good_visit(scene)
        body: dict[str, Any] = {"device_id": "fuzz", "sent_at": now_utc().isoformat(),
                                "records": [good]}
        body[field] = value
        response = post(client, token, body)
        assert response.status_code < 500, (name, response.get_data(as_text=True)[:300])
        if response.status_code == 200:
            if field != "records":
                assert response.get_json()["results"][0]["status"] == "created", name
                assert _stored(db, "visit", good["id"]), name
        else:
            assert response.status_code == 400, name
            error = response.get_json()["error"]
            assert error["message"], name
            assert field in (error.get("fields") or {}), (name, error)
            assert not _stored(db, "visit", good["id"]), name


def test_a_push_with_a_far_future_sent_at_still_stores_its_records(client, db, scene):
    """Finding 5: sent_at 9999-12-31T23:59:59-14:00 failed the whole batch with a 500."""
    token = _as(client, scene, "visit")
    good = good_visit(scene)
    response = post(client, token, {"device_id": "fuzz", "sent_at": "9999-12-31T23:59:59-14:00",
                                    "records": [good]})
    assert response.status_code == 200
    assert response.get_json()["results"][0]["status"] == "created"
    assert _stored(db, "visit", good["id"])


def test_a_hostile_body_is_a_client_error(client, scene):
    token = _as(client, scene, "visit")
    for name, value in HOSTILE.items():
        response = post(client, token, value)
        assert response.status_code == 400, (name, response.get_data(as_text=True)[:300])
        assert response.get_json()["error"]["message"], name


# ---------------------------------------------------------------- arbitrary JSON

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=12,
)


@pytest.mark.parametrize("kind", ["visit", "discovery"])
def test_arbitrary_json_anywhere_in_a_record_never_fails_the_batch(client, db, scene, kind):
    token = _as(client, scene, kind)
    problems: list[str] = []

    @settings(max_examples=60, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(FIELDS[kind]), value=json_values)
    def run(path, value):
        bad = substitute(GOOD[kind](scene), path, value)
        good = GOOD[kind](scene)
        body = json.dumps({"device_id": "fuzz", "records": [bad, good]}, allow_nan=True)
        response = post(client, token, body.encode())
        results = response.get_json().get("results") if response.status_code == 200 else None
        if response.status_code != 200 or results[-1]["status"] != "created":
            problems.append(f"{path} = {value!r}: {response.status_code} "
                            f"{response.get_data(as_text=True)[:200]}")

    run()
    assert not problems, "\n".join(problems[:10])
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MODEL[kind])) >= 60


# ---------------------------------------------------------------- the one time parser

@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-20T15:04:00+08:00", "2026-11-20T07:04:00+00:00"),
    ("2026-11-20T15:04:00.123Z", "2026-11-20T15:04:00.123000+00:00"),
    ("2026-11-20T15:04+08:00", "2026-11-20T07:04:00+00:00"),       # ISO 8601, no seconds
    ("2026-11-20 15:04:00+0800", "2026-11-20T07:04:00+00:00"),
    ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00+00:00"),           # a phone's reset clock
    ("2026-11-20T15:04:00", None), ("2026-11-20", None), ("yesterday", None),
    ("9999-12-31T23:59:59-14:00", None), ("0001-01-01T00:00:00+14:00", None),
    ("2026-11-20T15:04:00+24:00", None), (" 2026-11-20T15:04:00Z", None), (20261120, None),
])
def test_times_are_parsed_in_one_place_without_overflow(text, expected):
    from fieldwork.records import parse_time

    parsed = parse_time(text)
    assert (parsed.isoformat() if parsed else None) == expected
