"""Tests for fieldwork.places.coords (WGS-84 / GCJ-02 / BD-09 conversions and distances)."""

import itertools
import math

import pytest

from fieldwork.places.coords import (
    BD09,
    CRS_CHOICES,
    GCJ02,
    WGS84,
    bd09_to_gcj02,
    bd09_to_wgs84,
    distance_m,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    validate_lat_lon,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# Published WGS-84 -> GCJ-02 test vectors from googollee/eviltransform
# (go/transform_test.go, python/test.py, javascript/test.js). Those suites require the forward
# transform to match to 1e-6 degrees and the exact inverse to come back within 0.5 m.
EVILTRANSFORM_VECTORS = [
    # (wgs_lat, wgs_lon, gcj_lat, gcj_lon)
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]

# Example output published in the README of wandergis/coordtransform (npm "coordtransform"),
# input (lat 39.915, lon 116.404); the README prints [lon, lat], reordered here to (lat, lon).
CT_INPUT = (39.915, 116.404)
CT_BD09_TO_GCJ02 = (39.90865673957631, 116.39762729119315)
CT_GCJ02_TO_BD09 = (39.92133699351021, 116.41036949371029)
CT_WGS84_TO_GCJ02 = (39.91640428150164, 116.41024449916938)

# Tiananmen: WGS-84 (39.90734, 116.39089) <-> GCJ-02 (39.90874, 116.39713), the commonly cited
# pair (5 decimals, i.e. ~1 m rounding).
TIANANMEN_WGS = (39.90734, 116.39089)
TIANANMEN_GCJ = (39.90874, 116.39713)
# Baidu's JS API demos centre the map on BD-09 (39.915, 116.404), labelled 天安门; that is a
# point on the square, not the same survey point as above, hence only a landmark-level check.
BAIDU_TIANANMEN_BD = (39.915, 116.404)

# Nanyang prefecture (南阳市) bounding box used by the app.
NANYANG_LATS = [32.3 + i * 0.13 for i in range(11)]  # 32.3 .. 33.6
NANYANG_LONS = [111.4 + i * 0.21 for i in range(11)]  # 111.4 .. 113.5
NANYANG_GRID = list(itertools.product(NANYANG_LATS, NANYANG_LONS))

NANYANG_CENTRE = (32.999, 112.528)
WANCHENG_SEAT = (32.994, 112.540)  # 宛城区人民政府 area


def _dist(a, b):
    return distance_m(a[0], a[1], b[0], b[1])


def test_constants_and_choices():
    assert (WGS84, GCJ02, BD09) == ("wgs84", "gcj02", "bd09")
    assert [value for value, _label in CRS_CHOICES] == [WGS84, GCJ02, BD09]
    assert all(label for _value, label in CRS_CHOICES)


@pytest.mark.parametrize("wgs_lat,wgs_lon,gcj_lat,gcj_lon", EVILTRANSFORM_VECTORS)
def test_wgs84_to_gcj02_matches_eviltransform(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    lat, lon = wgs84_to_gcj02(wgs_lat, wgs_lon)
    assert lat == pytest.approx(gcj_lat, abs=1e-6)
    assert lon == pytest.approx(gcj_lon, abs=1e-6)
    assert _dist((lat, lon), (gcj_lat, gcj_lon)) < 1.0


@pytest.mark.parametrize("wgs_lat,wgs_lon,gcj_lat,gcj_lon", EVILTRANSFORM_VECTORS)
def test_gcj02_to_wgs84_matches_eviltransform_exact(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    back = gcj02_to_wgs84(gcj_lat, gcj_lon)
    # eviltransform's own "exact" bound is 0.5 m; the iterative inverse is far tighter.
    assert _dist(back, (wgs_lat, wgs_lon)) < 0.01


def test_coordtransform_readme_vectors():
    assert _dist(wgs84_to_gcj02(*CT_INPUT), CT_WGS84_TO_GCJ02) < 0.01
    assert _dist(gcj02_to_bd09(*CT_INPUT), CT_GCJ02_TO_BD09) < 0.01
    # coordtransform uses Baidu's closed-form (approximate) inverse; ours is refined, so allow
    # the ~5 cm approximation error of theirs.
    assert _dist(bd09_to_gcj02(*CT_INPUT), CT_BD09_TO_GCJ02) < 1.0


def test_tiananmen_gcj_pair():
    assert _dist(wgs84_to_gcj02(*TIANANMEN_WGS), TIANANMEN_GCJ) < 2.0
    assert _dist(gcj02_to_wgs84(*TIANANMEN_GCJ), TIANANMEN_WGS) < 2.0
    assert _dist(to_wgs84(*TIANANMEN_GCJ, GCJ02), TIANANMEN_WGS) < 2.0


def test_baidu_tiananmen_landmark():
    wgs = bd09_to_wgs84(*BAIDU_TIANANMEN_BD)
    # Same landmark (Tiananmen Square); different exact points, so a loose 100 m bound.
    assert _dist(wgs, TIANANMEN_WGS) < 100
    # The raw BD-09 value is over a kilometre away from the true position.
    assert _dist(BAIDU_TIANANMEN_BD, TIANANMEN_WGS) > 1000


@pytest.mark.parametrize("lat,lon", NANYANG_GRID)
def test_round_trips_over_nanyang(lat, lon):
    assert _dist(gcj02_to_wgs84(*wgs84_to_gcj02(lat, lon)), (lat, lon)) < 0.05
    assert _dist(bd09_to_wgs84(*wgs84_to_bd09(lat, lon)), (lat, lon)) < 0.05
    assert _dist(bd09_to_gcj02(*gcj02_to_bd09(lat, lon)), (lat, lon)) < 0.05
    assert _dist(to_wgs84(*wgs84_to_gcj02(lat, lon), GCJ02), (lat, lon)) < 0.05
    assert _dist(to_wgs84(*wgs84_to_bd09(lat, lon), BD09), (lat, lon)) < 0.05


def test_inverse_converges_below_one_centimetre():
    worst = max(
        _dist(wgs84_to_gcj02(*gcj02_to_wgs84(lat, lon)), (lat, lon)) for lat, lon in NANYANG_GRID
    )
    assert worst < 0.01


def test_iterative_inverse_beats_one_step_inverse():
    lat, lon = NANYANG_CENTRE
    gcj = wgs84_to_gcj02(lat, lon)
    crude = (2 * gcj[0] - wgs84_to_gcj02(*gcj)[0], 2 * gcj[1] - wgs84_to_gcj02(*gcj)[1])
    assert _dist(gcj02_to_wgs84(*gcj), (lat, lon)) < _dist(crude, (lat, lon))


@pytest.mark.parametrize("lat,lon", NANYANG_GRID[::7])
def test_offset_magnitude_in_nanyang(lat, lon):
    assert 100 < _dist(wgs84_to_gcj02(lat, lon), (lat, lon)) < 1000
    # BD-09 adds roughly another 0.5-1 km on top of GCJ-02.
    assert _dist(wgs84_to_bd09(lat, lon), (lat, lon)) > 100


@pytest.mark.parametrize(
    "lat,lon",
    [
        (51.5074, -0.1278),  # London
        (40.7128, -74.0060),  # New York
        (-33.8688, 151.2093),  # Sydney
        (35.6762, 139.6503),  # Tokyo (east of the 137.8347 E box edge)
        (0.0, 0.0),
        (60.0, 100.0),  # north of the box
    ],
)
def test_identity_outside_china(lat, lon):
    assert out_of_china(lat, lon)
    for func in (
        wgs84_to_gcj02,
        gcj02_to_wgs84,
        gcj02_to_bd09,
        bd09_to_gcj02,
        wgs84_to_bd09,
        bd09_to_wgs84,
    ):
        assert func(lat, lon) == (lat, lon)
    for crs in (WGS84, GCJ02, BD09):
        assert to_wgs84(lat, lon, crs) == (lat, lon)


def test_nanyang_is_in_china():
    assert not out_of_china(*NANYANG_CENTRE)


def test_to_wgs84_wgs_is_identity_and_accepts_aliases():
    assert to_wgs84(*NANYANG_CENTRE, WGS84) == NANYANG_CENTRE
    gcj = wgs84_to_gcj02(*NANYANG_CENTRE)
    for alias in ("GCJ02", "gcj-02", "GCJ_02", " gcj02 "):
        assert to_wgs84(*gcj, alias) == gcj02_to_wgs84(*gcj)
    assert to_wgs84(*NANYANG_CENTRE, "BD-09") == bd09_to_wgs84(*NANYANG_CENTRE)
    assert to_wgs84(*NANYANG_CENTRE, "WGS-84") == NANYANG_CENTRE


@pytest.mark.parametrize("crs", ["", "epsg:3857", "mercator", "cgcs2000", None])
def test_to_wgs84_unknown_crs(crs):
    with pytest.raises(ValueError, match="坐标系"):
        to_wgs84(*NANYANG_CENTRE, crs)


def test_to_wgs84_validates_input():
    with pytest.raises(ValueError, match="纬度"):
        to_wgs84(95.0, 112.5, WGS84)


def test_results_are_tuples_of_floats():
    for func in (wgs84_to_gcj02, gcj02_to_wgs84, wgs84_to_bd09, bd09_to_wgs84):
        result = func(*NANYANG_CENTRE)
        assert isinstance(result, tuple) and len(result) == 2
        assert all(isinstance(v, float) for v in result)


def test_distance_one_degree_latitude_near_33n():
    d = distance_m(32.5, 112.5, 33.5, 112.5)
    assert d == pytest.approx(110_900, abs=100)


def test_distance_nanyang_centre_to_wancheng():
    d = distance_m(*NANYANG_CENTRE, *WANCHENG_SEAT)
    assert 1_100 < d < 1_400


def test_distance_zero_and_symmetric():
    assert distance_m(*NANYANG_CENTRE, *NANYANG_CENTRE) == 0.0
    a = distance_m(*NANYANG_CENTRE, *WANCHENG_SEAT)
    b = distance_m(*WANCHENG_SEAT, *NANYANG_CENTRE)
    assert a == pytest.approx(b, abs=1e-6)
    assert isinstance(a, float)


def test_distance_uses_ellipsoid_not_sphere():
    # 1 degree of longitude at the equator is 111.32 km on WGS-84 vs 111.19 km on a sphere.
    assert distance_m(0, 0, 0, 1) == pytest.approx(111_319.5, abs=1)


@pytest.mark.parametrize(
    "lat,lon",
    [(0, 0), (90, 180), (-90, -180), (32.999, 112.528), ("33.0", "112.5"), (33, 112)],
)
def test_validate_lat_lon_accepts(lat, lon):
    result = validate_lat_lon(lat, lon)
    assert result == (float(lat), float(lon))
    assert all(isinstance(v, float) for v in result)


@pytest.mark.parametrize(
    "lat,lon,fragment",
    [
        (math.nan, 112.5, "纬度"),
        (33.0, math.inf, "经度"),
        (-math.inf, 112.5, "纬度"),
        (90.0001, 112.5, "纬度超出范围"),
        (-91, 112.5, "纬度超出范围"),
        (33.0, 180.5, "经度超出范围"),
        (33.0, -181, "经度超出范围"),
        (None, 112.5, "纬度必须是数字"),
        ("abc", 112.5, "纬度必须是数字"),
        (33.0, True, "经度必须是数字"),
    ],
)
def test_validate_lat_lon_rejects(lat, lon, fragment):
    with pytest.raises(ValueError, match=fragment):
        validate_lat_lon(lat, lon)
