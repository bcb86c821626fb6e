"""Deterministic demo data for Wuxing district (吴兴区, Huzhou).

`build_demo` writes the demo layer set (``layers/``) and catalogues (``data/``) from the
real district outline and the 19 official township codes with approximate seats
(``data/sources/``). Township and unit polygons are illustrative (a Voronoi partition of
the seats clipped to the outline), not official boundaries. Geometry work is done in
EPSG:4549 (metres) and written in WGS84 (EPSG:4326) rounded to 1e-7 degrees.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from stdnum.cn import uscc

from geo.crs import METRIC, WGS84
from geo.demo.catalog import COMMAND_CENTER, DISTRICT_TEAMS, MATTERS
from geo.demo.checklists import CHECKLISTS
from geo.demo.handoff import demo_powers
from geo.settings import PROJECT_ROOT

SEED = 20231101
SOURCES = PROJECT_ROOT / "data" / "sources"
DECIMALS = 7
SITE_KINDS = ("enterprise", "construction", "shop", "farm", "warehouse", "workshop")

# Sites per kind for each township type, with the seat-centred share and spread (m).
SITE_PLAN = {
    "街道": ({"enterprise": 30, "construction": 10, "shop": 80, "farm": 2, "warehouse": 8,
             "workshop": 10}, 0.75, 900.0),
    "镇": ({"enterprise": 90, "construction": 12, "shop": 45, "farm": 40, "warehouse": 25,
           "workshop": 35}, 0.55, 2500.0),
    "乡": ({"enterprise": 25, "construction": 6, "shop": 20, "farm": 45, "warehouse": 8,
           "workshop": 10}, 0.4, 2500.0),
}
# Township-specific plans where industry or hills set the density.
SITE_OVERRIDES = {
    "织里镇": {"workshop": 1000, "enterprise": 260, "shop": 160, "warehouse": 90},
    "八里店镇": {"enterprise": 200, "warehouse": 80, "construction": 25},
    "妙西镇": {"enterprise": 12, "farm": 70, "shop": 15, "workshop": 3},
    "东林镇": {"farm": 80},
    "埭溪镇": {"enterprise": 150, "farm": 50},
}
RISK_P = {
    "enterprise": (0.5, 0.35, 0.15), "construction": (0.2, 0.5, 0.3),
    "shop": (0.7, 0.25, 0.05), "farm": (0.6, 0.3, 0.1),
    "warehouse": (0.35, 0.4, 0.25), "workshop": (0.3, 0.4, 0.3),
}
SURNAMES = list("沈钱王张李陈吴周徐朱孙胡姚杨费钮闵潘邱施凌严蒋俞许方金顾")
PLACE_SUFFIX = ["家田", "家浜", "家兜", "家港", "家桥", "家湾", "家埭", "家墩", "家村", "家圩"]
ZHILI_UNITS = ["姚家田", "晟舍", "轧村", "漾西", "太湖", "旧馆", "戴山", "秦家港", "利济", "大港",
               "伍浦", "义皋", "河西", "东尼", "织北", "清水兜"]
TRADE = ["童装", "服饰", "纺织", "机械", "电子", "新材料", "木业", "竹制品", "印染", "包装",
         "电机", "五金", "绿色食品", "生物科技", "物流"]
SHOPS = ["便利店", "小吃店", "面馆", "超市", "饭店", "茶馆", "水果店", "理发店", "药店", "网吧"]


def _rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def _round(geoms: np.ndarray) -> np.ndarray:
    out = shapely.transform(geoms, lambda c: np.round(c, DECIMALS))
    bad = ~shapely.is_valid(out)
    if bad.any():
        out[bad] = shapely.make_valid(out[bad])
    return out


def _voronoi_faces(seeds_m: np.ndarray, area_wgs: shapely.Geometry) -> list:
    """Partition ``area_wgs`` (WGS84) into one polygon per seed (metric x/y) by Voronoi.

    Cell edges are computed in EPSG:4549, brought to WGS84, and noded together with the
    area's boundary, so neighbouring cells share their edges exactly (no gap, no overlap).
    """
    pts = shapely.multipoints(seeds_m)
    env = shapely.box(*shapely.bounds(pts)).buffer(200_000)
    cells_m = np.array(shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=env)))
    to_wgs = gpd.GeoSeries(cells_m, crs=METRIC).to_crs(WGS84).to_numpy()
    seed_wgs = gpd.GeoSeries(shapely.points(seeds_m), crs=METRIC).to_crs(WGS84).to_numpy()
    owner = np.array([int(np.flatnonzero(shapely.covers(to_wgs, s))[0]) for s in seed_wgs])
    cell_of_seed = {int(c): k for k, c in enumerate(owner)}
    lines = shapely.union_all(
        [*shapely.boundary(to_wgs), shapely.boundary(area_wgs)])
    faces = np.array(shapely.get_parts(shapely.polygonize(shapely.get_parts(lines))))
    reps = shapely.point_on_surface(faces)
    faces = faces[shapely.covers(area_wgs, reps)]
    reps = shapely.point_on_surface(faces)
    parts: list[list] = [[] for _ in range(len(seeds_m))]
    tree = shapely.STRtree(to_wgs)
    for face, rep in zip(faces, reps, strict=True):
        cells = tree.query(rep, predicate="intersects")
        cell = min(cells, key=lambda c: shapely.distance(to_wgs[c].centroid, rep)
                   if not to_wgs[c].contains(rep) else -1)
        parts[cell_of_seed[int(cell)]].append(face)
    return [shapely.union_all(p) if p else shapely.Polygon() for p in parts]


def build_townships(outline: shapely.Geometry, seats: pd.DataFrame) -> gpd.GeoDataFrame:
    """Illustrative township polygons: Voronoi cells of the seats clipped to the outline."""
    x, y = gpd.GeoSeries(gpd.points_from_xy(seats["seat_lon"], seats["seat_lat"]),
                         crs=WGS84).to_crs(METRIC).get_coordinates().to_numpy().T
    faces = _voronoi_faces(np.column_stack([x, y]), outline)
    gdf = gpd.GeoDataFrame({"code": seats["code12"].astype(str).to_numpy(),
                            "name": seats["name"].to_numpy(), "type": seats["type"].to_numpy()},
                           geometry=_round(np.array(faces, dtype=object)), crs=WGS84)
    return gdf.sort_values("code").reset_index(drop=True)


def _sample_in(rng, poly_m, n: int, center=None, sigma: float = 0.0) -> np.ndarray:
    """``n`` points (metric x/y) inside ``poly_m``: around ``center`` or uniform."""
    x0, y0, x1, y1 = poly_m.bounds
    shapely.prepare(poly_m)
    out = np.empty((0, 2))
    while len(out) < n:
        k = max(64, 3 * (n - len(out)))
        if center is None:
            cand = np.column_stack([rng.uniform(x0, x1, k), rng.uniform(y0, y1, k)])
        else:
            cand = rng.normal(center, sigma, (k, 2))
        ok = shapely.contains_xy(poly_m, cand[:, 0], cand[:, 1])
        out = np.vstack([out, cand[ok]])
    return out[:n]


def _unit_names(rng, township: str, n: int, used: set[str]) -> list[str]:
    names = []
    pool = list(ZHILI_UNITS) if township == "织里镇" else []
    while len(names) < n:
        if pool:
            name = pool.pop(0)
        else:
            name = SURNAMES[rng.integers(len(SURNAMES))] + PLACE_SUFFIX[
                rng.integers(len(PLACE_SUFFIX))]
        if name not in used:
            used.add(name)
            names.append(name)
    return [f"{n}单元" for n in names]


def build_units(rng, townships: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Planning units nested in each township: about one per 4.5 km2, at least 5."""
    metric = townships.to_crs(METRIC)
    rows, used = [], set()
    for code, name, geom_wgs, geom_m in zip(townships["code"], townships["name"],
                                            townships.geometry, metric.geometry, strict=True):
        n = max(5, round(geom_m.area / 4.5e6))
        seeds = _sample_in(rng, geom_m, n)
        seeds = seeds[np.lexsort((seeds[:, 0], -seeds[:, 1]))]
        faces = _voronoi_faces(seeds, geom_wgs)
        names = _unit_names(rng, name, n, used)
        for k, (face, unit_name) in enumerate(zip(faces, names, strict=True)):
            if not face.is_empty:
                rows.append({"code": f"{code}{k + 1:03d}", "name": unit_name,
                             "township_code": code, "geometry": face})
    gdf = gpd.GeoDataFrame(rows, crs=WGS84)
    gdf["geometry"] = _round(gdf.geometry.to_numpy())
    return gdf


def _org_code(rng) -> str:
    """A plausible 9-character organization code (GB 11714 check digit)."""
    body = "".join(str(d) for d in rng.integers(0, 10, 8))
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def credit_code(rng, district: str = "330502") -> str:
    """A plausible 18-character unified social credit code (GB 32100 check digit)."""
    stem = "91" + district + _org_code(rng)
    return stem + uscc.calc_check_digit(stem)


def _site_name(rng, kind: str, township: str) -> str:
    s = SURNAMES[rng.integers(len(SURNAMES))]
    trade = TRADE[rng.integers(len(TRADE))]
    place = township.removesuffix("街道").removesuffix("镇").removesuffix("乡")
    word = s + "".join(SURNAMES[i] for i in rng.integers(len(SURNAMES), size=1))
    if kind == "enterprise":
        return f"湖州{place}{word}{trade}有限公司"
    if kind == "workshop":
        return f"{place}{s}记{'童装' if township == '织里镇' else trade}加工点"
    if kind == "shop":
        return f"{s}氏{SHOPS[rng.integers(len(SHOPS))]}"
    if kind == "farm":
        return f"{place}{word}家庭农场"
    if kind == "warehouse":
        return f"湖州{word}仓储物流仓库"
    return f"{place}{word}{'安置房' if rng.random() < 0.4 else '厂房'}建设项目工地"


def build_sites(rng, townships: gpd.GeoDataFrame, seats: pd.DataFrame) -> gpd.GeoDataFrame:
    """Sites of six kinds, dense where industry is (织里 workshops), sparse in the hills."""
    metric = townships.to_crs(METRIC)
    seat_xy = dict(zip(seats["code12"].astype(str), zip(*gpd.GeoSeries(
        gpd.points_from_xy(seats["seat_lon"], seats["seat_lat"]), crs=WGS84).to_crs(METRIC)
        .get_coordinates().to_numpy().T, strict=True), strict=True))
    rows = []
    for code, name, ttype, geom_m in zip(townships["code"], townships["name"],
                                         townships["type"], metric.geometry, strict=True):
        plan, share, sigma = SITE_PLAN[ttype]
        counts = {**plan, **SITE_OVERRIDES.get(name, {})}
        for kind in SITE_KINDS:
            n = counts[kind]
            n_core = round(n * share)
            pts = np.vstack([_sample_in(rng, geom_m, n_core, seat_xy[code], sigma),
                             _sample_in(rng, geom_m, n - n_core)])
            risks = rng.choice(["low", "medium", "high"], size=n, p=RISK_P[kind])
            for (x, y), risk in zip(pts, risks, strict=True):
                geom = shapely.Point(x, y)
                if kind == "construction":
                    w, h = rng.uniform(60, 220, 2)
                    box = shapely.box(x - w / 2, y - h / 2, x + w / 2, y + h / 2)
                    geom = shapely.affinity.rotate(box, float(rng.uniform(0, 90)))
                    if not geom_m.contains(geom):
                        geom = geom.intersection(geom_m)
                        if geom.geom_type != "Polygon" or geom.area < 1000:
                            geom = shapely.Point(x, y)
                rows.append({
                    "name": _site_name(rng, kind, name), "kind": kind, "risk": str(risk),
                    "credit_code": credit_code(rng) if kind == "enterprise" else None,
                    "township_code": code, "geometry": geom,
                })
    gdf = gpd.GeoDataFrame(rows, crs=METRIC).to_crs(WGS84)
    gdf.insert(0, "site_id", [f"S{i + 1:06d}" for i in range(len(gdf))])
    gdf["geometry"] = _round(gdf.geometry.to_numpy())
    return gdf


def build_catalog(rng, townships: gpd.GeoDataFrame) -> dict[str, pd.DataFrame]:
    """matters, bodies and empowerment tables (织里 holds the full list: 区镇同权)."""
    domain_team = {d: code for code, _, domains in DISTRICT_TEAMS for d in domains}
    matters = pd.DataFrame([
        {"code": f"M{i + 1:03d}", "name": name, "domain": domain,
         "district_body": domain_team[domain], "deadline_days_low": lo,
         "deadline_days_medium": mid, "deadline_days_high": hi}
        for i, (domain, name, lo, mid, hi) in enumerate(MATTERS)])
    bodies = [{"code": COMMAND_CENTER[0], "name": COMMAND_CENTER[1], "kind": "command_center",
               "township_code": ""}]
    bodies += [{"code": code, "name": name, "kind": "district_team", "township_code": ""}
               for code, name, _ in DISTRICT_TEAMS]
    bodies += [{"code": f"TC-{c}", "name": f"{n}综合行政执法中心", "kind": "township_center",
                "township_code": c} for c, n in zip(townships["code"], townships["name"],
                                                    strict=True)]
    emp = []
    for code, name, ttype in zip(townships["code"], townships["name"], townships["type"],
                                 strict=True):
        if name == "织里镇":
            chosen = np.ones(len(matters), dtype=bool)
        else:
            chosen = rng.random(len(matters)) < {"街道": 0.3, "镇": 0.6, "乡": 0.55}[ttype]
        for k in np.flatnonzero(chosen):
            start = "2021-07-01" if name == "织里镇" else str(
                rng.choice(["2022-01-01", "2022-07-01", "2023-07-01", "2024-01-01"]))
            end = "2025-12-31" if name != "织里镇" and rng.random() < 0.03 else ""
            emp.append({"township_code": code, "matter_code": matters["code"].iloc[k],
                        "effective_from": start, "effective_to": end})
    checklists = pd.DataFrame([
        {"kind": kind, "item_code": f"{kind[:3].upper()}-{k + 1:02d}", "item": item,
         "department": dept, "matter_code": matter}
        for kind, items in CHECKLISTS.items() for k, (item, dept, matter) in enumerate(items)])
    intervals = pd.DataFrame({"risk": ["high", "medium", "low"], "days": [30, 90, 365]})
    return {"matters": matters, "bodies": pd.DataFrame(bodies), "empowerment": pd.DataFrame(emp),
            "checklists": checklists, "inspection_intervals": intervals,
            "powers": demo_powers(matters)}  # issue 14: 两单融合


def build_teams(rng, townships: gpd.GeoDataFrame, seats: pd.DataFrame,
                catalog: dict[str, pd.DataFrame]) -> gpd.GeoDataFrame:
    """2 to 6 teams per township center near its seat; 1 to 3 per district team downtown."""
    seat = dict(zip(seats["code12"].astype(str), zip(seats["seat_lon"], seats["seat_lat"],
                                                     strict=True), strict=True))
    emp = catalog["empowerment"].merge(catalog["matters"], left_on="matter_code",
                                       right_on="code")
    numerals = "一二三四五六"
    rows = []
    for code, name, ttype in zip(townships["code"], townships["name"], townships["type"],
                                 strict=True):
        n = int(rng.integers(2, 7)) if ttype != "街道" else int(rng.integers(2, 4))
        if name == "织里镇":
            n = 6
        domains = sorted(set(emp.loc[emp["township_code"] == code, "domain"]) | {"综合执法"})
        lon0, lat0 = seat[code]
        for k in range(n):
            skills = [d for d in domains if rng.random() < 0.7] or ["综合执法"]
            rows.append({"team_id": f"T{code[6:9]}-{k + 1}", "name": f"{name}执法{numerals[k]}队",
                         "body_code": f"TC-{code}", "skills": ",".join(skills),
                         "status": "available",
                         "geometry": shapely.Point(lon0 + rng.normal(0, 0.004),
                                                   lat0 + rng.normal(0, 0.004))})
    downtown = (120.094, 30.872)
    for code, name, domains in DISTRICT_TEAMS:
        for k in range(int(rng.integers(1, 4))):
            rows.append({"team_id": f"{code}-{k + 1}", "name": f"{name}{numerals[k]}中队",
                         "body_code": code, "skills": ",".join(domains), "status": "available",
                         "geometry": shapely.Point(downtown[0] + rng.normal(0, 0.01),
                                                   downtown[1] + rng.normal(0, 0.01))})
    gdf = gpd.GeoDataFrame(rows, crs=WGS84)
    gdf["geometry"] = _round(gdf.geometry.to_numpy())
    return gdf


ALERT_SOURCES = {
    # source: (share, matters it typically reports, severity weights low/medium/high)
    "bigdata": (0.2, ["M017", "M013", "M015", "M024", "M026"], (0.2, 0.5, 0.3)),
    "12345": (0.35, ["M001", "M002", "M004", "M016", "M018", "M019", "M020", "M044"],
              (0.5, 0.4, 0.1)),
    "patrol": (0.2, ["M001", "M003", "M005", "M006", "M008", "M033"], (0.4, 0.4, 0.2)),
    "grid": (0.2, ["M002", "M006", "M010", "M029", "M031", "M040"], (0.5, 0.4, 0.1)),
    "referral": (0.05, ["M012", "M014", "M022", "M038", "M041"], (0.3, 0.4, 0.3)),
}


def build_alerts(rng, sites: gpd.GeoDataFrame, n: int = 600) -> pd.DataFrame:
    """Demo alerts over October-November 2026, mostly at or near sites, a few off-district."""
    names = list(ALERT_SOURCES)
    share = np.array([ALERT_SOURCES[k][0] for k in names])
    sources = rng.choice(names, size=n, p=share / share.sum())
    at = sites.geometry.representative_point()
    pick = rng.integers(len(sites), size=n)
    lon = at.x.to_numpy()[pick] + rng.normal(0, 0.0004, n)
    lat = at.y.to_numpy()[pick] + rng.normal(0, 0.0004, n)
    off = rng.random(n) < 0.01
    lon[off] += 0.35
    start = np.datetime64("2026-10-01T00:00")
    minutes = np.sort(rng.integers(0, 58 * 24 * 60, n))
    rows = []
    for i in range(n):
        src = str(sources[i])
        _, matters, weights = ALERT_SOURCES[src]
        when = (start + np.timedelta64(int(minutes[i]), "m")).astype(object)
        rows.append({
            "id": f"{src.upper()}-{i + 1:05d}", "lon": round(float(lon[i]), 6),
            "lat": round(float(lat[i]), 6), "matter": str(rng.choice(matters)),
            "reported_at": when.strftime("%Y-%m-%dT%H:%M:00+08:00"), "source": src,
            "severity": str(rng.choice(["low", "medium", "high"], p=weights)),
            "description": "",
        })
    return pd.DataFrame(rows)


def build_roads(townships: gpd.GeoDataFrame, units: gpd.GeoDataFrame,
                seats: pd.DataFrame) -> gpd.GeoDataFrame:
    """A plausible road network: primary roads between neighbouring township seats,
    secondary roads between neighbouring unit centres, and tertiary spurs from each unit
    centre to its township seat (Delaunay edges, computed in EPSG:4549, kept inside the
    district)."""
    to_m = gpd.GeoSeries(gpd.points_from_xy(seats["seat_lon"], seats["seat_lat"]),
                         crs=WGS84).to_crs(METRIC)
    seat_m = dict(zip(seats["code12"].astype(str), to_m, strict=True))
    units_m = units.to_crs(METRIC)
    centres = shapely.point_on_surface(units_m.geometry.to_numpy())
    district = shapely.union_all(townships.to_crs(METRIC).geometry.to_numpy()).buffer(50)
    rows = []

    def edges(points, road_class, max_len):
        tri = shapely.delaunay_triangles(shapely.multipoints(points), only_edges=True)
        for line in shapely.get_parts(tri):
            if line.length <= max_len and district.covers(line):
                rows.append({"road_class": road_class, "geometry": line})

    edges(list(seat_m.values()), "primary", 12_000)
    edges(list(centres), "secondary", 4_000)
    for centre, code in zip(centres, units_m["township_code"], strict=True):
        rows.append({"road_class": "tertiary",
                     "geometry": shapely.LineString([centre, seat_m[code]])})
    gdf = gpd.GeoDataFrame(rows, crs=METRIC).to_crs(WGS84)
    gdf["speed_kmh"] = None
    gdf["geometry"] = _round(gdf.geometry.to_numpy())
    return gdf[["road_class", "speed_kmh", "geometry"]]


def _clean(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_geojson(gdf: gpd.GeoDataFrame, path: Path, name: str) -> None:
    """Write a deterministic GeoJSON (one feature per line, WGS84, CRS84 declared)."""
    cols = [c for c in gdf.columns if c != "geometry"]
    lines = []
    for row, geom in zip(gdf[cols].itertuples(index=False), gdf.geometry, strict=True):
        props = {c: _clean(v) for c, v in zip(cols, row, strict=True)}
        feature = {"type": "Feature", "properties": props,
                   "geometry": json.loads(shapely.to_geojson(geom))}
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    head = (f'{{"type":"FeatureCollection","name":"{name}","crs":{{"type":"name","properties":'
            '{"name":"urn:ogc:def:crs:OGC:1.3:CRS84"}},"features":[\n')
    path.write_text(head + ",\n".join(lines) + "\n]}\n", encoding="utf-8")


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    path.write_text(buf.getvalue(), encoding="utf-8")


def build_demo(layers_dir: Path, data_dir: Path, sources: Path = SOURCES) -> dict[str, int]:
    """Build the Wuxing demo layer set and catalogues; returns feature counts per file."""
    rng = _rng()
    outline = gpd.read_file(sources / "wuxing_district_wgs84.geojson").geometry.iloc[0]
    seats = pd.read_csv(sources / "wuxing_townships.csv", dtype={"code12": str})
    townships = build_townships(outline, seats)
    units = build_units(rng, townships)
    sites = build_sites(rng, townships, seats)
    catalog = build_catalog(rng, townships)
    teams = build_teams(rng, townships, seats, catalog)
    alerts = build_alerts(rng, sites)
    roads = build_roads(townships, units, seats)
    layers_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    out = {"townships": townships, "units": units, "sites": sites, "teams": teams,
           "roads": roads}
    for kind, gdf in out.items():
        write_geojson(gdf, layers_dir / f"{kind}.geojson", kind)
    for name, frame in catalog.items():
        write_csv(frame, data_dir / f"{name}.csv")
    write_csv(alerts, data_dir / "demo_alerts.csv")
    from geo.demo.reform import build_staff  # it reads this module's alert sources

    write_csv(build_staff(catalog["bodies"], catalog["empowerment"]), data_dir / "staff.csv")
    return {**{k: len(v) for k, v in out.items()}, **{k: len(v) for k, v in catalog.items()},
            "demo alerts": len(alerts)}
