"""Address geocoding through geopy: pluggable, off by default (no network is assumed).

Chinese geocoders answer in GCJ-02 (AMap, Tencent) or BD-09 (Baidu); whatever comes back is
converted to WGS-84 before it is stored, and the household remembers the original system.

Configure with FIELDWORK_GEOCODER:
  ""                        off (default)
  "baidu"                   geopy's BaiduV3 (BD-09), key in FIELDWORK_GEOCODER_KEY
  "nominatim"               geopy's Nominatim (WGS-84)
  "package.module:Class"    any geopy Geocoder; its system in FIELDWORK_GEOCODER_CRS
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from flask import current_app
from geopy.exc import GeopyError
from geopy.geocoders.base import Geocoder

from fieldwork.places.coords import BD09, WGS84, normalize_crs, to_wgs84

BUILTIN = {
    "baidu": ("geopy.geocoders:BaiduV3", BD09),
    "nominatim": ("geopy.geocoders:Nominatim", WGS84),
}


class GeocodingError(Exception):
    """The geocoder is misconfigured or failed; the message says which."""


@dataclass(frozen=True)
class GeocodeResult:
    lat: float  # WGS-84
    lon: float
    source_crs: str
    address: str


def _load(spec: str) -> type[Geocoder]:
    module, _, name = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise GeocodingError(f"找不到地址解析器 {spec}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Geocoder)):
        raise GeocodingError(f"{spec} 不是 geopy 的地址解析器")
    return cls


def configured() -> tuple[Geocoder, str] | None:
    """The geocoder and its coordinate system, or None when geocoding is off."""
    cfg = current_app.config
    name = (cfg.get("GEOCODER") or "").strip()
    if not name:
        return None
    spec, crs = BUILTIN.get(name, (name, cfg.get("GEOCODER_CRS") or WGS84))
    kwargs: dict[str, Any] = {"timeout": cfg.get("GEOCODER_TIMEOUT", 5)}
    if cfg.get("GEOCODER_KEY"):
        kwargs["api_key"] = cfg["GEOCODER_KEY"]
    if name == "nominatim":
        kwargs["user_agent"] = "fieldwork"
    try:
        crs = normalize_crs(crs)
    except ValueError as exc:
        raise GeocodingError(str(exc)) from exc
    cls = _load(spec)
    try:
        return cls(**kwargs), crs
    except (TypeError, ValueError, GeopyError) as exc:
        # A missing FIELDWORK_GEOCODER_KEY (Baidu) or a key the geocoder does not take.
        message = f"地址解析器 {spec} 配置有误（请检查 FIELDWORK_GEOCODER_KEY）：{exc}"
        raise GeocodingError(message) from exc


def geocode(address: str) -> GeocodeResult | None:
    """WGS-84 point of an address, or None if geocoding is off or nothing was found."""
    setup = configured()
    if setup is None:
        return None
    geocoder, crs = setup
    try:
        found = geocoder.geocode(address)
    except GeopyError as exc:
        raise GeocodingError(f"地址解析失败：{exc}") from exc
    if found is None:
        return None
    lat, lon = to_wgs84(found.latitude, found.longitude, crs)
    return GeocodeResult(lat, lon, crs, getattr(found, "address", "") or address)
