"""A district the code has never seen starts with layers alone (issue 13, items 1-3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.alerts import ROUTE_UNUSED, Rules, check
from geo.bodyrule import BODY_NO_CATALOG, BODY_NONE, body_rule
from geo.catalog import (
    fits_layers,
    layer_mismatches,
    load_catalog,
    placeholder_catalog,
    template_frames,
)
from geo.cli import main
from geo.layers import LayerReport, load_layers
from geo.routing import Router
from geo.settings import PROJECT_ROOT, Settings
from tests.district import TOWNSHIPS, district_points, write_district

NOW = pd.Timestamp("2026-01-10T08:00:00").to_pydatetime()


@pytest.fixture(params=["geojson", "gpkg"])
def district(request, tmp_path):
    """The made-up district's layers (WGS84 GeoJSON folder, or a GeoPackage in its own
    projected CRS) and settings on a fresh database whose catalogue folder is the bundled
    demo's (another district's)."""
    layers = write_district(tmp_path / "district", request.param)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'd.sqlite'}",
                        cache_path=tmp_path / "cache")
    return layers, settings


def _points(path, **extra):
    pts = district_points()
    pts.drop(columns=["township", "unit"]).assign(**extra).to_csv(path, index=False)
    return pts


def test_init_with_layers_alone_then_route(district, tmp_path, capsys):
    layers, settings = district
    assert main(["init", "--layers", str(layers)], settings) == 0
    out = capsys.readouterr().out
    assert "0 error(s), 0 warning(s)" in out  # the same report as `layers check`
    assert "names none of the layers' townships" in out and "not imported" in out
    assert "catalog template --out DIR" in out and "no catalogue loaded" in out
    pts = _points(tmp_path / "p.csv", severity="normal")
    assert main(["route", str(tmp_path / "p.csv"), "--out", str(tmp_path / "r.csv")],
                settings) == 0
    err = capsys.readouterr().err
    assert "rejected" not in err
    # the missing reported_at is one summarised line, not one per row
    assert sum("reported_at" in line for line in err.splitlines()) == 1
    routed = pd.read_csv(tmp_path / "r.csv", dtype=str, keep_default_na=False)
    assert list(routed["township_code"]) == list(pts["township"])
    assert list(routed["unit_code"]) == list(pts["unit"])
    assert set(routed["body_code"]) == {"CC"}
    assert routed["reasons"].str.contains("no catalogue loaded").all()


def test_route_with_layers_does_not_apply_another_districts_catalogue(district, tmp_path,
                                                                     capsys):
    layers, settings = district
    pts = _points(tmp_path / "p.csv", matter="M001")
    assert main(["route", str(tmp_path / "p.csv"), "--layers", str(layers), "--out",
                 str(tmp_path / "r.csv")], settings) == 0
    assert "not imported" in capsys.readouterr().err
    routed = pd.read_csv(tmp_path / "r.csv", dtype=str, keep_default_na=False)
    assert list(routed["township_code"]) == list(pts["township"])
    assert set(routed["body_code"]) == {"CC"}


def test_catalog_template_round_trip(district, tmp_path, capsys):
    layers, settings = district
    assert main(["init", "--layers", str(layers)], settings) == 0
    out = tmp_path / "catalog"
    assert main(["catalog", "template", "--out", str(out)], settings) == 0
    catalog = load_catalog(out)  # loads back as written
    centers = catalog.township_bodies()
    assert centers == {code: f"TC-{code}" for code, _ in TOWNSHIPS}
    assert catalog.command_center == "CC" and catalog.empowerment.empty
    assert catalog.loaded and len(catalog.matters) == len(load_catalog(PROJECT_ROOT / "data")
                                                          .matters)
    codes = [c for c, _ in TOWNSHIPS]
    assert fits_layers(catalog, codes) and layer_mismatches(catalog, codes) == []
    capsys.readouterr()
    assert main(["init", "--layers", str(layers), "--catalog", str(out)], settings) == 0
    assert "no catalogue loaded" not in capsys.readouterr().out
    _points(tmp_path / "p.csv")
    assert main(["route", str(tmp_path / "p.csv"), "--out", str(tmp_path / "r.csv")],
                settings) == 0
    routed = pd.read_csv(tmp_path / "r.csv", dtype=str, keep_default_na=False)
    assert not routed["reasons"].str.contains("no catalogue loaded").any()
    assert routed["reasons"].str.contains("未指明执法事项").all()


def test_mismatched_catalogue_is_reported_row_by_row(district, capsys):
    layers, settings = district
    assert main(["init", "--layers", str(layers), "--catalog",
                 str(PROJECT_ROOT / "data")], settings) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "is not in the townships layer" in line]
    assert lines and all("field township_code" in line and "remove the row" in line
                         for line in lines)
    assert any("bodies.csv, row 10," in line for line in lines)
    assert any("empowerment.csv, rows 2, 3, 4, 5, 6 and" in line for line in lines)
    # one line per file and township, not per row
    assert len(lines) < len(load_catalog(PROJECT_ROOT / "data").empowerment)
    assert "nothing was imported" in err


def test_router_never_crashes_on_a_mismatched_or_empty_catalogue(tmp_path, demo_catalog):
    layers = load_layers(write_district(tmp_path / "d"))
    pts = district_points()
    lon, lat = pts["lon"].to_numpy(), pts["lat"].to_numpy()
    matter = np.array(["M001", None, "NOPE"] * 3, dtype=object)[:len(pts)]
    for catalog in (demo_catalog, placeholder_catalog()):
        router = Router(layers, catalog, Settings(cache_path=tmp_path / "c"))
        batch = router.route_many(lon, lat, matter=matter)
        assert list(batch.to_frame()["township_code"].fillna("")) == list(pts["township"])
        assert router.route(lon[0], lat[0], "M001").body_code is not None


def test_body_rule_without_catalogue_sends_everything_to_the_command_center():
    rule = body_rule(placeholder_catalog(), np.array(["T1", "T2"], dtype=object))
    assert not placeholder_catalog().loaded
    day = pd.Timestamp("2025-05-05").date()
    assert rule.one(0, True, "M1", day)[:2] == ("CC", BODY_NO_CATALOG)
    assert rule.one(-1, True, None, day)[:2] == ("CC", BODY_NO_CATALOG)
    assert rule.one(0, False, "M1", day)[:2] == (None, BODY_NONE)
    body, how, _ = rule.many(np.array([0, 1, -1]), np.array([True, True, False]),
                             np.array([-1, -2, -1]), np.array(["2025-05-05"] * 3,
                                                              dtype="datetime64[D]"))
    assert list(how) == [BODY_NO_CATALOG, BODY_NO_CATALOG, BODY_NONE]
    assert list(rule.body_codes[body[:2]]) == ["CC", "CC"]


def _rules(**kw):
    return Rules(crs="EPSG:4326", tz=__import__("zoneinfo").ZoneInfo("Asia/Shanghai"),
                 now=NOW, source="t", **kw)


def _frame(severities):
    n = len(severities)
    return pd.DataFrame({"id": [f"A{i}" for i in range(n)], "lon": ["120.1"] * n,
                         "lat": ["30.8"] * n, "severity": severities})


def test_severity_words_with_synonyms():
    checked = check(_frame(["normal", "一般", "严重", "HIGH", ""]), np.arange(2, 7), _rules())
    assert not checked.rejects
    assert list(checked.alerts["severity"]) == ["medium", "low", "high", "high", "medium"]
    checked = check(_frame(["p1"]), np.array([2]), _rules(severity_words={"p1": "high"}))
    assert list(checked.alerts["severity"]) == ["high"]


def test_catalogue_severity_words(tmp_path):
    frames = template_frames(pd.DataFrame({"code": ["T1"], "name": ["甲"]}))
    for name, frame in frames.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / "severities.csv").write_text("word,severity\nP1,high\nP3,low\n",
                                             encoding="utf-8")
    assert load_catalog(tmp_path).severity_words == {"p1": "high", "p3": "low", "low": "low",
                                                     "medium": "medium", "high": "high"}
    (tmp_path / "severities.csv").write_text("word,severity\nP1,huge\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"severities.csv, row 2, field severity"):
        load_catalog(tmp_path)


def test_unused_field_problems_are_one_warning_not_rejects():
    severities = ["bogus"] * 30 + ["low"]
    strict = check(_frame(severities), np.arange(2, 33), _rules())
    assert len(strict.rejects) == 30
    loose = check(_frame(severities), np.arange(2, 33), _rules(unused=ROUTE_UNUSED))
    assert not loose.rejects and len(loose.alerts) == 31
    lines = [w for w in loose.warnings if "severity" in w]
    assert len(lines) == 1 and "rows 2, 3, 4, 5, 6 and 25 more" in lines[0]
    assert "not used by this command" in lines[0]


def test_layer_report_summarises_repeated_problems():
    report = LayerReport()
    for i in range(12):
        report.add("warning", "sites", "in no township: only district-wide roles see it",
                   feature=i + 1, key=f"S{i}")
    report.add("warning", "units", "a lone problem", feature=3)
    lines = report.render().splitlines()
    sites = [line for line in lines if "sites" in line]
    assert len(sites) == 1 and "12 features: 1 (S0), 2 (S1)" in sites[0]
    assert "and 7 more" in sites[0]
    assert "12 warning(s)" not in lines[-1] and "13 warning(s)" in lines[-1]
