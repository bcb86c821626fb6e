"""`geo ingest` of N alerts (default 1,000,000), whole process, into SQLite and PostGIS.

For each backend: a fresh database made ready with ``geo init`` (demo layers), then
``python -m geo ingest FILE`` timed from start to exit, then a check that every alert is
stored once and has its case (exit 1 if not). Next to it, in the same run, what a user
might do instead to put the same file in a database without routing it: pandas
``read_csv`` + ``to_sql`` (executemany), for the ratio.

PostGIS needs ``GEO_TEST_POSTGIS_URL`` (a database with the postgis extension, as
``scripts/postgis_test_db.sh`` prints); a fresh database is made beside it.

Usage: ``python bench/ingest_bench.py [--points N] [--backends sqlite,postgis]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bulk_bench import write_points  # noqa: E402

PLAIN = """
import sys
import pandas as pd
from sqlalchemy import create_engine
src, url = sys.argv[1:3]
engine = create_engine(url)
for chunk in pd.read_csv(src, chunksize=100_000):
    chunk.to_sql("plain_alerts", engine, if_exists="append", index=False, chunksize=10_000)
"""


def _database(backend: str, tmp: Path) -> tuple[str, callable]:
    """A fresh database URL and a function that drops it."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'bench.sqlite'}", lambda: None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = os.environ.get("GEO_TEST_POSTGIS_URL")
    if not base:
        raise SystemExit("PostGIS: set GEO_TEST_POSTGIS_URL (scripts/postgis_test_db.sh)")
    name = f"onemap_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(base).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(base).set(database=name)
    with create_engine(url).connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        conn.commit()

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    return url.render_as_string(hide_password=False), drop


def _timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--backends", default="sqlite,postgis")
    args = ap.parse_args()
    n = args.points
    results = {"points": n}
    with tempfile.TemporaryDirectory(prefix="ingest_bench-") as tmp:
        tmp = Path(tmp)
        src = tmp / "alerts.csv"
        write_points(src, n)
        for backend in args.backends.split(","):
            url, drop = _database(backend, tmp)
            try:
                env = {**os.environ, "GEO_DATABASE_URL": url,
                       "GEO_CACHE": str(tmp / "cache")}
                _timed([sys.executable, "-m", "geo", "init"], env)
                ours = _timed([sys.executable, "-m", "geo", "ingest", str(src)], env)
                plain = _timed([sys.executable, "-c", PLAIN, str(src), url], env)
                from sqlalchemy import create_engine, text

                with create_engine(url).connect() as conn:
                    alerts = conn.scalar(text("SELECT count(*) FROM alerts"))
                    orphans = conn.scalar(text(
                        "SELECT count(*) FROM alerts a LEFT JOIN cases c ON c.alert_id = a.id "
                        "WHERE c.id IS NULL"))
            finally:
                drop()
            ok = alerts == n and orphans == 0
            results[backend] = {"ingest_s": ours, "alerts_per_s": n / ours,
                                "plain_to_sql_s": plain, "alerts": alerts,
                                "without_case": orphans}
            print(f"{backend:8}: geo ingest {ours:6.1f} s = {n / ours:>8,.0f} alerts/s, every "
                  f"alert with its case: {'yes' if ok else 'NO'} ({alerts:,} stored, "
                  f"{orphans} without case); pandas to_sql of the same file, unrouted: "
                  f"{plain:.1f} s = {n / plain:,.0f} rows/s", flush=True)
            if not ok:
                sys.exit(1)
    dest = ROOT / "bench" / "results"
    dest.mkdir(exist_ok=True)
    (dest / "ingest_bench.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
