"""Coverage benchmark: 100,000 sites against 50,000 inspections, and the team-reach gaps
for 200 team bases, without roads, over the Wuxing district (metres, EPSG:4549).
Usage: ``python bench/coverage_bench.py [--sites N] [--inspections N] [--bases N]``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.coverage import coverage_by, reach_gaps, site_status  # noqa: E402
from geo.crs import METRIC  # noqa: E402
from geo.layers import load_layers  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sites", type=int, default=100_000)
    ap.add_argument("--inspections", type=int, default=50_000)
    ap.add_argument("--bases", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(9)
    town = load_layers(ROOT / "layers").townships.to_crs(METRIC)
    district = shapely.union_all(town.geometry.to_numpy())
    x0, y0, x1, y1 = district.bounds
    n = args.sites
    sites = pd.DataFrame({"site_id": [f"S{i:06d}" for i in range(n)],
                          "risk": rng.choice(["low", "medium", "high"], n, p=[.6, .3, .1]),
                          "unit": rng.choice([f"U{i:03d}" for i in range(220)], n),
                          "township": rng.choice(town["code"].to_numpy(), n)})
    points = gpd.GeoDataFrame(sites[["site_id"]], geometry=shapely.points(
        rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)), crs=METRIC)
    m = args.inspections
    inspections = pd.DataFrame({
        "site_id": sites["site_id"].to_numpy()[rng.integers(n, size=m)],
        "day": pd.Timestamp("2025-11-27") + pd.to_timedelta(rng.integers(0, 365, m), "D")})
    bases = np.column_stack([rng.uniform(x0, x1, args.bases), rng.uniform(y0, y1, args.bases)])
    today = dt.date(2026, 11, 27)

    t0 = time.perf_counter()
    status = site_status(sites, inspections, today)
    by_unit = coverage_by(status, "unit")
    by_town = coverage_by(status, "township")
    t1 = time.perf_counter()
    gaps = reach_gaps(district, bases, 5, 30.0, sites=points)
    t2 = time.perf_counter()
    print(f"{n:,} sites, {m:,} inspections: coverage by unit ({len(by_unit)}) and township "
          f"({len(by_town)}) in {t1 - t0:.2f} s")
    print(f"reach gaps of {args.bases} bases (5 min at 30 km/h): {len(gaps)} gap polygon(s), "
          f"{gaps['area_m2'].sum() / 1e6:.1f} km2, with their sites, in {t2 - t1:.2f} s")
    print(f"total {t2 - t0:.2f} s (target: under 2 s)")


if __name__ == "__main__":
    main()
