"""Coordinate reference systems used in China (WGS-84, GCJ-02, BD-09) and distances.

Browser / GPS geolocation yields WGS-84. Maps and geocoders licensed in mainland China
(AMap/Gaode, Tencent) use GCJ-02, an obfuscated datum offset by a few hundred metres; Baidu adds
a second offset on top of GCJ-02 (BD-09). Everything stored by fieldwork is WGS-84; use
:func:`to_wgs84` on anything that came from a Chinese map or geocoder.

All functions take and return ``(lat, lon)`` in decimal degrees. Outside China (the rectangular
``out_of_china`` test used by the original algorithm and most open-source ports) no offset is
applied: GCJ-02 and BD-09 equal WGS-84 there, which also matches Baidu's overseas behaviour.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from geopy.distance import geodesic

WGS84 = "wgs84"
GCJ02 = "gcj02"
BD09 = "bd09"

#: ``(value, label)`` pairs suitable for form select fields.
CRS_CHOICES: tuple[tuple[str, str], ...] = (
    (WGS84, "WGS-84（GPS / 浏览器定位）"),
    (GCJ02, "GCJ-02（高德 / 腾讯地图）"),
    (BD09, "BD-09（百度地图）"),
)

# Krasovsky 1940 ellipsoid parameters used by the GCJ-02 algorithm.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323

# Baidu's constants: x_pi = pi * 3000 / 180 and the fixed BD-09 shift.
_X_PI = math.pi * 3000.0 / 180.0
_BD_DLAT = 0.006
_BD_DLON = 0.0065

# Iterative inverses stop when the forward image is within this many degrees of the target
# (1e-10 degrees is about 0.01 mm, far below the required 0.01 m).
_INVERSE_EPS_DEG = 1e-10
_INVERSE_MAX_ITER = 30

_CRS_ALIASES = {
    "wgs84": WGS84,
    "wgs": WGS84,
    "gps": WGS84,
    "gcj02": GCJ02,
    "gcj": GCJ02,
    "bd09": BD09,
    "bd09ll": BD09,
    "bd": BD09,
}


def out_of_china(lat: float, lon: float) -> bool:
    """Return True if the point lies outside the rectangle where GCJ-02 offsets apply."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _gcj_delta(lat: float, lon: float) -> tuple[float, float]:
    """Return the GCJ-02 offset (dlat, dlon) in degrees for a WGS-84 point (no China check)."""
    x = lon - 105.0
    y = lat - 35.0
    common = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat_m = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * math.sqrt(abs(x))
        + common
        + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
        + (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    )
    dlon_m = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * math.sqrt(abs(x))
        + common
        + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
        + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    )
    rad_lat = math.radians(lat)
    magic = 1.0 - _GCJ_EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat_m * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon_m * 180.0) / (_GCJ_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return dlat, dlon


def _wgs_to_gcj_raw(lat: float, lon: float) -> tuple[float, float]:
    """Apply the GCJ-02 offset unconditionally."""
    dlat, dlon = _gcj_delta(lat, lon)
    return lat + dlat, lon + dlon


def _gcj_to_bd_raw(lat: float, lon: float) -> tuple[float, float]:
    """Apply the BD-09 transform to a GCJ-02 point unconditionally."""
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.sin(theta) + _BD_DLAT, z * math.cos(theta) + _BD_DLON


def _bd_to_gcj_approx(lat: float, lon: float) -> tuple[float, float]:
    """Baidu's published closed-form approximate BD-09 to GCJ-02 inverse."""
    x = lon - _BD_DLON
    y = lat - _BD_DLAT
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.sin(theta), z * math.cos(theta)


def _invert(
    forward: Callable[[float, float], tuple[float, float]],
    target_lat: float,
    target_lon: float,
    start: tuple[float, float],
) -> tuple[float, float]:
    """Solve forward(p) == target by fixed-point iteration from start (offsets vary slowly)."""
    lat, lon = start
    for _ in range(_INVERSE_MAX_ITER):
        f_lat, f_lon = forward(lat, lon)
        err_lat = f_lat - target_lat
        err_lon = f_lon - target_lon
        if abs(err_lat) < _INVERSE_EPS_DEG and abs(err_lon) < _INVERSE_EPS_DEG:
            break
        lat -= err_lat
        lon -= err_lon
    return lat, lon


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """Convert WGS-84 to GCJ-02 (identity outside China)."""
    if out_of_china(lat, lon):
        return lat, lon
    return _wgs_to_gcj_raw(lat, lon)


def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """Convert GCJ-02 to WGS-84 with an iterative inverse accurate to well under 1 cm."""
    if out_of_china(lat, lon):
        return lat, lon
    dlat, dlon = _gcj_delta(lat, lon)
    return _invert(_wgs_to_gcj_raw, lat, lon, (lat - dlat, lon - dlon))


def gcj02_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    """Convert GCJ-02 to BD-09 (identity outside China)."""
    if out_of_china(lat, lon):
        return lat, lon
    return _gcj_to_bd_raw(lat, lon)


def bd09_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """Convert BD-09 to GCJ-02, refining Baidu's closed-form inverse iteratively."""
    if out_of_china(lat, lon):
        return lat, lon
    return _invert(_gcj_to_bd_raw, lat, lon, _bd_to_gcj_approx(lat, lon))


def wgs84_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    """Convert WGS-84 to BD-09 (identity outside China)."""
    if out_of_china(lat, lon):
        return lat, lon
    return _gcj_to_bd_raw(*_wgs_to_gcj_raw(lat, lon))


def bd09_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """Convert BD-09 to WGS-84 (identity outside China)."""
    if out_of_china(lat, lon):
        return lat, lon
    return gcj02_to_wgs84(*bd09_to_gcj02(lat, lon))


def normalize_crs(crs: str) -> str:
    """Return the canonical CRS name for crs (case/punctuation-insensitive) or raise ValueError."""
    key = str(crs or "").strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    try:
        return _CRS_ALIASES[key]
    except KeyError:
        raise ValueError(f"不支持的坐标系：{crs!r}（应为 wgs84、gcj02 或 bd09）") from None


def validate_lat_lon(lat: float | str, lon: float | str) -> tuple[float, float]:
    """Check lat/lon are finite and in range; return them as floats or raise ValueError."""
    values = []
    for name, value, limit in (("纬度", lat, 90.0), ("经度", lon, 180.0)):
        if isinstance(value, bool):
            raise ValueError(f"{name}必须是数字")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}必须是数字") from None
        if not math.isfinite(number):
            raise ValueError(f"{name}必须是有限的数值")
        if not -limit <= number <= limit:
            raise ValueError(f"{name}超出范围（应在 -{limit:g} 到 {limit:g} 之间）")
        values.append(number)
    return values[0], values[1]


def to_wgs84(lat: float, lon: float, crs: str) -> tuple[float, float]:
    """Validate a point given in crs and return it converted to WGS-84."""
    canonical = normalize_crs(crs)
    lat, lon = validate_lat_lon(lat, lon)
    if canonical == GCJ02:
        return gcj02_to_wgs84(lat, lon)
    if canonical == BD09:
        return bd09_to_wgs84(lat, lon)
    return lat, lon


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the geodesic distance in metres between two WGS-84 points."""
    return float(geodesic((lat1, lon1), (lat2, lon2), ellipsoid="WGS-84").meters)
