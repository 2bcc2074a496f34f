"""The shared test builders do what the tests that use them count on: the photos decode at the
size asked for and different seeds are different photos to the reuse check, and a built visit
record is one the server's own parser accepts."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from fieldwork.photos.pipeline import dhash, hamming
from fieldwork.photos.services import REUSE_DISTANCE
from fieldwork.visits.services import parse_visit_record
from tests.factories import (
    answers,
    camera_jpeg,
    jpeg,
    photo_declaration,
    photo_jpeg,
    sha,
    visit_record,
)


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(("data", "size"), [
    (jpeg(), (640, 480)),
    (jpeg((200, 80, 40), (64, 48), quality=80, dot_every=None), (64, 48)),
    (photo_jpeg(7), (320, 240)),
    (photo_jpeg(size=(800, 600), blocks=20, block=(120, 90)), (800, 600)),
    (camera_jpeg(3), (1200, 900)),
])
def test_photos_are_jpegs_of_the_size_asked_for(data, size):
    image = decoded(data)
    assert image.format == "JPEG"
    assert image.size == size


def test_the_same_inputs_give_the_same_bytes_and_the_dots_show():
    assert photo_jpeg(5) == photo_jpeg(5)
    assert camera_jpeg(5) == camera_jpeg(5)
    brightest_dotted = decoded(jpeg()).convert("L").getextrema()[1]
    brightest_plain = decoded(jpeg(dot_every=None)).convert("L").getextrema()[1]
    assert brightest_dotted > brightest_plain + 20


@pytest.mark.parametrize("make", [
    lambda seed: photo_jpeg(seed),
    lambda seed: camera_jpeg(seed),
    lambda seed: camera_jpeg(seed, (3000, 2000), shapes=12, widths=(200, 1500),
                             heights=(200, 1000)),
])
def test_different_seeds_are_different_photos_to_the_reuse_check(make):
    hashes = [dhash(decoded(make(seed))) for seed in (1, 2, 3)]
    for i, a in enumerate(hashes):
        for b in hashes[i + 1:]:
            assert hamming(a, b) > REUSE_DISTANCE


def test_answers_replace_add_and_leave_out():
    out = answers(household_income=900, needs="申请廉租房", present=None)
    assert out["household_income"] == 900 and out["needs"] == "申请廉租房"
    assert "present" not in out
    assert {f"{d}_status" for d in ("income", "elderly")} <= set(out)


def test_a_visit_record_is_what_the_server_parses(app):
    data = photo_jpeg(9)
    raw = visit_record("17", photos=[data, ("3f1c2a8e-4b5d-4e6f-8a7b-9c0d1e2f3a4b", data)],
                       notes="门口见面")
    assert raw["photos"][0] == photo_declaration(data, raw["photos"][0]["id"])
    assert raw["photos"][1]["id"] == "3f1c2a8e-4b5d-4e6f-8a7b-9c0d1e2f3a4b"
    assert raw["photos"][1]["sha256"] == sha(data)
    with app.test_request_context():
        record = parse_visit_record(raw, device_id="phone-1")
    assert record.household_id == 17
    assert record.notes == "门口见面"
    assert [p.id for p in record.photos] == [p["id"] for p in raw["photos"]]
    assert record.location is not None and record.location.accuracy_m == 12
