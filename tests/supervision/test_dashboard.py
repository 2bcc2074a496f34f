"""The compliance dashboard as officers use it: headline, breakdown and drill-down, the month
selector, scope, the charts and the check-in map; and the chart functions themselves."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from fieldwork.supervision import charts
from fieldwork.timeutil import add_months, current_month, month_bounds

SVG = "{http://www.w3.org/2000/svg}"


def this_month_at(hours: float = 2):
    """An instant inside the current Nanyang month (its first day, early morning)."""
    return month_bounds(current_month())[0] + timedelta(hours=hours)


def last_month_at(hours: float = 30):
    return month_bounds(add_months(current_month(), -1))[0] + timedelta(hours=hours)


def stat(html: str, name: str) -> str:
    match = re.search(rf'data-testid="stat-{name}">([^<]*)<', html)
    assert match, name
    return match.group(1)


def svg(html: str, chart_id: str) -> ET.Element:
    """The inline SVG with that id, parsed as XML (so it must be well-formed)."""
    match = re.search(rf'<svg[^>]*id="{chart_id}".*?</svg>', html, re.S)
    assert match, chart_id
    return ET.fromstring(match.group(0))


@pytest.fixture
def county(world, make_user, make_household, make_visit):
    """Three households due in 宛城区 (one visited, one overdue, one visited far away) and one
    visited household in 卧龙区."""
    wang = make_user("helper", place=world.street, display_name="王帮扶", phone="13812345678")
    li = make_user("helper", place=world.street, display_name="李帮扶", phone="13987654321")
    zhao = make_user("helper", place=world.street_b, display_name="赵帮扶")
    enrolled = date(2025, 1, 1)
    visited = make_household(place=world.community, helper=wang, enrolled_on=enrolled,
                             head_name="张已访")
    missed = make_household(place=world.community, helper=wang, enrolled_on=enrolled,
                            head_name="刘逾期")
    far = make_household(place=world.community_2, helper=li, enrolled_on=enrolled,
                         head_name="陈远处", ref_lat=32.995, ref_lon=112.541)
    other = make_household(place=world.community_b, helper=zhao, enrolled_on=enrolled,
                           head_name="孙外区")
    make_visit(visited, wang, visited_at=this_month_at(), lat=32.9951, lon=112.5411,
               accuracy_m=10)
    make_visit(missed, wang, visited_at=last_month_at(), review_status="rejected")
    far_visit = make_visit(far, li, visited_at=this_month_at(3), lat=33.005, lon=112.541,
                           accuracy_m=15, distance_m=1112.0,
                           flags=["far_from_household"], flag_count=1)
    make_visit(other, zhao, visited_at=this_month_at())
    return {"wang": wang, "li": li, "visited": visited, "missed": missed, "far": far,
            "far_visit": far_visit, "other": other}


@pytest.mark.parametrize("role, due, visited, overdue", [
    ("street_reviewer", "3", "2", "1"),
    ("county_officer", "3", "2", "1"),
    ("city_supervisor", "4", "3", "1"),
    ("admin", "4", "3", "1"),
])
def test_each_officer_sees_the_headline_of_their_place(client, auth, make_user, county, role,
                                                       due, visited, overdue):
    auth.login(make_user(role))
    r = client.get("/supervision/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert (stat(html, "due"), stat(html, "visited"), stat(html, "overdue")) == \
        (due, visited, overdue)
    rate = round(100 * int(visited) / int(due), 1)
    assert stat(html, "rate") == f"{rate:.1f}"
    assert stat(html, "flagged") == "1"  # the far visit counts until it is rejected
    assert "/supervision/reviews?" in html


def test_the_overdue_list_names_the_helper_with_a_masked_phone(client, auth, make_user,
                                                               county):
    auth.login(make_user("county_officer"))
    html = client.get("/supervision/").get_data(as_text=True)
    overdue = html[html.index('data-testid="overdue"'):]
    assert "刘逾期" in overdue and "张已访" not in overdue
    assert "王帮扶" in overdue and "138****5678" in overdue and "13812345678" not in html
    # The only visit it had was rejected in review: it never counted.
    assert "从未走访" in overdue


def test_drilling_down_to_a_community_shows_its_helpers(client, auth, make_user, world,
                                                        county):
    auth.login(make_user("county_officer"))
    html = client.get("/supervision/").get_data(as_text=True)
    street_link = f"/supervision/place/{world.street.id}"
    assert street_link in html
    html = client.get(street_link).get_data(as_text=True)
    assert f"/supervision/place/{world.community.id}" in html
    assert "和平社区" in html and "幸福社区" in html
    html = client.get(f"/supervision/place/{world.community.id}").get_data(as_text=True)
    breakdown = html[html.index('data-testid="breakdown"'):html.index('data-testid="map"')]
    assert "王帮扶" in breakdown and "李帮扶" not in breakdown
    assert stat(html, "due") == "2" and stat(html, "overdue") == "1"
    # The crumbs lead back up, but not above the officer's own place.
    start = html.index('class="crumbs"')
    crumbs = html[start:html.index("</nav>", start)]
    assert "宛城区" in crumbs and "南阳市" not in crumbs


def test_out_of_scope_places_and_other_roles_get_404(client, auth, make_user, world, county):
    auth.login(make_user("street_reviewer", place=world.street))
    assert client.get(f"/supervision/place/{world.street.id}").status_code == 200
    assert client.get(f"/supervision/place/{world.street_2.id}").status_code == 404
    assert client.get(f"/supervision/place/{world.county.id}").status_code == 404
    assert client.get(f"/supervision/place/{world.community_b.id}").status_code == 404
    assert client.get("/supervision/place/999999").status_code == 404
    auth.logout()
    auth.login(make_user("county_officer", place=world.county_b))
    assert client.get(f"/supervision/place/{world.county.id}").status_code == 404
    for role, place in [("helper", world.street), ("community_worker", world.community),
                        ("department_reviewer", world.county)]:
        auth.logout()
        auth.login(make_user(role, place=place))
        assert client.get("/supervision/").status_code == 404
        assert client.get("/supervision/reviews").status_code == 404


def test_signed_out_visitors_are_sent_to_the_login_page(client, county):
    r = client.get("/supervision/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_the_month_selector(client, auth, make_user, county):
    auth.login(make_user("county_officer"))
    previous = add_months(current_month(), -1)
    r = client.get(f"/supervision/?month={previous}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert f'<option value="{previous}" selected>' in html
    # Last month nobody had a valid visit (the one visit then was rejected).
    assert (stat(html, "due"), stat(html, "visited"), stat(html, "overdue")) == ("3", "0", "3")
    dashed = f"{previous // 100}-{previous % 100:02d}"
    assert stat(client.get(f"/supervision/?month={dashed}").get_data(as_text=True),
                "visited") == "0"


def test_htmx_gets_the_fragment_and_the_cache_is_told(client, auth, make_user, county):
    auth.login(make_user("county_officer"))
    full = client.get("/supervision/")
    assert "HX-Request" in full.headers["Vary"] and "<html" in full.get_data(as_text=True)
    part = client.get("/supervision/", headers={"HX-Request": "true"})
    html = part.get_data(as_text=True)
    assert "HX-Request" in part.headers["Vary"]
    assert "<html" not in html and html.count('<div id="dashboard"') == 1
    assert stat(html, "due") == "3"
    # Restoring history after a cache miss needs the whole page.
    restore = client.get("/supervision/", headers={"HX-Request": "true",
                                                   "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


@pytest.mark.parametrize("value, message", [
    ("abc", "无法识别"),
    ("202613", "不存在"),
    ("190001", "不存在"),
    ("2026011", "无法识别"),
    ("<script>", "无法识别"),
])
def test_a_bad_month_is_refused_with_a_message(client, auth, make_user, county, value,
                                               message):
    auth.login(make_user("county_officer"))
    r = client.get("/supervision/", query_string={"month": value})
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert message in html and 'data-testid="month-error"' in html
    assert "<script>" not in html.split('data-testid="month-error"')[1].split("</p>")[0]
    assert 'data-testid="headline"' not in html


def test_a_future_month_is_refused(client, auth, make_user, county):
    auth.login(make_user("county_officer"))
    r = client.get(f"/supervision/?month={add_months(current_month(), 1)}")
    assert r.status_code == 400 and "还没有到" in r.get_data(as_text=True)


def test_the_charts_are_there_with_titles_and_data_tables(client, auth, make_user, world,
                                                          county):
    auth.login(make_user("county_officer"))
    html = client.get("/supervision/").get_data(as_text=True)
    bars = svg(html, "breakdown-chart")
    assert "各下级单位走访率" in bars.find(f"{SVG}title").text
    links = [a.get("href") for a in bars.iter(f"{SVG}a")]
    assert links == [f"/supervision/place/{world.street.id}",
                     f"/supervision/place/{world.street_2.id}"]
    labels = [t.text for t in bars.iter(f"{SVG}text") if t.get("class") == "label"]
    assert labels == ["东关街道", "新华街道"]
    # The 12-month trend follows the page (it reads a year of visits).
    trend_url = re.search(r'hx-get="([^"]+/trend[^"]*)" hx-trigger="load"', html).group(1)
    assert trend_url == f"/supervision/place/{world.county.id}/trend"
    part = client.get(trend_url, headers={"HX-Request": "true"})
    fragment = part.get_data(as_text=True)
    assert part.status_code == 200 and "<html" not in fragment
    trend = svg(fragment, "trend-chart")
    assert trend.get("role") == "img"
    assert "近 12 个月走访率" in trend.find(f"{SVG}title").text
    assert len(trend.findall(f".//{SVG}g[@class]")) == 12
    table = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="num">(\d+)</td>'
                       r'<td class="num">(\d+)</td>', fragment)
    assert len(table) == 12
    assert table[-1][1:] == ("3", "2") and table[-2][1:] == ("3", "0")
    # Without script, the same trend on a page of its own.
    page = client.get(trend_url).get_data(as_text=True)
    assert "<html" in page and 'id="trend-chart"' in page
    previous = add_months(current_month(), -1)
    month_page = client.get(f"{trend_url}?month={previous}", headers={"HX-Request": "true"})
    rows = re.findall(r'<tr><th scope="row">', month_page.get_data(as_text=True))
    assert len(rows) == 12
    assert client.get(f"{trend_url}?month=13", headers={"HX-Request": "true"}).status_code == 400


def test_the_trend_is_in_scope(client, auth, make_user, world, county):
    auth.login(make_user("street_reviewer", place=world.street))
    assert client.get(f"/supervision/place/{world.street.id}/trend").status_code == 200
    assert client.get(f"/supervision/place/{world.county.id}/trend").status_code == 404
    assert client.get(f"/supervision/place/{world.street_b.id}/trend").status_code == 404


def test_the_map_works_without_tiles(client, auth, make_user, county):
    auth.login(make_user("county_officer"))
    html = client.get("/supervision/").get_data(as_text=True)
    checkins = svg(html, "checkin-map")
    assert not list(checkins.iter(f"{SVG}image"))
    classes = [p.get("class") for p in checkins.iter(f"{SVG}path")]
    assert "map-far" in classes and "map-checkin" in classes and "map-ref" in classes
    scale = [t.text for t in checkins.iter(f"{SVG}text") if t.get("class") == "scale-text"]
    assert len(scale) == 1 and re.fullmatch(r"\d+ (米|公里)", scale[0])
    far_list = html[html.index('data-testid="far-list"'):]
    assert "陈远处" in far_list and "1112" in far_list
    assert f"/supervision/reviews/{county['far_visit'].id}" in far_list


def test_the_map_draws_configured_tiles_behind_the_points(app, client, auth, make_user,
                                                          county):
    app.config["MAP_TILES_URL"] = "https://tile.example/{z}/{x}/{y}.png"
    auth.login(make_user("county_officer"))
    html = client.get("/supervision/").get_data(as_text=True)
    images = list(svg(html, "checkin-map").iter(f"{SVG}image"))
    assert 1 <= len(images) <= charts.MAX_TILES
    assert all(re.fullmatch(r"https://tile\.example/\d+/\d+/\d+\.png", i.get("href"))
               for i in images)


def test_names_are_escaped_in_the_charts(client, auth, make_user, make_household, make_visit,
                                         world):
    evil = make_user("helper", display_name="<script>alert(1)</script>")
    hh = make_household(place=world.community, helper=evil, enrolled_on=date(2025, 1, 1))
    make_visit(hh, evil, visited_at=this_month_at())
    auth.login(make_user("county_officer"))
    html = client.get(f"/supervision/place/{world.community.id}").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    labels = [t.text for t in svg(html, "breakdown-chart").iter(f"{SVG}text")
              if t.get("class") == "label"]
    assert labels == ["<scrip…"]  # escaped, parsed back, and cut to fit


def test_an_empty_place_still_renders(client, auth, make_user, world):
    auth.login(make_user("city_supervisor"))
    r = client.get("/supervision/")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and stat(html, "due") == "0" and stat(html, "rate") == "—"
    assert "本月没有带定位的走访" in html


# ---------------------------------------------------------------- the chart functions

def test_trend_chart_marks_months_without_households():
    out = charts.trend_chart([charts.Bar("10月", 50.0, "1/2"), charts.Bar("11月", None)],
                             chart_id="t", title="走访率", desc="说明")
    root = ET.fromstring(str(out))
    assert root.find(f"{SVG}title").text == "走访率"
    assert root.get("aria-labelledby") == "t-t t-d"
    assert len(list(root.iter(f"{SVG}rect"))) == 1
    tips = [t.text for t in root.iter(f"{SVG}title")][1:]
    assert tips == ["10月：50.0%（1/2）", "11月：无应走访户"]


def test_hbar_chart_escapes_and_links():
    out = charts.hbar_chart([charts.Bar('A&B"社区', 80.0, href="/x?a=1&b=2"),
                             charts.Bar("无户", None)], chart_id="h", title="<t>")
    root = ET.fromstring(str(out))
    assert root.find(f"{SVG}title").text == "<t>"
    assert [a.get("href") for a in root.iter(f"{SVG}a")] == ["/x?a=1&b=2"]
    values = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "value"]
    assert values == ["80.0%", "—"]


def test_projection_keeps_distances_true_in_both_directions():
    # Two points 1 km apart north-south and two 1 km apart east-west, around Nanyang.
    lat, lon = 33.0, 112.5
    dlat = 1000 / charts.M_PER_DEG
    dlon = 1000 / (charts.M_PER_DEG * math.cos(math.radians(lat)))
    proj = charts.Projection([(lat, lon), (lat + dlat, lon), (lat, lon + dlon)], 400, 300)
    (x0, y0), (x1, y1), (x2, y2) = (proj.xy(lat, lon), proj.xy(lat + dlat, lon),
                                    proj.xy(lat, lon + dlon))
    assert abs((y0 - y1) - (x2 - x0)) < 0.5  # same scale both ways
    assert y1 < y0 and abs(x1 - x0) < 1e-6 and abs(y2 - y0) < 1e-6  # north is up
    assert abs((y0 - y1) * proj.metres_per_unit - 1000) < 1
    back = proj.latlon(*proj.xy(lat + dlat, lon + dlon))
    assert back == pytest.approx((lat + dlat, lon + dlon))


@pytest.mark.parametrize("limit, length", [(1234, 1000), (480, 200), (5, 5), (73000, 50000)])
def test_scale_bar_lengths_are_round(limit, length):
    assert charts.nice_length(limit) == length


def test_tiles_line_up_with_their_corners():
    proj = charts.Projection([(32.99, 112.52), (33.01, 112.56)], 400, 300)
    images = charts.tile_images(proj, "https://t/{z}/{x}/{y}.png")
    assert 1 <= len(images) <= charts.MAX_TILES
    # The tiles cover the whole frame.
    boxes = [tuple(float(re.search(f' {k}="([-0-9.]+)"', i).group(1))
                   for k in ("x", "y", "width", "height")) for i in images]
    assert min(b[0] for b in boxes) <= 0 and min(b[1] for b in boxes) <= 0
    assert max(b[0] + b[2] for b in boxes) >= 400 and max(b[1] + b[3] for b in boxes) >= 300


def test_visit_map_without_a_reference_point():
    out = charts.visit_map(33.0, 112.5, chart_id="v", title="签到", accuracy_m=30)
    root = ET.fromstring(str(out))
    classes = [e.get("class") for e in root.iter() if e.get("class")]
    assert "map-accuracy" in classes and "map-ref" not in " ".join(classes)


def test_gcj02_tiles_move_the_points_onto_the_tiles():
    plain = charts.visit_map(33.0, 112.5, chart_id="v", title="t", ref_lat=33.001,
                             ref_lon=112.5, tiles_url="https://t/{z}/{x}/{y}.png")
    shifted = charts.visit_map(33.0, 112.5, chart_id="v", title="t", ref_lat=33.001,
                               ref_lon=112.5, tiles_url="https://t/{z}/{x}/{y}.png",
                               tiles_crs="gcj02")
    def first_tile(markup):
        return re.search(r'<image href="[^"]+" x="([-0-9.]+)"', str(markup)).group(1)
    # Same points relative to each other, but the tiles sit elsewhere under them.
    assert first_tile(plain) != first_tile(shifted)
