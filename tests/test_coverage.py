import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.coverage import coverage_by, hot_spots, reach_gaps, repeat_sites, site_status

TODAY = dt.date(2026, 11, 27)


def sites():
    return pd.DataFrame({"site_id": ["S1", "S2", "S3", "S4"],
                         "risk": ["high", "high", "medium", "low"],
                         "unit": ["U1", "U1", "U2", "U2"]})


def inspections():
    return pd.DataFrame({"site_id": ["S1", "S1", "S2", "S3"],
                         "day": pd.to_datetime(["2026-09-01", "2026-11-10", "2026-10-01",
                                                "2026-09-15"])})


def test_site_status_hand_computed():
    s = site_status(sites(), inspections(), TODAY).set_index("site_id")
    assert s.loc["S1", "days_since"] == 17 and not s.loc["S1", "overdue"]   # due 12-10
    assert s.loc["S2", "days_since"] == 57 and s.loc["S2", "overdue"]       # due 10-31
    assert s.loc["S3", "due"] == pd.Timestamp("2026-12-14") and not s.loc["S3", "overdue"]
    assert pd.isna(s.loc["S4", "last_inspected"]) and s.loc["S4", "overdue"]


def test_coverage_weighted_by_risk():
    c = coverage_by(site_status(sites(), inspections(), TODAY), "unit").set_index("unit")
    # U1: S1 on time (3), S2 overdue (3) -> 3/6; U2: S3 on time (2), S4 overdue (1) -> 2/3
    assert c.loc["U1", "share_on_time"] == pytest.approx(0.5)
    assert c.loc["U2", "share_on_time"] == pytest.approx(2 / 3)
    assert c.loc["U1", "high_overdue"] == 1 and c.loc["U2", "high_overdue"] == 0
    assert list(c.index) == ["U1", "U2"]  # worst first


def test_reach_gaps_straight_line():
    district = shapely.box(0, 0, 20_000, 10_000)
    # one base at the west end; 10 min at 39 km/h over a 1.3 detour reaches 5 km
    gaps = reach_gaps(district, np.array([[0.0, 5_000.0]]), 10, 39.0, 1.3,
                      sites=gpd.GeoDataFrame({"site_id": ["near", "far"]}, geometry=[
                          shapely.Point(1_000, 5_000), shapely.Point(15_000, 5_000)]))
    assert len(gaps) == 1
    half_disc = np.pi * 5_000 ** 2 / 2
    assert gaps.loc[0, "area_m2"] == pytest.approx(200e6 - half_disc, rel=1e-3)
    assert gaps.loc[0, "site_ids"] == ["far"]


def test_hot_spot_found_and_uniform_noise_is_not():
    rng = np.random.default_rng(1)
    lon = np.r_[rng.uniform(120.0, 120.2, 500), np.full(40, 120.1)]
    lat = np.r_[rng.uniform(30.8, 30.9, 500), np.full(40, 30.85)]
    spots = hot_spots(lon, lat, district_cells=300)
    assert spots.loc[0, "count"] >= 40 and spots.loc[0, "hot"]
    assert spots["hot"].sum() == 1


def test_repeat_sites():
    assert repeat_sites(pd.Series(["A", "A", "B", "A", None, "B", "B", "C"])).to_dict() == {
        "A": 3, "B": 3}


def test_empowerment_evaluation_on_a_known_history():
    from geo.coverage import empowerment_evaluation
    emp = pd.DataFrame({"township_code": ["A", "A", "B"], "matter_code": ["M1", "M2", "M1"],
                        "effective_from": ["2025-01-01", "2025-01-01", "2027-01-01"],
                        "effective_to": [None, None, None]})
    cases = pd.DataFrame({
        "id": [1, 2, 3, 4],
        "township_code": ["A", "A", "A", "A"], "matter_code": ["M1", "M1", "M1", "M1"],
        "body_code": ["TC-A", "TC-A", "CC", "TC-A"],
        "opened_at": pd.to_datetime(["2026-02-01", "2026-03-01", "2026-04-01", "2025-06-01"]),
    })
    events = pd.DataFrame({"case_id": [1, 2, 3], "to_state": ["closed", "closed", "returned"],
                           "at": pd.to_datetime(["2026-02-03", "2026-03-05", "2026-04-02"])})
    ev = empowerment_evaluation(cases, events, emp, {"A": "TC-A", "B": "TC-B"},
                                dt.date(2026, 1, 1), dt.date(2027, 1, 1)).set_index(
        ["township_code", "matter_code"])
    assert list(ev.index) == [("A", "M1"), ("A", "M2")]   # B's delegation starts later
    a1 = ev.loc[("A", "M1")]
    assert (a1["handled"], a1["returned"]) == (2, 1)       # case 4 is outside the period
    assert a1["median_days_to_close"] == pytest.approx(3.0)  # 2 and 4 days
    assert not a1["never_used"] and a1["often_returned"]    # 1 of 3 > 30 %
    assert ev.loc[("A", "M2"), "never_used"]


def test_reach_gaps_by_road():
    from geo.roads import RoadGraph
    # a 10 km road west-east; a base at its west end; 10 min at 60 km/h covers the road
    road = gpd.GeoDataFrame({"road_class": ["primary"]},
                            geometry=[shapely.LineString([(0, 5_000), (20_000, 5_000)])],
                            crs="EPSG:4549")
    graph = RoadGraph.from_lines(road.to_crs(4326), "EPSG:4549")
    district = shapely.box(0, 0, 20_000, 10_000)
    gaps = reach_gaps(district, np.array([[0.0, 5_000.0]]), 10, 60.0, roads=graph)
    covered = district.area - gaps["area_m2"].sum()
    # 10 km of road reached, each side buffered by at most 500 m: about 10 km x 1 km
    assert 8e6 < covered < 11.5e6
    far = shapely.Point(15_000, 5_000)
    assert any(g.covers(far) for g in gaps.geometry)
    near = shapely.Point(5_000, 5_200)
    assert not any(g.covers(near) for g in gaps.geometry)


def test_evaluation_by_township():
    from geo.coverage import evaluation_by_township
    ev = pd.DataFrame({"township_code": ["A", "A", "B"], "matter_code": ["M1", "M2", "M1"],
                       "handled": [3, 0, 1], "returned": [1, 0, 0],
                       "never_used": [False, True, False]})
    out = evaluation_by_township(ev).set_index("township_code")
    assert out.loc["A", "share_used"] == 0.5 and out.loc["B", "share_used"] == 1.0
    assert (out.loc["A", "handled"], out.loc["A", "returned"]) == (3, 1)


def test_visits_are_one_per_site_and_day_whatever_was_found():
    from geo.coverage import visits
    findings = pd.DataFrame({
        "site_id": ["S1", "S1", "S1", "S2", "S2"],
        "day": pd.to_datetime(["2026-11-01", "2026-11-01", "2026-11-03", "2026-11-01",
                               "2026-11-01"]),
        "item_code": ["A", "B", "A", "A", "B"], "result": ["pass", "problem", "pass",
                                                           "problem", "problem"]})
    got = visits(findings)
    assert list(got.columns) == ["site_id", "day"]
    assert sorted(map(tuple, got.astype(str).to_numpy())) == [
        ("S1", "2026-11-01"), ("S1", "2026-11-03"), ("S2", "2026-11-01")]


def test_reach_without_roads_defaults_to_the_straight_line_rule():
    from geo.coverage import DETOUR, STRAIGHT_SPEED_KMH
    district = shapely.box(-20_000, -20_000, 20_000, 20_000)
    base = np.array([[0.0, 0.0]])
    default = reach_gaps(district, base, 10)
    explicit = reach_gaps(district, base, 10, STRAIGHT_SPEED_KMH, DETOUR)
    assert default["area_m2"].sum() == pytest.approx(explicit["area_m2"].sum())
    radius = 30.0 / 3.6 * 600 / 1.3  # 30 km/h for 10 minutes, over a detour of 1.3
    assert default["area_m2"].sum() == pytest.approx(40_000**2 - np.pi * radius**2, rel=1e-3)
