"""Spatial case queries give the same answers on PostGIS (in the database) and SQLite."""

import numpy as np
import pytest
from pyproj import Geod
from sqlalchemy import select

from geo import store
from geo.access import SYSTEM, Scope
from geo.cli import main
from geo.store.models import Case
from geo.store.spatial import cases_near, counts_per_polygon, within_bbox
from tests.conftest import CODE_A, CODE_B, SIDE, X0, Y0, to_wgs

# metric positions: two in A, one on the corner A and B share (the same vertex in both
# polygons), two in B, one 150 m east of B
XY = {"a1": (X0 + 500, Y0 + 500), "a2": (X0 + 900, Y0 + 1500),
      "edge": (X0 + SIDE, Y0 + SIDE), "b1": (X0 + SIDE + 300, Y0 + 300),
      "b2": (X0 + SIDE + 1500, Y0 + 1800), "out": (X0 + 2 * SIDE + 150, Y0 + 1000)}


@pytest.fixture
def db(store_settings, small_dirs, tmp_path):
    layers_dir, catalog_dir = small_dirs
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                store_settings) == 0
    lon, lat = to_wgs([x for x, _ in XY.values()], [y for _, y in XY.values()])
    rows = ["id,lon,lat,matter,reported_at,source"]
    rows += [f"{k},{float(lon[i])!r},{float(lat[i])!r},M1,2026-11-27T10:00:00,12345"
             for i, k in enumerate(XY)]
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["ingest", str(tmp_path / "p.csv")], store_settings) == 0
    engine = store.connect(store_settings.database_url)
    return engine, dict(zip(XY, zip(lon, lat, strict=True), strict=True))


def ids_of(engine) -> dict[int, str]:
    frame = store.cases_frame(engine, scope=SYSTEM)
    return dict(zip(frame["id"], frame["external_id"], strict=True))


def test_cases_in_a_bounding_box(db):
    engine, pos = db
    names = ids_of(engine)
    (w, e), (s_, n) = (sorted(v) for v in zip(pos["edge"], pos["b2"], strict=True))
    with store.sessions(engine)() as s:
        got = s.scalars(within_bbox(select(Case.id), s, (w, s_, e, n))).all()
    assert {names[i] for i in got} == {"edge", "b2"}  # corners on the edge count
    with store.sessions(engine)() as s, pytest.raises(ValueError, match="bbox"):
        within_bbox(select(Case.id), s, (e, n, w, s_))


def test_cases_within_a_distance_nearest_first(db):
    engine, pos = db
    lon, lat = pos["edge"]
    geod = Geod(ellps="WGS84")
    expected = {k: geod.inv(lon, lat, *p)[2] for k, p in pos.items()}
    radius = 2000.0  # takes edge, a2, b2, b1 (0-1.8 km); leaves a1 and out (2.1-2.4 km)
    with store.sessions(engine)() as s:
        near = cases_near(s, lon, lat, radius, scope=SYSTEM)
    names = ids_of(engine)
    assert [names[i] for i in near["id"]] == ["edge", "a2", "b2", "b1"] == sorted(
        (k for k, d in expected.items() if d <= radius), key=expected.get)
    assert np.allclose(near["distance_m"], sorted(d for d in expected.values() if d <= radius),
                       atol=0.01)
    # a township sees its own cases only, still nearest first; the corner case is 甲镇's
    # (lowest code wins the border), so 乙镇 does not see it
    for town, own in ((CODE_B, ["b2", "b1"]), (CODE_A, ["edge", "a2"])):
        with store.sessions(engine)() as s:
            scoped = cases_near(s, lon, lat, radius, scope=Scope("township", township=town))
        assert [names[i] for i in scoped["id"]] == own


def test_counts_per_township_and_unit(db):
    engine, _ = db
    with store.sessions(engine)() as s:
        towns = counts_per_polygon(s, "townships", scope=SYSTEM)
        units = counts_per_polygon(s, "units", scope=SYSTEM)
        routed = counts_per_polygon(s, "townships", statuses=("closed",), scope=SYSTEM)
        with pytest.raises(ValueError, match="townships or units"):
            counts_per_polygon(s, "sites", scope=SYSTEM)
    # the edge point counts for both townships; the point east of B for none
    assert towns.to_dict() == {CODE_A: 3, CODE_B: 3}
    assert units.to_dict() == {CODE_A + "001": 2, CODE_A + "002": 1, CODE_B + "001": 2}
    assert routed.to_dict() == {CODE_A: 0, CODE_B: 0}
