"""Routing benchmark on the Wuxing demo layers.

Routes N random points (default 1,000,000) in the district's bounding box to township and
unit three ways in one run: (a) a per-point loop of shapely ``covers`` over STRtree
candidates, (b) ``geopandas.sjoin`` (townships, then units), (c) ``Router.route_many``;
checks that (c) agrees with the exact covers answer for every point; (d) times the full
bulk decision: ``route_many`` with random matters and incident days (sites and bodies
too) and ``RoutingBatch.columns`` (the output columns, reasons included); times one live
``Router.route`` call (median and p99); times building the router against loading it
from `geo.routercache`; and measures the peak memory of (c) and of (d) in fresh
processes. Usage: ``python bench/route_bench.py [--points N] [--loop-points N]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.catalog import load_catalog  # noqa: E402
from geo.layers import load_layers  # noqa: E402
from geo.routercache import cached_router  # noqa: E402
from geo.routing import OUTSIDE, SNAPPED, Router  # noqa: E402
from geo.settings import Settings  # noqa: E402


def random_points(layers, n: int, seed: int = 2026):
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = layers.townships.total_bounds
    return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)


def random_alerts(catalog, n: int, seed: int = 2027):
    """Matters (catalogue codes, some unknown, some missing) and local incident days
    (2021-2026, across the empowerment dates) for n alerts."""
    rng = np.random.default_rng(seed)
    codes = np.array([*catalog.matters["code"], None, "NOPE"], dtype=object)
    matter = codes[rng.integers(0, len(codes), n)]
    days = np.datetime64("2021-01-01") + rng.integers(0, 6 * 365, n).astype("timedelta64[D]")
    return matter, days


def full_decision(router, lon, lat, matter, days):
    """The bulk path: route_many with matters and days, then the output columns."""
    return router.route_many(lon, lat, matter=matter, at=days).columns()


def covers_loop(layers, lon, lat):
    """Reference answer: lowest-coded covering township, then its lowest-coded unit."""
    t_geom = layers.townships.geometry.to_numpy()
    u_geom = layers.units.geometry.to_numpy()
    u_parent = layers.units["township_code"].to_numpy()
    t_codes = layers.townships["code"].to_numpy()
    shapely.prepare(t_geom)
    shapely.prepare(u_geom)
    t_tree, u_tree = shapely.STRtree(t_geom), shapely.STRtree(u_geom)
    township = np.full(len(lon), -1)
    unit = np.full(len(lon), -1)
    for i in range(len(lon)):
        p = shapely.Point(lon[i], lat[i])
        hits = [j for j in t_tree.query(p) if t_geom[j].covers(p)]
        if not hits:
            continue
        township[i] = t = min(hits)
        units = [k for k in u_tree.query(p) if u_parent[k] == t_codes[t] and u_geom[k].covers(p)]
        unit[i] = min(units) if units else -1
    return township, unit


def sjoin_both(layers, lon, lat):
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=layers.townships.crs)
    t = gpd.sjoin(pts, layers.townships[["code", "geometry"]], predicate="within", how="left")
    u = gpd.sjoin(pts, layers.units[["code", "geometry"]], predicate="within", how="left")
    return t, u


def _peak_mb() -> float:
    """Peak resident memory of this process image (VmHWM; unlike ru_maxrss it is not
    inherited from the parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_memory(n: int, full: bool) -> None:
    """Run in a fresh process: load, build the router, route n points (township and unit
    only, or the full decision with its columns); print peak RSS and the time taken."""
    layers, catalog = load_layers(ROOT / "layers"), load_catalog(ROOT / "data")
    router = Router(layers, catalog, Settings())
    base = _peak_mb()
    lon, lat = random_points(layers, n)
    matter, days = random_alerts(catalog, n)
    t0 = time.perf_counter()
    if full:
        full_decision(router, lon, lat, matter, days)
    else:
        router.route_many(lon, lat, sites=False)
    print(json.dumps({"peak_rss_mb": _peak_mb(), "before_points_mb": base,
                      "seconds": time.perf_counter() - t0}))


def fresh_process(n: int, full: bool) -> dict:
    args = [sys.executable, __file__, "--child-memory", str(n)] + (["--full"] if full else [])
    return json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)


def timed(fn, repeat=1):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--loop-points", type=int, default=None,
                    help="points for the slow per-point loop (default: all)")
    ap.add_argument("--child-memory", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_memory:
        child_memory(args.child_memory, args.full)
        return
    n = args.points
    layers, catalog = load_layers(ROOT / "layers"), load_catalog(ROOT / "data")
    build_s, router = timed(lambda: Router(layers, catalog, Settings()))
    lon, lat = random_points(layers, n)
    print(f"{n:,} random points in the district bounding box; router built in {build_s:.2f} s",
          flush=True)

    loop_n = args.loop_points or n
    loop_s, (ref_t, ref_u) = timed(lambda: covers_loop(layers, lon[:loop_n], lat[:loop_n]))
    sjoin_s, _ = timed(lambda: sjoin_both(layers, lon, lat), repeat=3)
    many_s, batch = timed(lambda: router.route_many(lon, lat, sites=False), repeat=3)
    matter, days = random_alerts(catalog, n)
    full_s, _ = timed(lambda: full_decision(router, lon, lat, matter, days), repeat=3)

    got_t, got_u = batch.township[:loop_n], batch.unit[:loop_n]
    flags = batch.flags[:loop_n]
    snapped = (flags & SNAPPED) > 0
    agree_t = np.where(ref_t >= 0, got_t == ref_t, snapped | ((flags & OUTSIDE) > 0))
    agree_u = np.where(snapped, got_u == -1, got_u == ref_u)
    disagree = int((~(agree_t & agree_u)).sum())

    inside = np.flatnonzero(batch.township >= 0)[:20_000]
    calls = []
    for i in inside:
        t0 = time.perf_counter()
        router.route(lon[i], lat[i], matter="M001")
        calls.append(time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as folder:
        cached_router(layers, catalog, Settings(), Path(folder))
        load_s, _ = timed(lambda: cached_router(layers, catalog, Settings(), Path(folder)),
                          repeat=3)
    mem = fresh_process(n, full=False)
    mem_full = fresh_process(n, full=True)

    result = {
        "points": n,
        "loop_points": loop_n,
        "covers_loop_points_per_s": loop_n / loop_s,
        "sjoin_points_per_s": n / sjoin_s,
        "route_many_points_per_s": n / many_s,
        "route_many_vs_sjoin": sjoin_s / many_s,
        "disagreements_with_covers": disagree,
        "full_decision_points_per_s": n / full_s,
        "full_decision_fresh_process_s": mem_full["seconds"],
        "route_median_us": statistics.median(calls) * 1e6,
        "route_p99_us": float(np.percentile(calls, 99) * 1e6),
        "router_build_s": build_s,
        "router_cache_load_s": load_s,
        "peak_rss_mb": mem["peak_rss_mb"],
        "full_decision_peak_rss_mb": mem_full["peak_rss_mb"],
    }
    print(f"(a) per-point covers loop : {result['covers_loop_points_per_s']:>12,.0f} points/s"
          f" ({loop_n:,} points)")
    print(f"(b) geopandas.sjoin x2    : {result['sjoin_points_per_s']:>12,.0f} points/s")
    print(f"(c) Router.route_many     : {result['route_many_points_per_s']:>12,.0f} points/s"
          f"  = {result['route_many_vs_sjoin']:.1f} x sjoin")
    print(f"(c) disagreements with the exact covers answer: {disagree}")
    print(f"(d) full decision + columns : {result['full_decision_points_per_s']:>12,.0f} "
          f"points/s ({full_s:.2f} s; the first call in a fresh process: "
          f"{mem_full['seconds']:.2f} s)")
    print(f"Router.route (one live alert, with site and body): median "
          f"{result['route_median_us']:.1f} us, p99 {result['route_p99_us']:.1f} us")
    print(f"router: built in {build_s:.2f} s, loaded from the router cache in "
          f"{load_s * 1000:.0f} ms (hashing the layers included)")
    print(f"peak memory routing {n:,} points in a fresh process: {mem['peak_rss_mb']:.0f} MB "
          f"(of which loading the libraries and layers and building the router: "
          f"{mem['before_points_mb']:.0f} MB); with the full decision and its columns: "
          f"{mem_full['peak_rss_mb']:.0f} MB")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "route_bench.json").write_text(json.dumps(result, indent=2))
    if disagree:
        sys.exit(1)


if __name__ == "__main__":
    main()
