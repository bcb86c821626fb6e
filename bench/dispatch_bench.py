"""Team recommendation benchmark: 1,000 teams, with and without a road graph.

Times `geo.dispatch.recommend` for random case points in the Wuxing district: with
straight-line ETAs, and on a road grid of at least 50,000 edges covering the district (the
graph and its nearest-node index are precomputed once; each call runs one Dijkstra from the
case). Usage: ``python bench/dispatch_bench.py [--teams N] [--calls N] [--grid N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.crs import METRIC  # noqa: E402
from geo.dispatch import recommend  # noqa: E402
from geo.layers import load_layers  # noqa: E402
from geo.roads import RoadGraph  # noqa: E402

DOMAINS = ["综合执法", "市场监管", "生态环境", "应急管理", "农业农村", "交通运输"]


def grid_roads(bounds, n: int) -> gpd.GeoDataFrame:
    """An n x n lattice of road segments (2 n (n - 1) edges) over ``bounds`` (metres)."""
    x0, y0, x1, y1 = bounds
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    lines = [shapely.LineString([(xs[i], ys[j]), (xs[i + 1], ys[j])])
             for j in range(n) for i in range(n - 1)]
    lines += [shapely.LineString([(xs[i], ys[j]), (xs[i], ys[j + 1])])
              for i in range(n) for j in range(n - 1)]
    classes = np.where(np.arange(len(lines)) % 7 == 0, "primary", "residential")
    return gpd.GeoDataFrame({"road_class": classes}, geometry=lines, crs=METRIC).to_crs(4326)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--teams", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--grid", type=int, default=160)
    args = ap.parse_args()
    rng = np.random.default_rng(5)
    town = load_layers(ROOT / "layers").townships.to_crs(METRIC)
    bounds = town.total_bounds
    n = args.teams
    teams = pd.DataFrame({
        "team_id": [f"T{i:04d}" for i in range(n)], "name": [f"队{i}" for i in range(n)],
        "body_code": rng.choice(["TC-1", "TC-2", "DT-SC"], n, p=[0.6, 0.3, 0.1]),
        "skills": [",".join(rng.choice(DOMAINS, 3, replace=False)) for _ in range(n)],
        "status": rng.choice(["available", "dispatched"], n, p=[0.8, 0.2]),
        "x": rng.uniform(bounds[0], bounds[2], n), "y": rng.uniform(bounds[1], bounds[3], n),
        "fix_at": pd.Timestamp("2026-11-27 08:00"), "open_assignments": 0,
    })
    now = dt.datetime(2026, 11, 27, 8, 5)
    cases = np.column_stack([rng.uniform(bounds[0], bounds[2], args.calls),
                             rng.uniform(bounds[1], bounds[3], args.calls)])
    t0 = time.perf_counter()
    graph = RoadGraph.from_lines(grid_roads(bounds, args.grid), METRIC)
    build_s = time.perf_counter() - t0

    def timed(roads):
        out = []
        for x, y in cases:
            t = time.perf_counter()
            recs = recommend(x, y, "TC-1", "市场监管", teams, now, neighbours=["DT-SC"],
                             roads=roads)
            out.append(time.perf_counter() - t)
            assert recs
        return out

    timed(None)
    plain, road = timed(None), timed(graph)
    print(f"{n:,} teams, {args.calls} recommendations each")
    print(f"straight line: median {statistics.median(plain) * 1e3:.2f} ms, "
          f"p95 {np.percentile(plain, 95) * 1e3:.2f} ms")
    print(f"road graph ({graph.n_edges:,} edges, {len(graph.xy):,} nodes, built once in "
          f"{build_s:.1f} s): median {statistics.median(road) * 1e3:.2f} ms, "
          f"p95 {np.percentile(road, 95) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
