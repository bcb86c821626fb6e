"""Bulk routing, whole processes, side by side with what a user would write instead.

Writes N random alerts (default 1,000,000) in the district's bounding box to a CSV file
(ids, coordinates, matters, times, sources and severities, as ``python -m geo route`` reads
them), then runs, each as a fresh process timed from start to exit with its peak memory:

(a) a plain geopandas script doing the spatial part: ``read_csv``, ``points_from_xy``,
    ``sjoin`` to townships and to units, ``to_csv``;
(a') a plain geopandas script doing the whole job as an analyst would: also the nearest
    site within 100 m (``sjoin_nearest``), the body by the empowerment list on the day
    (a merge) and a reason sentence per row (``PLAIN_FULL``);
(b) ``python -m geo route FILE --layers layers --out OUT.csv`` (township, unit, site, body,
    flags and reasons for every row), the router cache cold and then warm;
(c) the same with ``--engine dask --workers 2`` (not with ``--dask 0``).

It checks that (b) and (c) wrote the same bytes and that (b) agrees with (a) on township
and unit for every point that (a) placed (exit 1 if not), and reports points/s and the
ratios of each run to (a) and to (a'). With ``--stream N`` it also routes an N-row file
(e.g. 10,000,000) with (b) and reports its peak memory next to the 1,000,000-row run's:
flat memory means the same peak whatever the size.

Usage: ``python bench/bulk_bench.py [--points N] [--dask 0|1] [--stream N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent

PLAIN = """
import sys
import geopandas as gpd
import pandas as pd
src, out, layers = sys.argv[1:4]
t = gpd.read_file(f"{layers}/townships.geojson")[["code", "name", "geometry"]]
u = gpd.read_file(f"{layers}/units.geojson")[["code", "geometry"]]
df = pd.read_csv(src, dtype={"id": str})
pts = gpd.GeoDataFrame(df[["id"]], geometry=gpd.points_from_xy(df["lon"], df["lat"]),
                       crs="EPSG:4326")
a = gpd.sjoin(pts, t.rename(columns={"code": "township_code", "name": "township_name"}),
              how="left", predicate="within")
a = a[~a.index.duplicated()].drop(columns="index_right")
b = gpd.sjoin(a, u.rename(columns={"code": "unit_code"}), how="left", predicate="within")
b = b[~b.index.duplicated()]
b[["id", "township_code", "township_name", "unit_code"]].to_csv(out, index=False)
"""

# the same job as far as a careful analyst would take it in geopandas: township, unit, the
# nearest site within 100 m, the body by the empowerment list on the incident's day, and a
# reason sentence (no validation, no border, near-border or snapping rules)
PLAIN_FULL = """
import sys
import geopandas as gpd
import numpy as np
import pandas as pd

src, out, layers, data = sys.argv[1:5]
t = gpd.read_file(f"{layers}/townships.geojson")[["code", "name", "geometry"]]
u = gpd.read_file(f"{layers}/units.geojson")[["code", "name", "geometry"]]
s = gpd.read_file(f"{layers}/sites.geojson")[["site_id", "name", "geometry"]]
matters = pd.read_csv(f"{data}/matters.csv", dtype=str)
bodies = pd.read_csv(f"{data}/bodies.csv", dtype=str)
emp = pd.read_csv(f"{data}/empowerment.csv", dtype=str,
                  parse_dates=["effective_from", "effective_to"])
df = pd.read_csv(src, dtype={"id": str, "matter": str})
pts = gpd.GeoDataFrame(df[["id", "matter"]], geometry=gpd.points_from_xy(df["lon"], df["lat"]),
                       crs="EPSG:4326")
pts["day"] = pd.to_datetime(df["reported_at"], format="ISO8601", utc=True).dt.tz_convert(
    "Asia/Shanghai").dt.tz_localize(None).dt.normalize()
# township and unit: the polygon the point lies in
a = gpd.sjoin(pts, t.rename(columns={"code": "township_code", "name": "township_name"}),
              how="left", predicate="within")
a = a[~a.index.duplicated()].drop(columns="index_right")
a = gpd.sjoin(a, u.rename(columns={"code": "unit_code", "name": "unit_name"}), how="left",
              predicate="within")
a = a[~a.index.duplicated()].drop(columns="index_right")
# site: the nearest site within 100 m (metres in the district's CGCS2000 zone)
near = gpd.sjoin_nearest(a[["geometry"]].to_crs(4549), s.to_crs(4549), how="left",
                         max_distance=100, distance_col="site_m")
near = near[~near.index.duplicated()]
a["site_id"], a["site_name"], a["site_m"] = near["site_id"], near["name"], near["site_m"]
# body: the township's center if the matter is empowered there on the day, else the
# matter's district team; no township or unknown matter: the command center
centers = bodies[bodies["kind"] == "township_center"].set_index("township_code")["code"]
j = a[["township_code", "matter", "day"]].reset_index().merge(
    emp, left_on=["township_code", "matter"], right_on=["township_code", "matter_code"])
j = j[(j["effective_from"] <= j["day"])
      & (j["effective_to"].isna() | (j["day"] < j["effective_to"]))]
empowered = pd.Series(True, index=j["index"].unique()).reindex(a.index, fill_value=False)
district = a["matter"].map(matters.set_index("code")["district_body"])
a["body_code"] = np.where(empowered, a["township_code"].map(centers), district)
a["body_code"] = a["body_code"].where(a["township_code"].notna() & district.notna(), "CC-330502")
# the reasons, as sentences
names = bodies.set_index("code")["name"]
where = ("坐标落在 " + a["township_name"] + "(" + a["township_code"] + ") 范围内").fillna(
    "不在本区任何镇街范围内，作为移送线索保留")
unit = ("单元：" + a["unit_name"] + "(" + a["unit_code"] + ")").fillna("不在任何单元内")
site = ("监管对象：" + a["site_name"] + "(" + a["site_id"] + ")，距 "
        + a["site_m"].round().astype("Int64").astype(str) + " 米").fillna("")
body = np.where(empowered, "事项 " + a["matter"] + " 已赋权，由 ", "由区级 ") + a[
    "body_code"].map(names).fillna("") + "(" + a["body_code"] + ") 负责"
a["reasons"] = (where + "；" + unit + "；" + site + "；" + body).str.replace("；；", "；")
a[["id", "township_code", "township_name", "unit_code", "site_id", "body_code",
   "reasons"]].to_csv(out, index=False)
"""


def write_points(path: Path, n: int, seed: int = 2026) -> None:
    """N random alerts in the district bounding box, reported over the past three years."""
    sys.path.insert(0, str(ROOT))
    from geo.catalog import load_catalog
    from geo.layers import load_layers

    layers = load_layers(ROOT / "layers")
    matters = load_catalog(ROOT / "data").matters["code"].tolist()
    x0, y0, x1, y1 = layers.townships.total_bounds
    chunk = 1_000_000
    with path.open("w", encoding="utf-8") as f:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            rng = np.random.default_rng(seed + start)
            begin = np.datetime64("2023-06-01T00:00")
            minutes = rng.integers(0, 3 * 365 * 24 * 60, m).astype("timedelta64[m]")
            pd.DataFrame({
                "id": np.char.add("B", np.arange(start, start + m).astype(str)),
                "lon": np.round(rng.uniform(x0, x1, m), 6),
                "lat": np.round(rng.uniform(y0, y1, m), 6),
                "matter": np.array(matters, dtype=object)[rng.integers(0, len(matters), m)],
                "reported_at": np.datetime_as_string(begin + minutes) + "+08:00",
                "source": np.array(["bigdata", "12345", "patrol", "grid"])[
                    rng.integers(0, 4, m)],
                "severity": np.array(["low", "medium", "high"])[rng.integers(0, 3, m)],
            }).to_csv(f, index=False, header=start == 0)


def run(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall time (s) and peak memory (MB) of a command run to its end in a fresh process."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", (
        "import resource, subprocess, sys, json; "
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE); "
        "print(json.dumps([p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN)"
        ".ru_maxrss, p.stderr.decode()[-2000:]]))"), *cmd],
        capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    code, peak_kb, err = json.loads(done.stdout.strip().splitlines()[-1])
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{err}")
    return wall, peak_kb / 1024


def compare(plain: Path, ours: Path) -> tuple[int, int]:
    """(points placed by the plain script, of which on another township or unit by us)."""
    a = pd.read_csv(plain, dtype=str, keep_default_na=False).set_index("id")
    b = pd.read_csv(ours, dtype=str, keep_default_na=False, usecols=[
        "id", "township_code", "unit_code", "flags"]).set_index("id")
    both = a.join(b.add_suffix("_ours").rename(columns={"flags_ours": "flags"}), how="inner")
    placed = both[both["township_code"] != ""]
    inside = placed[~placed["flags"].str.contains("border|snapped")]  # the rule's own cases
    differ = ((inside["township_code"] != inside["township_code_ours"])
              | (inside["unit_code"] != inside["unit_code_ours"]))
    return len(placed), int(differ.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--dask", type=int, default=1, help="also run the Dask engine (1/0)")
    ap.add_argument("--stream", type=int, default=0,
                    help="also route a file of this many rows, for its peak memory")
    args = ap.parse_args()
    n = args.points
    layers = ROOT / "layers"
    results: dict = {"points": n, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bulk_bench-") as tmp:
        tmp = Path(tmp)
        src = tmp / "points.csv"
        write_points(src, n)
        print(f"{n:,} random alerts in the district bounding box "
              f"({src.stat().st_size / 1e6:,.0f} MB CSV)", flush=True)
        env = {**os.environ, "GEO_CACHE": str(tmp / "cache"),
               "GEO_DATABASE_URL": f"sqlite:///{tmp / 'none.sqlite'}"}
        geo = [sys.executable, "-m", "geo", "route", str(src), "--layers", str(layers)]
        runs = [
            ("plain geopandas script (sjoin x2)",
             [sys.executable, "-c", PLAIN, str(src), str(tmp / "plain.csv"), str(layers)]),
            ("plain geopandas script, whole job",
             [sys.executable, "-c", PLAIN_FULL, str(src), str(tmp / "plain-full.csv"),
              str(layers), str(ROOT / "data")]),
            ("geo route, router cache cold", [*geo, "--out", str(tmp / "cold.csv")]),
            ("geo route", [*geo, "--out", str(tmp / "local.csv")]),
        ]
        if args.dask:
            runs.append(("geo route --engine dask --workers 2",
                         [*geo, "--out", str(tmp / "dask.csv"), "--engine", "dask",
                          "--workers", "2"]))
        for label, cmd in runs:
            wall, peak = run(cmd, env)
            results[label] = {"s": wall, "points_per_s": n / wall, "peak_mb": peak}
            base = results["plain geopandas script (sjoin x2)"]["s"]
            full = results.get("plain geopandas script, whole job", {}).get("s", wall)
            print(f"{label:38}: {wall:6.2f} s  {n / wall:>10,.0f} points/s  "
                  f"{base / wall:5.2f} x (a)  {full / wall:5.2f} x (a')  peak {peak:,.0f} MB",
                  flush=True)
        placed, differ = compare(tmp / "plain.csv", tmp / "local.csv")
        same = not args.dask or (tmp / "dask.csv").read_bytes() == (tmp / "local.csv"
                                                                      ).read_bytes()
        results.update(placed=placed, disagreements=differ, dask_identical=same)
        print(f"township and unit of the {placed:,} points the plain script placed (border, "
              f"near-border and snapped points aside): {differ} disagreement(s); "
              f"dask output identical: {'yes' if same else 'NO'}")
        if args.stream:
            big = tmp / "big.csv"
            write_points(big, args.stream)
            wall, peak = run([*geo[:4], str(big), "--layers", str(layers), "--out",
                              str(tmp / "big-out.csv")], env)
            results["stream"] = {"points": args.stream, "s": wall, "peak_mb": peak}
            print(f"geo route on {args.stream:,} points: {wall:.1f} s "
                  f"({args.stream / wall:,.0f} points/s), peak {peak:,.0f} MB "
                  f"(1,000,000-point run: {results['geo route']['peak_mb']:,.0f} MB)")
    dest = ROOT / "bench" / "results"
    dest.mkdir(exist_ok=True)
    (dest / "bulk_bench.json").write_text(json.dumps(results, indent=2))
    if differ or not same:
        sys.exit(1)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
