"""Address geocoding: off unless configured, any geopy geocoder pluggable, and whatever datum
the geocoder answers in (GCJ-02 for AMap/Tencent, BD-09 for Baidu) stored as WGS-84."""

from __future__ import annotations

import pytest
from geopy.exc import GeocoderServiceError, GeocoderTimedOut
from geopy.geocoders.base import Geocoder
from geopy.location import Location
from geopy.point import Point

from fieldwork.places import coords, geocoding
from fieldwork.places.geocoding import GeocodeResult, GeocodingError, geocode

THIS = __name__  # the module as pytest imported it: importable by name through sys.modules

# One door in 宛城区, as WGS-84 and as Chinese maps give it.
WGS = (32.9961, 112.5423)
GCJ = coords.wgs84_to_gcj02(*WGS)
BD = coords.wgs84_to_bd09(*WGS)
ADDRESS = "南阳市宛城区东关街道建设路1号"


class FakeGeocoder(Geocoder):
    """A geopy geocoder answering from a table instead of the network."""

    answers: dict[str, tuple[float, float]] = {}
    created_with: dict = {}

    def __init__(self, api_key=None, **kwargs):
        super().__init__(**kwargs)
        type(self).created_with = {"api_key": api_key, **kwargs}

    def geocode(self, query, *, exactly_one=True, timeout=None):
        if query == "timeout":
            raise GeocoderTimedOut("slow")
        if query == "quota":
            raise GeocoderServiceError("配额已用完")
        found = self.answers.get(query)
        if found is None:
            return None
        return Location(f"{query}（解析结果）", Point(*found), {"query": query})


class FakeGcjGeocoder(FakeGeocoder):
    """Answers like AMap: GCJ-02."""

    answers = {ADDRESS: GCJ}


class FakeBdGeocoder(FakeGeocoder):
    """Answers like Baidu: BD-09."""

    answers = {ADDRESS: BD}


class NotAGeocoder:
    pass


class NeedsAKey(Geocoder):
    def __init__(self, api_key, **kwargs):
        super().__init__(**kwargs)


@pytest.fixture
def configure(app):
    def set_(geocoder: str, crs: str = "", key: str = "") -> None:
        app.config.update(GEOCODER=geocoder, GEOCODER_CRS=crs, GEOCODER_KEY=key)

    yield set_
    app.config.update(GEOCODER="", GEOCODER_CRS="", GEOCODER_KEY="")


def test_off_by_default(app):
    assert app.config["GEOCODER"] == ""
    assert geocoding.configured() is None
    assert geocode(ADDRESS) is None


@pytest.mark.parametrize("spec", [
    "no.such.module:Geocoder",
    f"{THIS}:Missing",
    f"{THIS}:NotAGeocoder",
    "os.path:join",
    "nonsense",
    f"{THIS}:NeedsAKey",  # configured without its key
    "baidu",  # Baidu needs FIELDWORK_GEOCODER_KEY
])
def test_a_bad_spec_is_a_geocoding_error(configure, spec):
    configure(spec)
    with pytest.raises(GeocodingError) as caught:
        geocode(ADDRESS)
    assert str(caught.value)


def test_an_unknown_crs_is_a_geocoding_error(configure):
    configure(f"{THIS}:FakeGcjGeocoder", crs="mercator")
    with pytest.raises(GeocodingError, match="坐标系"):
        geocode(ADDRESS)


def test_gcj02_answers_are_stored_as_wgs84(configure):
    configure(f"{THIS}:FakeGcjGeocoder", crs="gcj02", key="amap-key")
    result = geocode(ADDRESS)
    assert isinstance(result, GeocodeResult)
    assert result.source_crs == "gcj02"
    assert (result.lat, result.lon) == pytest.approx(coords.gcj02_to_wgs84(*GCJ), abs=1e-9)
    # The conversion matters: the raw answer is hundreds of metres off, the stored one is not.
    assert coords.distance_m(*GCJ, *WGS) > 100
    assert coords.distance_m(result.lat, result.lon, *WGS) < 0.05
    assert result.address == f"{ADDRESS}（解析结果）"
    assert FakeGcjGeocoder.created_with["api_key"] == "amap-key"


@pytest.mark.parametrize("spelling", ["GCJ-02", "gcj"])
def test_crs_spellings(configure, spelling):
    configure(f"{THIS}:FakeGcjGeocoder", crs=spelling)
    result = geocode(ADDRESS)
    assert result.source_crs == "gcj02"
    assert coords.distance_m(result.lat, result.lon, *WGS) < 0.05


def test_bd09_answers_are_stored_as_wgs84(configure):
    configure(f"{THIS}:FakeBdGeocoder", crs="bd09")
    result = geocode(ADDRESS)
    assert result.source_crs == "bd09"
    assert (result.lat, result.lon) == pytest.approx(coords.bd09_to_wgs84(*BD), abs=1e-9)
    assert coords.distance_m(*BD, *WGS) > 100
    assert coords.distance_m(result.lat, result.lon, *WGS) < 0.05


def test_a_custom_geocoder_without_crs_is_taken_as_wgs84(configure):
    configure(f"{THIS}:FakeGcjGeocoder")
    result = geocode(ADDRESS)
    assert result.source_crs == "wgs84"
    assert (result.lat, result.lon) == pytest.approx(GCJ, abs=1e-12)


def test_nothing_found_is_none(configure):
    configure(f"{THIS}:FakeGcjGeocoder", crs="gcj02")
    assert geocode("火星某地") is None


@pytest.mark.parametrize("query", ["timeout", "quota"])
def test_a_failing_geocoder_is_a_geocoding_error(configure, query):
    configure(f"{THIS}:FakeGcjGeocoder", crs="gcj02")
    with pytest.raises(GeocodingError, match="地址解析失败"):
        geocode(query)


def test_the_timeout_is_passed_on(app, configure):
    configure(f"{THIS}:FakeGcjGeocoder", crs="gcj02")
    app.config["GEOCODER_TIMEOUT"] = 2
    try:
        geocode(ADDRESS)
        assert FakeGcjGeocoder.created_with["timeout"] == 2
    finally:
        app.config.pop("GEOCODER_TIMEOUT")


def test_baidu_is_bd09(configure):
    configure("baidu", key="baidu-key")
    geocoder, crs = geocoding.configured()
    assert crs == "bd09"
    assert type(geocoder).__name__ == "BaiduV3"
