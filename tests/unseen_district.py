"""A whole district the code has never seen: the layers of `tests.district` (河西区) with
teams, and a catalogue of its own, plus an oracle that says where each alert must go.

Nothing here borrows from the bundled demo: body, matter, site-kind and severity codes,
domains, inspection intervals and checklists are all the district's own, so that a piece
of ``geo/`` that silently assumes the demo (a code, a body, a prefix, a place) shows up
as a wrong answer or a page that breaks.

Bodies: a command center, one enforcement center per township (codes that do not follow
the demo's ``TC-<township>`` pattern) and two district teams. Matters in three domains.
Empowerment: 河东镇 holds the market matter since 2024; 柳林乡 holds it from 2026-01-01
(local day) and held the city matter until 2025-06-01; 石桥街道 holds nothing.
Teams (the ``teams`` layer, positions in `DISTRICT_CRS`): for each body some able and some
not (off duty, or without the skill), so that "the nearest able team" is a real choice.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo.crs import WGS84
from tests.district import DISTRICT_CRS, SIDE, TOWNSHIPS, X0, Y0, district_frames, write_district

TZ = ZoneInfo("Asia/Shanghai")
(T1, T1_NAME), (T2, T2_NAME), (T3, T3_NAME) = TOWNSHIPS
COMMAND = "HXQ-ZHZX"
CENTERS = {T1: "HXQ-ZX-HD", T2: "HXQ-ZX-LL", T3: "HXQ-ZX-SQ"}
MARKET_TEAM, ECO_TEAM = "HXQ-SJD", "HXQ-STD"
MARKET, ECO, CITY = "HX-SC-01", "HX-ST-02", "HX-CG-03"
#: matter -> (name, domain, district team)
MATTERS = {MARKET: ("无照经营流动摊点", "市场监管", MARKET_TEAM),
           ECO: ("畜禽养殖污水直排", "生态环境", ECO_TEAM),
           CITY: ("擅自占用绿地", "城市管理", MARKET_TEAM)}
#: (township, matter, effective_from, effective_to)
EMPOWERMENT = [(T1, MARKET, "2024-01-01", ""),
               (T2, MARKET, "2026-01-01", ""),
               (T2, CITY, "2023-03-01", "2025-06-01")]
SEVERITY_WORDS = {"p1": "high", "紧急": "high", "p2": "medium", "p3": "low", "轻微": "low"}
#: the words a catalogue with `SEVERITY_WORDS` accepts: the severities themselves too
ACCEPTED_WORDS = {**SEVERITY_WORDS, "low": "low", "medium": "medium", "high": "high"}
INTERVALS = {"high": 20, "medium": 60, "low": 180}
#: team id -> (name, body, skills, status, x offset, y offset from the district's SW corner)
TEAMS = {
    "HD-1": ("河东一组", CENTERS[T1], "市场监管,城市管理", "available", 2_600, 2_600),
    "HD-2": ("河东二组", CENTERS[T1], "城市管理", "available", 1_500, 2_200),
    "HD-3": ("河东三组", CENTERS[T1], "市场监管", "off_duty", 1_500, 2_300),
    "HD-4": ("河东四组", CENTERS[T1], "市场监管", "available", 300, 300),
    "LL-1": ("柳林一组", CENTERS[T2], "市场监管,城市管理", "available", 4_500, 500),
    "SQ-1": ("石桥一组", CENTERS[T3], "城市管理,市场监管", "available", 7_500, 1_500),
    "SJ-1": ("区市场一队", MARKET_TEAM, "市场监管,城市管理", "available", 8_800, 2_900),
    "SJ-2": ("区市场二队", MARKET_TEAM, "市场监管", "available", 3_200, 1_000),
    "ST-1": ("区生态一队", ECO_TEAM, "生态环境", "available", 8_000, 200),
    "ST-2": ("区生态二队", ECO_TEAM, "生态环境", "off_duty", 7_800, 2_000),
    "ST-3": ("区生态三队", ECO_TEAM, "生态环境", "available", 400, 2_800),
}
CHECKLIST = [("construction", "HXJC-01", "扬尘未覆盖", "生态环境", ECO),
             ("construction", "HXJC-02", "占用绿地堆料", "城市管理", CITY),
             ("construction", "HXJC-03", "无照经营食堂", "市场监管", MARKET)]


def teams_frame() -> gpd.GeoDataFrame:
    """The district's teams (`TEAMS`) in `DISTRICT_CRS`."""
    ids = list(TEAMS)
    name, body, skills, status, dx, dy = map(list, zip(*TEAMS.values(), strict=True))
    return gpd.GeoDataFrame(
        {"team_id": ids, "name": name, "body_code": body, "skills": skills, "status": status},
        geometry=shapely.points(X0 + np.array(dx, float), Y0 + np.array(dy, float)),
        crs=DISTRICT_CRS)


def write_layers(folder: Path, fmt: str = "geojson") -> Path:
    """`tests.district.write_district` with a ``teams`` layer added (same format)."""
    path = write_district(folder, fmt)
    teams = teams_frame()
    if fmt == "gpkg":
        teams.to_file(path, layer="teams", driver="GPKG")
    else:
        teams.to_crs(WGS84).to_file(path / "teams.geojson")
    return path


def catalog_frames() -> dict[str, pd.DataFrame]:
    """The district's catalogue files, as tables of text."""
    bodies = [(COMMAND, "河西区综合行政执法指挥中心", "command_center", "")]
    bodies += [(MARKET_TEAM, "河西区市场监管执法大队", "district_team", ""),
               (ECO_TEAM, "河西区生态环境执法大队", "district_team", "")]
    bodies += [(CENTERS[code], f"{name}执法所", "township_center", code)
               for code, name in TOWNSHIPS]
    matters = [(code, name, domain, team, "9", "5", "2")
               for code, (name, domain, team) in MATTERS.items()]
    return {
        "bodies": pd.DataFrame(bodies, columns=["code", "name", "kind", "township_code"]),
        "matters": pd.DataFrame(matters, columns=[
            "code", "name", "domain", "district_body", "deadline_days_low",
            "deadline_days_medium", "deadline_days_high"]),
        "empowerment": pd.DataFrame(EMPOWERMENT, columns=[
            "township_code", "matter_code", "effective_from", "effective_to"]),
        "severities": pd.DataFrame(sorted(SEVERITY_WORDS.items()),
                                   columns=["word", "severity"]),
        "inspection_intervals": pd.DataFrame(sorted(INTERVALS.items()),
                                             columns=["risk", "days"]),
        "checklists": pd.DataFrame(CHECKLIST, columns=["kind", "item_code", "item",
                                                       "department", "matter_code"]),
    }


def write_catalog(folder: Path) -> Path:
    """Write the catalogue's CSV files (UTF-8) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in catalog_frames().items():
        frame.to_csv(folder / f"{name}.csv", index=False, encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------- the oracle
def to_wgs(x, y) -> tuple[np.ndarray, np.ndarray]:
    """`DISTRICT_CRS` metres -> WGS84 lon/lat."""
    t = Transformer.from_crs(DISTRICT_CRS, WGS84, always_xy=True)
    return t.transform(np.asarray(x, float), np.asarray(y, float))


def utm_metres(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 -> UTM zone 50N metres (EPSG:32650): a metric CRS the code does not use, for
    distances computed independently of it."""
    t = Transformer.from_crs(WGS84, "EPSG:32650", always_xy=True)
    return t.transform(np.asarray(lon, float), np.asarray(lat, float))


def where(x: float, y: float) -> tuple[str | None, str | None]:
    """(township, unit) of a point in `DISTRICT_CRS`, from the plain geometry of the
    district (3 km squares in a row, north and south halves), not from the layers."""
    i = int(np.floor((x - X0) / SIDE))
    if not (0 <= i < len(TOWNSHIPS) and Y0 < y < Y0 + SIDE):
        return None, None
    code = TOWNSHIPS[i][0]
    return code, f"{code}{1 if y > Y0 + SIDE / 2 else 2:03d}"


def expected_body(township: str | None, matter: str | None, reported_at: str) -> str:
    """The body an alert must go to (DESIGN.md, routing rule 4), by hand."""
    if matter not in MATTERS or township is None:
        return COMMAND
    day = pd.Timestamp(reported_at).tz_convert(TZ).date()
    for t, m, start, end in EMPOWERMENT:
        if (t, m) == (township, matter) and dt.date.fromisoformat(start) <= day and (
                not end or day < dt.date.fromisoformat(end)):
            return CENTERS[township]
    return MATTERS[matter][2]


#: alerts: (id, x offset, y offset, matter, reported_at, source, severity word)
ALERTS = [
    ("HX-A1", 2_000, 2_000, MARKET, "2026-03-02T09:00:00+08:00", "12345", "P1"),
    ("HX-A2", 4_500, 700, MARKET, "2025-12-31T23:30:00+08:00", "12345", "p2"),
    # 2026-01-01 local, still 2025-12-31 in UTC: the local day decides
    ("HX-A3", 4_500, 2_300, MARKET, "2026-01-01T00:30:00+08:00", "patrol", "轻微"),
    ("HX-A4", 7_000, 1_000, MARKET, "2026-03-02T10:00:00+08:00", "grid", "紧急"),
    ("HX-A5", 5_000, 2_000, CITY, "2025-05-31T12:00:00+08:00", "12345", "p3"),
    ("HX-A6", 5_000, 2_100, CITY, "2025-06-01T12:00:00+08:00", "12345", "p3"),
    ("HX-A7", 8_000, 2_500, ECO, "2026-04-01T08:00:00+08:00", "patrol", "P1"),
    ("HX-A8", 1_000, 1_000, ECO, "2026-04-01T08:00:00+08:00", "grid", ""),
    ("HX-A9", 2_500, 500, "HX-NOPE", "2026-04-01T08:00:00+08:00", "grid", "p2"),
    ("HX-A10", 7_500, 2_900, "", "2026-04-01T08:00:00+08:00", "12345", "p2"),
    ("HX-A11", -2_000, 1_500, MARKET, "2026-04-01T08:00:00+08:00", "12345", "p2"),
    ("HX-A12", 550, 550, ECO, "2026-04-02T08:00:00+08:00", "patrol", "P1"),  # in the site
]


def alerts_frame() -> pd.DataFrame:
    """`ALERTS` as a raw alerts table (WGS84) with the oracle's columns: ``x, y``
    (`DISTRICT_CRS`), ``township``, ``unit`` ("" outside), ``body``, ``severity_is``."""
    ids, dx, dy, matter, reported, source, severity = map(list, zip(*ALERTS, strict=True))
    x, y = X0 + np.array(dx, float), Y0 + np.array(dy, float)
    lon, lat = to_wgs(x, y)
    frame = pd.DataFrame({"id": ids, "lon": np.round(lon, 7), "lat": np.round(lat, 7),
                          "matter": matter, "reported_at": reported, "source": source,
                          "severity": severity})
    places = [where(a, b) for a, b in zip(x, y, strict=True)]
    frame["x"], frame["y"] = x, y
    frame["township"] = pd.Series([p[0] or "" for p in places], dtype=object)
    frame["unit"] = pd.Series([p[1] or "" for p in places], dtype=object)
    frame["body"] = [expected_body(t, m or None, r) for (t, _), m, r in
                     zip(places, matter, reported, strict=True)]
    frame["severity_is"] = [SEVERITY_WORDS.get(s.lower(), "medium") for s in severity]
    return frame


RAW_COLUMNS = ["id", "lon", "lat", "matter", "reported_at", "source", "severity"]


def sites() -> gpd.GeoDataFrame:
    """The district's sites (`tests.district`), in `DISTRICT_CRS`."""
    return district_frames()["sites"]
