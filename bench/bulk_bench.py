"""Bulk routing benchmark: the single-machine path against Dask with 1 and 2 workers.

Writes N random alerts (default 2,000,000) in the district's bounding box to a CSV file
(with matters, times, sources and severities, as ``python -m geo route`` reads them), then
routes the file three times, each in a fresh process: (a) the single-machine path of
``route`` (parse, one ``route_many``, one CSV), (b) the Dask engine on a local cluster of
one worker process, (c) the same with two. It checks that the three output files are
identical (exit 1 if not) and reports points/s of the routing (from reading the file to
the last byte written; building the router and starting the cluster are reported apart),
and the peak memory of each process.

Usage: ``python bench/bulk_bench.py [--points N] [--partition-rows N] [--workers 1,2]``.
"""

from __future__ import annotations

import argparse
import filecmp
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
sys.path.insert(0, str(ROOT))

from geo import bulk  # noqa: E402
from geo.catalog import load_catalog  # noqa: E402
from geo.ingest import read_records  # noqa: E402
from geo.layers import load_layers  # noqa: E402
from geo.routing import Router  # noqa: E402
from geo.settings import Settings  # noqa: E402
from geo.store import utcnow  # noqa: E402


def _peak_mb() -> float:
    """Peak resident memory of this process image (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_points(path: Path, n: int, seed: int = 2026) -> None:
    """N random alerts in the district bounding box, with realistic other columns."""
    layers = load_layers(ROOT / "layers")
    matters = load_catalog(ROOT / "data").matters["code"].tolist()
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = layers.townships.total_bounds
    start = np.datetime64("2023-06-01T00:00")
    minutes = rng.integers(0, 3 * 365 * 24 * 60, n).astype("timedelta64[m]")
    pd.DataFrame({
        "id": np.char.add("B", np.arange(n).astype(str)),
        "lon": np.round(rng.uniform(x0, x1, n), 6),
        "lat": np.round(rng.uniform(y0, y1, n), 6),
        "matter": np.array(matters, dtype=object)[rng.integers(0, len(matters), n)],
        "reported_at": np.datetime_as_string(start + minutes) + "+08:00",
        "source": np.array(["bigdata", "12345", "patrol", "grid"])[rng.integers(0, 4, n)],
        "severity": np.array(["low", "medium", "high"])[rng.integers(0, 3, n)],
    }).to_csv(path, index=False)


def child(engine: str, workers: int, src: Path, out: Path, partition_rows: int) -> None:
    """Run in a fresh process: build the router, route ``src`` into ``out``; print JSON."""
    t0 = time.perf_counter()
    catalog = load_catalog(ROOT / "data")
    router = Router(load_layers(ROOT / "layers"), catalog, Settings())
    build_s = time.perf_counter() - t0
    options = bulk.ParseOptions(crs="EPSG:4326", matters=frozenset(catalog.matters["code"]),
                                tz=router.tz, now=utcnow())
    result = {"engine": engine, "workers": workers, "router_build_s": build_s}
    if engine == "local":  # what `route --engine local` does after building the router
        t0 = time.perf_counter()
        parsed = options.parse(read_records(src))
        _, frame = bulk.route_alerts(router, parsed.alerts, options)
        frame.to_csv(out, index=False)
        result["route_s"] = time.perf_counter() - t0
        result["rows"] = parsed.rows
    else:
        t0 = time.perf_counter()
        with bulk.dask_client(workers=workers) as client:
            client.wait_for_workers(workers)
            result["cluster_start_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            tally = bulk.route_file_dask(src, out, router, options, client=client,
                                         partition_rows=partition_rows)
            result["route_s"] = time.perf_counter() - t0
            result["rows"] = tally.rows
            result["worker_peak_mb"] = sorted(client.run(_peak_mb).values())
    result["peak_mb"] = _peak_mb()
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=2_000_000)
    ap.add_argument("--partition-rows", type=int, default=bulk.PARTITION_ROWS)
    ap.add_argument("--workers", default="1,2", help="Dask worker counts to run, e.g. 1,2")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        engine, workers, src, out = args.child
        child(engine, int(workers), Path(src), Path(out), args.partition_rows)
        return
    n = args.points
    with tempfile.TemporaryDirectory(prefix="bulk_bench-") as tmp:
        src = Path(tmp) / "points.csv"
        t0 = time.perf_counter()
        write_points(src, n)
        print(f"{n:,} random alerts in the district bounding box ({src.stat().st_size / 1e6:,.0f}"
              f" MB CSV, written in {time.perf_counter() - t0:.1f} s); partitions of "
              f"{args.partition_rows:,} rows", flush=True)
        runs = [("local", 0)] + [("dask", int(w)) for w in args.workers.split(",")]
        results, outputs = [], []
        for engine, workers in runs:
            out = Path(tmp) / f"out-{engine}-{workers}.csv"
            load_before = os.getloadavg()[0]
            done = subprocess.run(
                [sys.executable, __file__, "--partition-rows", str(args.partition_rows),
                 "--child", engine, str(workers), str(src), str(out)],
                capture_output=True, text=True, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            r["points_per_s"] = n / r["route_s"]
            r["load_1min"] = [load_before, os.getloadavg()[0]]
            results.append(r)
            outputs.append(out)
            label = "local (one process)" if engine == "local" else f"dask, {workers} worker(s)"
            extra = (f"; cluster start {r['cluster_start_s']:.1f} s, worker peak "
                     f"{', '.join(f'{m:,.0f}' for m in r['worker_peak_mb'])} MB"
                     if engine == "dask" else "")
            print(f"{label:22}: {r['points_per_s']:>9,.0f} points/s ({r['route_s']:.1f} s); "
                  f"router built in {r['router_build_s']:.1f} s; peak {r['peak_mb']:,.0f} MB"
                  f"{extra}; load average {load_before:.1f} before, "
                  f"{r['load_1min'][1]:.1f} after", flush=True)
        same = all(filecmp.cmp(outputs[0], o, shallow=False) for o in outputs[1:])
        print("outputs identical: " + ("yes" if same else "NO"))
    dest = ROOT / "bench" / "results"
    dest.mkdir(exist_ok=True)
    (dest / "bulk_bench.json").write_text(json.dumps(
        {"points": n, "partition_rows": args.partition_rows, "identical": same,
         "runs": results}, indent=2))
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
