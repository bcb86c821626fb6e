"""Killing `geo ingest` mid-file and running it again stores every alert exactly once, and
routes each exactly once (SQLite and PostGIS)."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from sqlalchemy import func, select

from geo import store
from geo.cli import main
from geo.settings import PROJECT_ROOT
from geo.store.models import Alert, AuditLog, Case
from tests.conftest import SIDE, X0, Y0, to_wgs

N = 12_000


def counts(engine) -> tuple[int, int]:
    with store.sessions(engine)() as s:
        return (s.scalar(select(func.count()).select_from(Alert)),
                s.scalar(select(func.count()).select_from(Case)))


@pytest.mark.parametrize("moment", ["storing alerts", "routing"])
def test_killed_ingest_run_again_stores_every_alert_once(store_settings, small_dirs,
                                                         tmp_path, moment):
    layers_dir, catalog_dir = small_dirs
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                store_settings) == 0
    rng = np.random.default_rng(7)
    lon, lat = to_wgs(X0 + rng.uniform(0, 2 * SIDE, N), Y0 + rng.uniform(0, SIDE, N))
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write("id,lon,lat,matter,reported_at,source,severity\n")
        f.writelines(f"K{i},{lon[i]:.7f},{lat[i]:.7f},M1,2026-11-27T10:00:00,12345,low\n"
                     for i in range(N))
    engine = store.connect(store_settings.database_url)
    env = {**os.environ, "GEO_DATABASE_URL": store_settings.database_url}
    cmd = [sys.executable, "-m", "geo", "ingest", str(path)]
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        alerts, cases = counts(engine)
        # alerts are committed a part at a time, then routed, then their cases committed
        if (moment == "storing alerts" and alerts > 0) or (moment == "routing" and
                                                           alerts == N):
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    alerts, cases = counts(engine)
    assert proc.returncode == -signal.SIGKILL
    assert cases < N, "the run finished before it could be killed"
    if moment == "storing alerts":
        assert alerts > 0
    else:
        assert alerts == N

    assert subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True).returncode == 0
    with store.sessions(engine)() as s:
        assert counts(engine) == (N, N)
        assert s.scalar(select(func.count(func.distinct(Alert.external_id)))) == N
        assert s.scalar(select(func.count(func.distinct(Case.alert_id)))) == N
        assert s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "route")) == N
