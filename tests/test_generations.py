"""Boundaries that change over time (issue 13, items 2 and 5): every layer import is a
generation with its effective dates and import findings; alerts route with the generation
of their reported day; reports name townships merged away since; 图层 lists the
generations and what changed between them.

The second generation of the made-up district (`tests.district`) merges 柳林乡 into 河东镇
(the code of 河东镇 keeps the union), redraws the merged township's units (north and south
halves of the union) and has two sites far outside every township (import warnings)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import func, select

from geo import store
from geo.access import SYSTEM, AccessDeniedError, Scope
from geo.cli import main
from geo.crs import WGS84
from geo.generations import (
    GenerationError,
    Timeline,
    check_effective_from,
    differences,
    generation_at,
    shown_codes,
)
from geo.store.generations import (
    generation_layers,
    generation_problems,
    list_generations,
    township_names,
)
from tests.district import DISTRICT_CRS, SIDE, TOWNSHIPS, X0, Y0, district_frames, write_district

(HEDONG, _), (LIULIN, LIULIN_NAME), (SHIQIAO, _) = TOWNSHIPS
GEN1_FROM, GEN2_FROM = dt.date(2026, 1, 1), dt.date(2026, 6, 1)


def _day(text: str) -> np.datetime64:
    return np.datetime64(text, "D")


# ---------------------------------------------------------------------------- pure rules
def test_generation_at_takes_the_last_generation_started_on_or_before_the_day():
    starts = np.array(["2026-01-01", "2026-06-01", "2026-06-01", "2026-09-01"],
                      dtype="datetime64[D]")
    days = np.array(["2025-12-31", "2026-01-01", "2026-05-31", "2026-06-01", "2026-08-31",
                     "2026-09-01", "2030-01-01", "NaT"], dtype="datetime64[D]")
    got = generation_at(starts, days, today=dt.date(2026, 7, 1))
    # before the first: the oldest known; a day with two starts: the later import; no
    # reported time: today's
    assert got.tolist() == [0, 0, 0, 2, 2, 3, 3, 2]
    with pytest.raises(ValueError, match="no layer generation"):
        generation_at(np.array([], dtype="datetime64[D]"), days, dt.date(2026, 7, 1))


def test_an_effective_date_before_the_generation_in_force_is_refused():
    check_effective_from(GEN1_FROM, None)
    check_effective_from(GEN2_FROM, GEN2_FROM)  # a corrected import of the same day
    with pytest.raises(GenerationError, match="2026-05-31 is earlier than the start of the "
                       "layer generation in force \\(2026-06-01\\)"):
        check_effective_from(dt.date(2026, 5, 31), GEN2_FROM)
    today = dt.date(2026, 7, 1)
    check_effective_from(today, GEN2_FROM, today)
    with pytest.raises(GenerationError, match="2026-07-02 is in the future"):
        check_effective_from(dt.date(2026, 7, 2), GEN2_FROM, today)


def _frame(rows, crs=DISTRICT_CRS):
    codes, names, geoms = zip(*rows, strict=True)
    return gpd.GeoDataFrame({"code": codes, "name": names}, geometry=list(geoms), crs=crs)


def test_differences_name_added_removed_renamed_and_redrawn_codes():
    box = shapely.box
    old = _frame([("A", "甲", box(0, 0, 1000, 1000)), ("B", "乙", box(1000, 0, 2000, 1000)),
                  ("C", "丙", box(2000, 0, 3000, 1000))])
    new = _frame([("A", "甲", box(0, 0, 2000, 1000)), ("C", "丙镇", box(2000, 0, 3000, 1000)),
                  ("D", "丁", box(3000, 0, 4000, 1000))]).to_crs(WGS84)  # any CRS
    towns, units = differences({"townships": old}, {"townships": new, "units": None},
                               DISTRICT_CRS)
    assert (towns.added, towns.removed, towns.renamed, towns.redrawn) == (
        ("D",), ("B",), ("C",), ("A",))  # C's boundary came back from WGS84 unmoved
    assert towns.merged == (("B", "A"),)  # B's area went into A
    assert towns.any and not units.any
    assert shown_codes(list("ABCDEFG")) == "7: A, B, C, D, E, …"
    assert shown_codes(["A"]) == "1: A" and shown_codes([]) == "0"
    assert shown_codes(["A", "X"], names={"A": "甲"}) == "2: 甲 (A), X"
    # a unit kept under its code in another township is listed as moved
    units_old = _frame([("U1", "一", box(0, 0, 10, 10))]).assign(township_code="A")
    units_new = units_old.assign(township_code="C")
    moved = differences({"units": units_old}, {"units": units_new}, DISTRICT_CRS)[1]
    assert moved.moved == ("U1",) and moved.any


# ---------------------------------------------------------------------------- two imports
def _second_generation(folder):
    """The district after 柳林乡 merged into 河东镇 (WGS84 GeoJSON folder)."""
    frames = district_frames()
    towns = frames["townships"].set_index("code")
    merged = shapely.union_all([towns.geometry[HEDONG], towns.geometry[LIULIN]])
    townships = gpd.GeoDataFrame(
        {"code": [HEDONG, SHIQIAO], "name": [towns.loc[HEDONG, "name"], towns.loc[SHIQIAO,
                                                                               "name"]]},
        geometry=[merged, towns.geometry[SHIQIAO]], crs=DISTRICT_CRS)
    x0, y0, x1, y1 = merged.bounds
    units = frames["units"]
    units = pd.concat([
        gpd.GeoDataFrame({"code": [f"{HEDONG}001", f"{HEDONG}002"],
                          "name": ["河东镇北网格", "河东镇南网格"],
                          "township_code": [HEDONG, HEDONG]},
                         geometry=[shapely.box(x0, (y0 + y1) / 2, x1, y1),
                                   shapely.box(x0, y0, x1, (y0 + y1) / 2)], crs=DISTRICT_CRS),
        units[units["township_code"] == SHIQIAO]], ignore_index=True)
    # no township_code column: each site takes the township it lies in
    sites = frames["sites"].drop(columns="township_code")
    far = gpd.GeoDataFrame(  # 20 km west: in no township (an import warning each)
        {"site_id": ["HX8", "HX9"], "name": ["远处仓库", "远处工厂"], "kind": "warehouse",
         "risk": "low"},
        geometry=[shapely.Point(X0 - 20_000, Y0), shapely.Point(X0 - 20_000, Y0 + 100)],
        crs=DISTRICT_CRS)
    sites = pd.concat([sites, far], ignore_index=True)
    folder.mkdir(parents=True)
    for kind, gdf in (("townships", townships), ("units", units), ("sites", sites)):
        gdf.to_crs(WGS84).to_file(folder / f"{kind}.geojson")
    return folder


@pytest.fixture
def two_generations(store_settings, tmp_path):
    """Settings on a database holding generation 1 (from `GEN1_FROM`) and generation 2
    (from `GEN2_FROM`), and the two layer folders."""
    settings = dataclasses.replace(store_settings, cache_path=tmp_path / "cache")
    first = write_district(tmp_path / "gen1")
    second = _second_generation(tmp_path / "gen2")
    assert main(["init", "--layers", str(first), "--effective-from", str(GEN1_FROM)],
                settings) == 0
    assert main(["init", "--layers", str(second), "--effective-from", str(GEN2_FROM)],
                settings) == 0
    return settings, first, second


def _point(x: float, y: float) -> tuple[float, float]:
    pt = gpd.GeoSeries([shapely.Point(x, y)], crs=DISTRICT_CRS).to_crs(WGS84)
    return round(pt.x.iloc[0], 7), round(pt.y.iloc[0], 7)


#: the middle of 柳林乡's north half: 柳林乡 until `GEN2_FROM`, 河东镇 (north) after
LIULIN_NORTH = _point(X0 + 1.5 * SIDE, Y0 + 0.75 * SIDE)
#: the middle of 石桥街道's south half: unchanged
SHIQIAO_SOUTH = _point(X0 + 2.5 * SIDE, Y0 + 0.25 * SIDE)


def test_imports_keep_each_generation_with_its_dates_and_boundaries(two_generations,
                                                                     capsys):
    settings, first, second = two_generations
    engine = store.connect(settings.database_url)
    gens = list_generations(engine, scope=SYSTEM)
    assert gens["id"].tolist() == [1, 2]
    assert gens["effective_from"].tolist() == [GEN1_FROM, GEN2_FROM]
    assert gens["effective_to"].tolist() == [GEN2_FROM, None]
    assert gens["source"].tolist() == [str(first), str(second)]
    assert gens["townships"].tolist() == [3, 2] and gens["units"].tolist() == [6, 4]
    old = generation_layers(engine, 1, scope=SYSTEM)
    assert old.townships["code"].tolist() == [HEDONG, LIULIN, SHIQIAO]
    assert set(old.units["township_code"]) == {HEDONG, LIULIN, SHIQIAO}
    # the tables of the layers in force hold the latest generation
    now = store.load_layers(engine, scope=SYSTEM)
    assert now.townships["code"].tolist() == [HEDONG, SHIQIAO]
    assert generation_layers(engine, 2, scope=SYSTEM).townships["code"].tolist() == [
        HEDONG, SHIQIAO]
    with pytest.raises(LookupError, match="no layer generation 7"):
        generation_layers(engine, 7, scope=SYSTEM)
    # what init says after importing generation 2
    from geo.cli import _generation_changes

    towns, units = _generation_changes(engine, 2)
    assert towns.startswith("changes in townships from the generation before: removed 1: "
                            f"{LIULIN_NAME} ({LIULIN}), redrawn 1: 河东镇 ({HEDONG})")
    assert towns.endswith(f"(went into: {LIULIN_NAME} -> 河东镇)")
    assert units.startswith("changes in units from the generation before: removed 2")
    assert _generation_changes(engine, 1) == []


def test_the_import_warnings_are_kept_with_the_generation(two_generations):
    settings, _, _ = two_generations
    engine = store.connect(settings.database_url)
    assert generation_problems(engine, 1, scope=SYSTEM).problems == []
    kept = generation_problems(engine, 2, scope=SYSTEM)
    assert [(p.level, p.kind, p.field, p.key) for p in kept.problems] == [
        ("warning", "sites", "township_code", "site_id=HX8"),
        ("warning", "sites", "township_code", "site_id=HX9")]
    # summarised as `layers check` summarises them: one line for the repeated warning
    lines = kept.render().splitlines()
    assert len(lines) == 2 and "(2 features: " in lines[0] and "HX8" in lines[0]


def test_an_effective_date_before_the_current_one_is_refused_and_nothing_changes(
        two_generations, tmp_path, capsys):
    settings, first, _ = two_generations
    engine = store.connect(settings.database_url)
    before = (list_generations(engine, scope=SYSTEM), store.get_meta(engine),
              store.load_layers(engine, scope=SYSTEM).townships)
    capsys.readouterr()
    assert main(["init", "--layers", str(first), "--effective-from", "2026-05-31"],
                settings) == 1
    err = capsys.readouterr().err
    assert "effective date 2026-05-31 is earlier than the start of the layer generation in " \
           "force (2026-06-01)" in err and "nothing was imported" in err
    after = (list_generations(engine, scope=SYSTEM), store.get_meta(engine),
             store.load_layers(engine, scope=SYSTEM).townships)
    pd.testing.assert_frame_equal(before[0], after[0])
    assert before[1] == after[1]
    assert after[2]["code"].tolist() == [HEDONG, SHIQIAO]
    with store.sessions(engine)() as s:
        from geo.store.models import GenerationTownship
        assert s.scalar(select(func.count()).select_from(GenerationTownship)) == 5
    assert main(["init", "--layers", str(first), "--effective-from", "2026-13-01"],
                settings) == 1
    assert "--effective-from '2026-13-01': not a date" in capsys.readouterr().err
    assert main(["init", "--layers", str(first), "--effective-from", "9999-12-31"],
                settings) == 1
    assert "9999-12-31 is in the future" in capsys.readouterr().err
    assert list_generations(engine, scope=SYSTEM)["id"].tolist() == [1, 2]


def test_a_corrected_import_of_the_same_day_replaces_that_days_generation(
        two_generations, capsys):
    settings, first, _ = two_generations
    engine = store.connect(settings.database_url)
    assert main(["init", "--layers", str(first), "--effective-from", str(GEN2_FROM)],
                settings) == 0
    gens = list_generations(engine, scope=SYSTEM)
    assert gens["id"].tolist() == [1, 2]  # generation 2 replaced, not a third one
    assert gens["townships"].tolist() == [3, 3] and gens["effective_to"].tolist() == [
        GEN2_FROM, None]
    with store.sessions(engine)() as s:
        from geo.store.models import GenerationTownship
        assert s.scalar(select(func.count()).select_from(GenerationTownship)) == 6


def test_a_mistyped_start_is_moved_and_routing_follows(two_generations, tmp_path, capsys):
    settings, _, _ = two_generations
    engine = store.connect(settings.database_url)
    for bad, why in (("2026-01-01", "not after the start of the generation before"),
                     ("2999-01-01", "is in the future"), ("June", "not a date")):
        assert main(["layers", "move-start", bad], settings) == 1
        assert why in capsys.readouterr().err
    assert list_generations(engine, scope=SYSTEM)["effective_from"].tolist() == [
        GEN1_FROM, GEN2_FROM]
    assert main(["layers", "move-start", "2026-04-01"], settings) == 0
    assert "generation 2 now in force from 2026-04-01 (was 2026-06-01)" in \
        capsys.readouterr().out
    gens = list_generations(engine, scope=SYSTEM)
    assert gens["effective_from"].tolist() == [GEN1_FROM, dt.date(2026, 4, 1)]
    assert gens["effective_to"].tolist() == [dt.date(2026, 4, 1), None]
    assert main(["layers", "generations"], settings) == 0
    assert "generation 1: from 2026-01-01, until 2026-04-01 (excl.)" in \
        capsys.readouterr().out
    (lon, lat) = LIULIN_NORTH
    alerts = tmp_path / "may.csv"
    pd.DataFrame({"id": ["may"], "lon": [lon], "lat": [lat], "source": "grid",
                  "reported_at": ["2026-05-10T09:00:00+08:00"]}).to_csv(alerts, index=False)
    assert main(["ingest", str(alerts)], settings) == 0
    cases = store.cases_frame(engine, scope=SYSTEM).set_index("external_id")
    assert cases.loc["may", "township_code"] == HEDONG  # the new boundaries from April
    with store.sessions(engine)() as s:
        from geo.store.models import AuditLog
        moved = s.scalars(select(AuditLog).where(AuditLog.action == "move_start")).all()
    assert [m.detail for m in moved] == ["2026-06-01 -> 2026-04-01"]


def test_generation_store_functions_check_the_scope(two_generations):
    settings, first, _ = two_generations
    engine = store.connect(settings.database_url)
    nobody = Scope("township", township=HEDONG, actor="t")
    assert list_generations(engine, scope=nobody)["id"].tolist() == [1, 2]  # reads layers
    planner = Scope("planner", actor="p")
    from geo.catalog import placeholder_catalog
    from geo.layers import load_layers
    with pytest.raises(AccessDeniedError):
        store.import_reference(engine, load_layers(first), placeholder_catalog(), "x",
                               scope=planner, effective_from=dt.date(2026, 7, 1))
    assert len(list_generations(engine, scope=SYSTEM)) == 2


def test_alerts_route_with_the_boundaries_of_their_reported_day(two_generations, tmp_path):
    settings, _, _ = two_generations
    alerts = tmp_path / "alerts.csv"
    (lon, lat), (lon2, lat2) = LIULIN_NORTH, SHIQIAO_SOUTH
    pd.DataFrame({  # one file, so one batch that spans both generations
        "id": ["before", "after", "still", "day-of"],
        "lon": [lon, lon, lon2, lon],
        "lat": [lat, lat, lat2, lat],
        # 2026-05-31T23:30+08:00 is still 31 May in the district: before the change
        "reported_at": ["2026-03-10T09:00:00+08:00", "2026-07-10T09:00:00+08:00",
                        "2026-03-10T10:00:00+08:00", "2026-05-31T23:30:00+08:00"],
        "source": "grid"}).to_csv(alerts, index=False)
    assert main(["ingest", str(alerts)], settings) == 0
    engine = store.connect(settings.database_url)
    cases = store.cases_frame(engine, scope=SYSTEM).set_index("external_id")
    assert cases.loc["before", "township_code"] == LIULIN
    assert cases.loc["before", "township_name"] == LIULIN_NAME
    assert cases.loc["before", "unit_code"] == f"{LIULIN}001"
    assert cases.loc["day-of", "township_code"] == LIULIN
    assert cases.loc["after", "township_code"] == HEDONG
    assert cases.loc["after", "unit_code"] == f"{HEDONG}001"  # the redrawn north unit
    assert cases.loc["still", "township_code"] == SHIQIAO
    assert cases.loc["still", "unit_code"] == f"{SHIQIAO}002"


def test_a_catalogue_keeps_the_center_and_powers_of_a_township_merged_away(
        store_settings, tmp_path, capsys):
    """The catalogue may still name a township of an earlier generation: its alerts of
    that time go to its own center, with the powers it held."""
    from tests.unseen_district import CENTERS, MARKET, write_catalog

    settings = dataclasses.replace(store_settings, cache_path=tmp_path / "cache")
    catalog = write_catalog(tmp_path / "catalog")
    second = _second_generation(tmp_path / "gen2")
    # before any generation has it, a township the layers lack is refused, naming the rows
    assert main(["init", "--layers", str(second), "--catalog", str(catalog)], settings) == 1
    assert f"field township_code: township {LIULIN} is not in the townships layer" in \
        capsys.readouterr().err
    assert main(["init", "--layers", str(write_district(tmp_path / "gen1")), "--catalog",
                 str(catalog), "--effective-from", str(GEN1_FROM)], settings) == 0
    assert main(["init", "--layers", str(second), "--catalog", str(catalog),
                 "--effective-from", str(GEN2_FROM)], settings) == 0
    (lon, lat) = LIULIN_NORTH
    alerts = tmp_path / "alerts.csv"
    pd.DataFrame({"id": ["before", "after"], "lon": [lon, lon], "lat": [lat, lat],
                  "matter": MARKET, "source": "grid",
                  "reported_at": ["2026-03-10T09:00:00+08:00", "2026-07-10T09:00:00+08:00"]}
                 ).to_csv(alerts, index=False)
    assert main(["ingest", str(alerts)], settings) == 0
    cases = store.cases_frame(store.connect(settings.database_url),
                              scope=SYSTEM).set_index("external_id")
    assert cases.loc["before", ["township_code", "body_code"]].tolist() == [
        LIULIN, CENTERS[LIULIN]]  # 柳林乡 held the matter from 2026-01-01
    assert cases.loc["after", ["township_code", "body_code"]].tolist() == [
        HEDONG, CENTERS[HEDONG]]


def test_a_timeline_routes_one_report_by_its_day(two_generations):
    from geo.ingest import stored_routing

    settings, _, _ = two_generations
    engine = store.connect(settings.database_url)
    timeline, _ = stored_routing(engine, settings)
    assert isinstance(timeline, Timeline) and list(timeline.ids) == [1, 2]
    lon, lat = LIULIN_NORTH
    assert timeline.route(lon, lat, at=dt.date(2026, 5, 31)).township_code == LIULIN
    assert timeline.route(lon, lat, at=dt.date(2026, 6, 1)).township_code == HEDONG
    assert timeline.route(lon, lat).township_code == HEDONG  # no time: today's
    aware = dt.datetime(2026, 5, 31, 16, 30, tzinfo=dt.UTC)  # 1 June 00:30 in the district
    assert timeline.route(lon, lat, at=aware).township_code == HEDONG
    # the earlier generation's router is built once
    assert timeline.at(dt.date(2026, 2, 1)) is timeline.at(dt.date(2026, 3, 1))


@pytest.mark.parametrize("engine", ["local", "geojson", "dask"])
def test_bulk_route_uses_the_boundaries_of_each_rows_day(two_generations, tmp_path, engine,
                                                         monkeypatch):
    """`route` over the loaded layers: each row with the generation of its reported day,
    a row without one with today's; both engines, CSV and GeoJSON output."""
    import sys
    import types

    settings, _, _ = two_generations
    (lon, lat), (lon2, lat2) = LIULIN_NORTH, SHIQIAO_SOUTH
    src = tmp_path / "points.csv"
    pd.DataFrame({"id": ["before", "after", "still", "undated"],
                  "lon": [lon, lon, lon2, lon], "lat": [lat, lat, lat2, lat],
                  "reported_at": ["2026-03-10T09:00:00+08:00", "2026-07-10T09:00:00+08:00",
                                  "2026-03-10T10:00:00+08:00", ""]}).to_csv(src, index=False)
    out = tmp_path / ("routed.geojson" if engine == "geojson" else "routed.csv")
    args = ["route", str(src), "--out", str(out)]
    if engine == "dask":  # workers start from a bare __main__ (see tests/test_bulk.py)
        monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
        args += ["--engine", "dask", "--workers", "1"]
    assert main(args, settings) == 0
    routed = (gpd.read_file(out) if engine == "geojson"
              else pd.read_csv(out, dtype=str, keep_default_na=False)).set_index("id")
    assert routed.loc["before", "township_code"] == LIULIN
    assert routed.loc["before", "unit_code"] == f"{LIULIN}001"
    assert routed.loc["after", "township_code"] == HEDONG
    assert routed.loc["undated", "township_code"] == HEDONG
    assert routed.loc["still", "unit_code"] == f"{SHIQIAO}002"
    if engine == "geojson":  # the points are where each row's own routing put them
        assert routed.loc["before"].geometry.x == pytest.approx(lon, abs=1e-7)
        assert routed.loc["still"].geometry.y == pytest.approx(lat2, abs=1e-7)


def test_reports_name_the_township_merged_away(two_generations, tmp_path, monkeypatch):
    settings, _, _ = two_generations
    alerts = tmp_path / "alerts.csv"
    lon, lat = LIULIN_NORTH
    pd.DataFrame({"id": ["a", "b", "c"], "lon": lon, "lat": lat,
                  "reported_at": ["2026-03-10T09:00:00+08:00", "2026-03-11T09:00:00+08:00",
                                  "2026-07-10T09:00:00+08:00"],
                  "source": "grid"}).to_csv(alerts, index=False)
    assert main(["ingest", str(alerts)], settings) == 0
    engine = store.connect(settings.database_url)
    names = township_names(engine, scope=SYSTEM)
    assert names[LIULIN] == LIULIN_NAME and names[HEDONG] == "河东镇"
    from geo.app import state

    monkeypatch.setenv("GEO_DATABASE_URL", settings.database_url)
    version = state.reference_version(engine)
    shown = state.names(settings.database_url, version, Scope("command", actor="c"))
    cases = store.cases_frame(engine, scope=SYSTEM)
    by_township = cases.groupby("township_code").size()
    report = {shown.township(code): n for code, n in by_township.items()}
    assert report == {LIULIN_NAME: 2, "河东镇": 1}


# ---------------------------------------------------------------------------- 图层 page
def _layers_page():
    from geo.app import layers_page
    layers_page.render()


def _page(settings, monkeypatch, lang="zh", scope=None):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("GEO_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("GEO_CACHE", str(settings.cache_path))
    at = AppTest.from_function(_layers_page, default_timeout=60)
    at.session_state["onemap_scope"] = scope or Scope("admin", actor="admin")
    at.session_state["lang"] = lang
    return at.run()


def test_the_layers_page_lists_the_generations_their_changes_and_warnings(
        two_generations, monkeypatch):
    settings, first, second = two_generations
    at = _page(settings, monkeypatch)
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    # the current generation's findings, summarised
    findings = frames[1]["说明"].tolist()
    assert len(findings) == 1 and "in no township" in findings[0] and "HX8" in findings[0]
    assert any("0 error(s), 2 warning(s)" in c.value for c in at.caption)
    gens = frames[2]
    assert gens["版本"].tolist() == [1, 2]
    assert gens["生效日期"].tolist() == ["2026-01-01", "2026-06-01"]
    assert gens["最后生效日"].tolist() == ["2026-05-31", "现行"]  # the day before 2's first
    assert gens["来源"].tolist() == [str(first), str(second)]
    assert gens["镇街数"].tolist() == [3, 2] and gens["单元数"].tolist() == [6, 4]
    assert gens["导入提示数"].tolist() == [0, 2]
    changes = frames[3].set_index("图层")
    hedong, liulin = TOWNSHIPS[0][1], LIULIN_NAME
    assert changes.loc["镇街", "撤销"] == f"1: {liulin} ({LIULIN})"
    assert changes.loc["镇街", "撤销后并入"] == f"{liulin} → {hedong}"
    assert changes.loc["镇街", "边界调整"] == f"1: {hedong} ({HEDONG})"
    assert changes.loc["镇街", "新增"] == "0" and changes.loc["镇街", "更名"] == "0"
    assert changes.loc["单元", "撤销"] == (f"2: {liulin}北网格 ({LIULIN}001), "
                                          f"{liulin}南网格 ({LIULIN}002)")
    # each of 柳林乡's halves went into the redrawn unit of the same half
    assert changes.loc["单元", "撤销后并入"] == (f"{liulin}北网格 → 河东镇北网格; "
                                              f"{liulin}南网格 → 河东镇南网格")
    assert changes.loc["单元", "边界调整"].startswith(f"2: 河东镇北网格 ({HEDONG}001)")
    assert changes.loc["单元", "改属镇街"] == "0"
    # the earlier generation's findings, in its own expander
    assert at.expander[0].label == "版本 1 导入时的校验提示"
    assert at.expander[0].success[0].value == "未发现问题。"


def test_the_layers_page_in_english(two_generations, monkeypatch):
    settings, _, _ = two_generations
    at = _page(settings, monkeypatch, lang="en")
    assert not at.exception
    gens = at.dataframe[2].value
    assert gens["Last day in force"].tolist() == ["2026-05-31", "in force"]
    assert at.expander[0].label == "Findings when generation 1 was imported"


def test_an_unreadable_source_is_named_without_the_servers_folders(two_generations,
                                                                   monkeypatch):
    """A generation imported before findings were kept is checked again from its source;
    when that is gone, a planner is told its name, not the server's path."""
    import shutil

    from sqlalchemy import update

    from geo.store.models import Generation

    settings, first, _ = two_generations
    engine = store.connect(settings.database_url)
    with store.sessions(engine).begin() as s:
        s.execute(update(Generation).where(Generation.id == 1).values(problems=None))
    shutil.rmtree(first)
    at = _page(settings, monkeypatch, scope=Scope("planner", actor="p"))
    assert not at.exception
    shown = [i.value for i in at.expander[0].info]
    assert len(shown) == 1 and shown[0].endswith(first.name)
    assert str(first.parent) not in shown[0]
