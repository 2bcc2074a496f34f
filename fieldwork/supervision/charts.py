"""Server-rendered SVG pictures for the supervision pages: pure functions from numbers to markup.

No JavaScript and no chart library: the SVG is part of the page, so it prints, works offline
and under the strict CSP (presentation attributes and CSS classes only, no inline style).
Every picture has a <title> and <desc>; the pages put the same numbers in a table beside it.

Maps use an equirectangular projection around the centre of the points (x = Δlon·cos φ0,
y = −Δlat), which at a county's scale is indistinguishable from Web Mercator; optional XYZ
raster tiles are each stretched onto their projected corners, so they line up with the points.
Coordinates come in WGS-84; a tile source in GCJ-02 (AMap/Gaode, Tencent) is honoured by
converting the points at this edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from markupsafe import Markup, escape

from fieldwork.places.coords import GCJ02, normalize_crs, wgs84_to_gcj02

# Metres in one degree of latitude on a sphere of the mean Earth radius (6371.0088 km).
M_PER_DEG = 111_195.0
# Web Mercator: metres per pixel of a 256-px tile at zoom 0 on the equator.
MERCATOR_M_PER_PX = 156_543.034
MAX_TILES = 30


def _f(v: float) -> str:
    """A coordinate with one decimal, without a trailing .0 (keeps big maps small)."""
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def level_class(rate: float | None) -> str:
    """Colour band of a compliance rate (the text always carries the number too)."""
    if rate is None:
        return "lvl-none"
    if rate >= 95:
        return "lvl-good"
    if rate >= 80:
        return "lvl-fair"
    return "lvl-poor"


def _open_svg(chart_id: str, title: str, desc: str, width: float, height: float,
              css: str) -> list[str]:
    return [
        f'<svg class="chart {css}" id="{escape(chart_id)}" viewBox="0 0 {_f(width)} '
        f'{_f(height)}" role="img" aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d"'
        f' xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(desc)}</desc>',
    ]


def _markup(parts: list[str]) -> Markup:
    # Every text and attribute value above went through escape() or is a formatted number.
    return Markup("".join(parts))  # noqa: S704


def _truncate(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


# ---------------------------------------------------------------- bar charts

@dataclass(frozen=True)
class Bar:
    """One bar: a percentage (None when there is nothing to measure) and how it reads."""

    label: str
    value: float | None
    text: str = ""  # e.g. "38/40": shown at the end of a horizontal bar, in the tooltip
    note: str = ""  # a second, smaller label line (the year under January)
    href: str | None = None


def trend_chart(bars: Sequence[Bar], *, chart_id: str, title: str, desc: str = "") -> Markup:
    """Vertical bars of a percentage over time (0–100 %), with gridlines at 0, 50 and 100."""
    width, height = 330.0, 190.0
    left, right, top, bottom = 34.0, 2.0, 16.0, 36.0
    plot_w, plot_h = width - left - right, height - top - bottom
    out = _open_svg(chart_id, title, desc, width, height, "chart-trend")
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        out.append(f'<line class="grid" x1="{_f(left)}" y1="{_f(y)}" x2="{_f(width - right)}" '
                   f'y2="{_f(y)}"/>')
        out.append(f'<text class="axis" x="{_f(left - 4)}" y="{_f(y + 4)}" '
                   f'text-anchor="end">{pct}%</text>')
    n = max(len(bars), 1)
    band = plot_w / n
    bar_w = min(band * 0.64, 28.0)
    for i, bar in enumerate(bars):
        cx = left + band * (i + 0.5)
        tip = f"{bar.label}{bar.note and ' ' + bar.note}：" + (
            f"{bar.value:.1f}%" if bar.value is not None else _("无应走访户"))
        if bar.text:
            tip += f"（{bar.text}）"
        out.append(f'<g class="bar {level_class(bar.value)}"><title>{escape(tip)}</title>')
        if bar.value is None:
            out.append(f'<text class="value" x="{_f(cx)}" y="{_f(top + plot_h - 4)}" '
                       f'text-anchor="middle">—</text>')
        else:
            value = max(0.0, min(100.0, bar.value))
            h = max(plot_h * value / 100, 1.0)
            y = top + plot_h - h
            out.append(f'<rect x="{_f(cx - bar_w / 2)}" y="{_f(y)}" width="{_f(bar_w)}" '
                       f'height="{_f(h)}" rx="2"/>')
            out.append(f'<text class="value" x="{_f(cx)}" y="{_f(y - 3)}" '
                       f'text-anchor="middle">{value:.0f}</text>')
        out.append(f'<text class="axis" x="{_f(cx)}" y="{_f(top + plot_h + 16)}" '
                   f'text-anchor="middle">{escape(bar.label)}</text>')
        if bar.note:
            out.append(f'<text class="axis axis-note" x="{_f(cx)}" y="{_f(top + plot_h + 30)}"'
                       f' text-anchor="middle">{escape(bar.note)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return _markup(out)


def hbar_chart(bars: Sequence[Bar], *, chart_id: str, title: str, desc: str = "") -> Markup:
    """Horizontal bars of a percentage, one row per place or helper, each row a link when
    it has an href."""
    width, row_h, top, axis_h = 320.0, 32.0, 6.0, 22.0
    label_w, value_w = 100.0, 58.0
    x0 = label_w + 4
    plot_w = width - x0 - value_w
    height = top + row_h * max(len(bars), 1) + axis_h
    out = _open_svg(chart_id, title, desc, width, height, "chart-hbar")
    bottom = top + row_h * max(len(bars), 1)
    for pct in (0, 50, 100):
        x = x0 + plot_w * pct / 100
        out.append(f'<line class="grid" x1="{_f(x)}" y1="{_f(top)}" x2="{_f(x)}" '
                   f'y2="{_f(bottom)}"/>')
        out.append(f'<text class="axis" x="{_f(x)}" y="{_f(bottom + 16)}" '
                   f'text-anchor="middle">{pct}%</text>')
    for i, bar in enumerate(bars):
        y = top + row_h * i
        tip = f"{bar.label}：" + (f"{bar.value:.1f}%" if bar.value is not None
                                 else _("无应走访户"))
        if bar.text:
            tip += f"（{bar.text}）"
        group = [f'<g class="bar {level_class(bar.value)}"><title>{escape(tip)}</title>',
                 f'<text class="label" x="{_f(label_w)}" y="{_f(y + row_h / 2 + 5)}" '
                 f'text-anchor="end">{escape(_truncate(bar.label, 7))}</text>']
        if bar.value is not None:
            w = max(plot_w * max(0.0, min(100.0, bar.value)) / 100, 1.0)
            group.append(f'<rect x="{_f(x0)}" y="{_f(y + 7)}" width="{_f(w)}" '
                         f'height="{_f(row_h - 14)}" rx="2"/>')
        value_text = f"{bar.value:.1f}%" if bar.value is not None else "—"
        group.append(f'<text class="value" x="{_f(width - 2)}" y="{_f(y + row_h / 2 + 5)}" '
                     f'text-anchor="end">{escape(value_text)}</text>')
        group.append("</g>")
        if bar.href:
            group = [f'<a href="{escape(bar.href)}">', *group, "</a>"]
        out.extend(group)
    out.append("</svg>")
    return _markup(out)


# ---------------------------------------------------------------- maps

class Projection:
    """Equirectangular projection of WGS-84 (or map-CRS) points into a width×height box,
    centred on the points' bounding box, north up, same scale on both axes."""

    def __init__(self, points: Iterable[tuple[float, float]], width: float, height: float,
                 pad: float = 14.0, min_extent_m: float = 200.0) -> None:
        pts = list(points)
        if not pts:
            raise ValueError("a map needs at least one point")
        lats = [p[0] for p in pts]
        lons = [p[1] for p in pts]
        self.lat0 = (min(lats) + max(lats)) / 2
        self.lon0 = (min(lons) + max(lons)) / 2
        self.k = math.cos(math.radians(self.lat0))
        ex = max((max(lons) - min(lons)) * self.k, min_extent_m / M_PER_DEG)
        ey = max(max(lats) - min(lats), min_extent_m / M_PER_DEG)
        self.width, self.height = width, height
        # SVG units per degree of latitude.
        self.scale = min((width - 2 * pad) / ex, (height - 2 * pad) / ey)

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (self.width / 2 + (lon - self.lon0) * self.k * self.scale,
                self.height / 2 - (lat - self.lat0) * self.scale)

    def latlon(self, x: float, y: float) -> tuple[float, float]:
        return (self.lat0 - (y - self.height / 2) / self.scale,
                self.lon0 + (x - self.width / 2) / (self.k * self.scale))

    @property
    def metres_per_unit(self) -> float:
        return M_PER_DEG / self.scale


def nice_length(max_m: float) -> float:
    """The longest 1/2/5×10ⁿ metres not above max_m (a scale bar's length)."""
    if max_m <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(max_m))
    for step in (5, 2, 1):
        if step * power <= max_m:
            return float(step * power)
    return float(power)


def distance_label(metres: float) -> str:
    if metres >= 1000:
        km = metres / 1000
        return _("%(n)s 公里", n=f"{km:.0f}" if km >= 10 or km == int(km) else f"{km:.1f}")
    return _("%(n)d 米", n=round(metres))


def _scale_bar(proj: Projection) -> str:
    length = nice_length(proj.width * 0.3 * proj.metres_per_unit)
    w = length / proj.metres_per_unit
    x, y = 10.0, proj.height - 10.0
    label = distance_label(length)
    return (f'<g class="scale-bar" aria-hidden="true"><rect class="scale-bg" x="{_f(x - 4)}" '
            f'y="{_f(y - 22)}" width="{_f(max(w, 50) + 8)}" height="28" rx="3"/>'
            f'<path class="scale-line" d="M{_f(x)} {_f(y - 4)}V{_f(y)}H{_f(x + w)}V{_f(y - 4)}"/>'
            f'<text class="scale-text" x="{_f(x)}" y="{_f(y - 6)}">{escape(label)}</text></g>')


def _tile_xy(lat: float, lon: float, z: int) -> tuple[float, float]:
    n = 2 ** z
    lat = max(min(lat, 85.05112878), -85.05112878)
    x = (lon + 180.0) / 360.0 * n
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return x, y


def _tile_corner(x: int, y: int, z: int) -> tuple[float, float]:
    n = 2 ** z
    lon = x / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))
    return lat, lon


def tile_url(template: str, z: int, x: int, y: int) -> str:
    # Always the "a" server: the Content-Security-Policy allows that one origin (security.py).
    return (template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
            .replace("{s}", "a"))


def tile_images(proj: Projection, template: str, max_tiles: int = MAX_TILES) -> list[str]:
    """<image> elements of the XYZ tiles covering the map, each stretched onto its projected
    corners. A tile that cannot load simply leaves the plain background."""
    north, west = proj.latlon(0, 0)
    south, east = proj.latlon(proj.width, proj.height)
    # Aim for about one tile pixel per 1.5 SVG units (the map is drawn 1–2× on screen).
    target = proj.metres_per_unit / 1.5
    z = round(math.log2(MERCATOR_M_PER_PX * math.cos(math.radians(proj.lat0)) / target))
    z = max(1, min(18, z))
    while True:
        x0, y0 = _tile_xy(north, west, z)
        x1, y1 = _tile_xy(south, east, z)
        xs = range(math.floor(x0), math.floor(x1) + 1)
        ys = range(math.floor(y0), math.floor(y1) + 1)
        if len(xs) * len(ys) <= max_tiles or z <= 1:
            break
        z -= 1
    out = []
    n = 2 ** z
    for ty in ys:
        if not 0 <= ty < n:
            continue
        for tx in xs:
            lat_a, lon_a = _tile_corner(tx, ty, z)
            lat_b, lon_b = _tile_corner(tx + 1, ty + 1, z)
            ax, ay = proj.xy(lat_a, lon_a)
            bx, by = proj.xy(lat_b, lon_b)
            url = tile_url(template, z, tx % n, ty)
            out.append(f'<image href="{escape(url)}" x="{ax:.2f}" y="{ay:.2f}" '
                       f'width="{bx - ax:.2f}" height="{by - ay:.2f}" '
                       f'preserveAspectRatio="none"/>')
    return out


def _converter(crs: str | None) -> Callable[[float, float], tuple[float, float]]:
    if crs and normalize_crs(crs) == GCJ02:
        return wgs84_to_gcj02
    return lambda lat, lon: (lat, lon)


@dataclass(frozen=True)
class CheckIn:
    """A visit's GPS fix (WGS-84) and its household's reference point, if known."""

    lat: float
    lon: float
    ref_lat: float | None = None
    ref_lon: float | None = None
    far: bool = False


def _map_frame(proj: Projection, tiles_url: str | None, tiles_crs: str | None) -> list[str]:
    out = [f'<rect class="map-bg" width="{_f(proj.width)}" height="{_f(proj.height)}"/>']
    if tiles_url:
        out.append('<g class="map-tiles">')
        out.extend(tile_images(proj, tiles_url))
        out.append("</g>")
    return out


def checkin_map(checkins: Sequence[CheckIn], *, chart_id: str, title: str, desc: str = "",
                tiles_url: str | None = None, tiles_crs: str | None = None,
                width: float = 400.0, height: float = 300.0) -> Markup:
    """The month's check-ins (dots) against household reference points (squares); far ones
    drawn larger in the warning colour, joined to their reference point."""
    to_map = _converter(tiles_crs if tiles_url else None)
    items = [(to_map(c.lat, c.lon),
              to_map(c.ref_lat, c.ref_lon) if c.ref_lat is not None and c.ref_lon is not None
              else None, c.far) for c in checkins]
    out = _open_svg(chart_id, title, desc, width, height, "chart-map")
    if not items:
        out.append(f'<rect class="map-bg" width="{_f(width)}" height="{_f(height)}"/>')
        out.append(f'<text class="map-empty" x="{_f(width / 2)}" y="{_f(height / 2)}" '
                   f'text-anchor="middle">{escape(_("本月没有带定位的走访"))}</text></svg>')
        return _markup(out)
    pts = [p for pos, ref, _far in items for p in ((pos,) if ref is None else (pos, ref))]
    proj = Projection(pts, width, height)
    out.extend(_map_frame(proj, tiles_url, tiles_crs))
    refs: dict[tuple[str, str], None] = {}
    links: list[str] = []
    dots: list[str] = []
    far_dots: list[str] = []
    for (lat, lon), ref, far in items:
        x, y = proj.xy(lat, lon)
        if ref is not None:
            rx, ry = proj.xy(*ref)
            refs[(_f(rx), _f(ry))] = None
            if far:
                links.append(f"M{_f(rx)} {_f(ry)}L{_f(x)} {_f(y)}")
        (far_dots if far else dots).append(f"M{_f(x)} {_f(y)}h0")
    if links:
        out.append(f'<path class="map-link" d="{"".join(links)}"/>')
    if refs:
        out.append('<path class="map-ref" d="'
                   + "".join(f"M{x} {y}h0" for x, y in refs) + '"/>')
    if dots:
        out.append(f'<path class="map-checkin" d="{"".join(dots)}"/>')
    if far_dots:
        d = "".join(far_dots)
        out.append(f'<path class="map-far-halo" d="{d}"/><path class="map-far" d="{d}"/>')
    out.append(_scale_bar(proj))
    out.append("</svg>")
    return _markup(out)


def _offsets(lat: float, lon: float, metres: float) -> list[tuple[float, float]]:
    """Four points metres north, south, east and west of (lat, lon)."""
    dlat = metres / M_PER_DEG
    dlon = metres / (M_PER_DEG * max(math.cos(math.radians(lat)), 0.01))
    return [(lat + dlat, lon), (lat - dlat, lon), (lat, lon + dlon), (lat, lon - dlon)]


def visit_map(lat: float, lon: float, *, chart_id: str, title: str, desc: str = "",
              accuracy_m: float | None = None, ref_lat: float | None = None,
              ref_lon: float | None = None, geofence_m: float | None = None,
              distance_m: float | None = None, far: bool = False,
              tiles_url: str | None = None, tiles_crs: str | None = None,
              width: float = 320.0, height: float = 240.0) -> Markup:
    """One check-in against its household's reference point: the allowed radius around the
    reference (dashed), the fix's accuracy around the check-in, the distance on the line."""
    to_map = _converter(tiles_crs if tiles_url else None)
    pos = to_map(lat, lon)
    ref = to_map(ref_lat, ref_lon) if ref_lat is not None and ref_lon is not None else None
    pts = list(_offsets(*pos, max(accuracy_m or 0.0, 20.0)))
    if ref is not None:
        pts.extend(_offsets(*ref, max(geofence_m or 0.0, 20.0)))
    proj = Projection(pts, width, height, pad=18.0, min_extent_m=120.0)
    out = _open_svg(chart_id, title, desc, width, height, "chart-map chart-visit-map")
    out.extend(_map_frame(proj, tiles_url, tiles_crs))
    x, y = proj.xy(*pos)
    if ref is not None:
        rx, ry = proj.xy(*ref)
        if geofence_m:
            out.append(f'<circle class="map-fence" cx="{_f(rx)}" cy="{_f(ry)}" '
                       f'r="{_f(geofence_m / proj.metres_per_unit)}"/>')
    if accuracy_m:
        out.append(f'<circle class="map-accuracy" cx="{_f(x)}" cy="{_f(y)}" '
                   f'r="{_f(accuracy_m / proj.metres_per_unit)}"/>')
    if ref is not None:
        out.append(f'<path class="map-link{" map-link-far" if far else ""}" '
                   f'd="M{_f(rx)} {_f(ry)}L{_f(x)} {_f(y)}"/>')
        out.append(f'<path class="map-ref map-ref-big" d="M{_f(rx)} {_f(ry)}h0"/>')
        if distance_m is not None:
            mx, my = (rx + x) / 2, (ry + y) / 2
            out.append(f'<text class="map-distance" x="{_f(mx)}" y="{_f(my - 8)}" '
                       f'text-anchor="middle">{escape(distance_label(distance_m))}</text>')
    cls = "map-far" if far else "map-checkin"
    out.append(f'<path class="{cls} map-point-big" d="M{_f(x)} {_f(y)}h0"/>')
    out.append(_scale_bar(proj))
    out.append("</svg>")
    return _markup(out)
