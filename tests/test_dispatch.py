import datetime as dt

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo.dispatch import (
    DETOUR_FACTOR,
    STALE_AFTER,
    neighbour_bodies,
    recommend,
    township_adjacency,
)
from geo.roads import RoadGraph

NOW = dt.datetime(2026, 11, 27, 8, 0)


def teams(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame({
        "team_id": ["A1", "A2", "A3", "B1", "D1"],
        "name": ["甲一", "甲二", "甲三", "乙一", "区一"],
        "body_code": ["TC-A", "TC-A", "TC-A", "TC-B", "DT-SC"],
        "skills": ["综合执法,市场监管", "市场监管", "生态环境", "市场监管", "市场监管"],
        "status": ["available", "available", "available", "available", "available"],
        "x": [3000.0, 0.0, 100.0, 500.0, 0.0],
        "y": [4000.0, 1000.0, 0.0, 0.0, 2000.0],
        "fix_at": [NOW - dt.timedelta(minutes=2), NOW - dt.timedelta(minutes=30), pd.NaT,
                   NOW, NOW],
        "open_assignments": [0, 2, 0, 0, 1],
    })
    for k, v in overrides.items():
        frame[k] = v
    return frame


KINDS = {"TC-A": "township_center", "TC-B": "township_center", "DT-SC": "district_team"}


def test_ranked_by_eta_with_hand_computed_distances():
    recs = recommend(0.0, 0.0, "TC-A", "市场监管", teams(), NOW, body_kinds=KINDS)
    assert [r.team_id for r in recs] == ["A2", "A1"]          # A3 lacks the skill
    assert recs[0].distance_m == pytest.approx(1000.0)
    assert recs[1].distance_m == pytest.approx(5000.0)        # 3-4-5 triangle
    assert recs[0].eta_min == pytest.approx(1000 * DETOUR_FACTOR / (30 / 3.6) / 60)
    assert recs[0].open_assignments == 2
    assert recs[0].stale and recs[0].fix_age_min == pytest.approx(30.0)
    assert not recs[1].stale and recs[1].fix_age_min == pytest.approx(2.0)
    assert not any(r.cross_support for r in recs)


def test_unavailable_teams_are_left_out_and_no_fix_is_not_a_stale_fix():
    frame = teams(status=["dispatched", "available", "available", "available", "available"])
    recs = recommend(0.0, 0.0, "TC-A", None, frame, NOW)
    assert [r.team_id for r in recs] == ["A3", "A2"]
    assert recs[0].fix_age_min is None and recs[0].fix_state == "none"
    assert not recs[0].stale
    assert (recs[1].fix_state, recs[1].stale) == ("stale", True)
    assert dt.timedelta(minutes=10) == STALE_AFTER


def test_cross_support_when_the_body_has_no_able_team():
    frame = teams(status=["off_duty", "dispatched", "available", "available", "available"])
    recs = recommend(0.0, 0.0, "TC-A", "市场监管", frame, NOW, neighbours=["TC-B", "DT-SC"],
                     body_kinds=KINDS)
    assert [r.team_id for r in recs] == ["B1", "D1"]
    assert all(r.cross_support for r in recs)
    # district teams drive faster: D1 at 2 km is ETA 2000*1.3/(40/3.6)
    assert recs[1].eta_min == pytest.approx(2000 * DETOUR_FACTOR / (40 / 3.6) / 60)
    assert recommend(0.0, 0.0, "TC-A", "市场监管", frame, NOW) == []


def test_roads_change_the_ranking():
    # a fast road reaches A1 (5 km away) quicker than A2 (1 km away on no road)
    roads = gpd.GeoDataFrame(
        {"road_class": ["motorway", "track"], "speed_kmh": [None, None]},
        geometry=[shapely.LineString([(0, 0), (3000, 4000)]),
                  shapely.LineString([(0, 0), (0, 1000)])], crs="EPSG:4549")
    graph = RoadGraph.from_lines(roads.to_crs(4326), "EPSG:4549")
    assert graph.n_edges >= 60   # 5 km and 1 km of road, a node every 100 m at most
    recs = recommend(0.0, 0.0, "TC-A", "市场监管", teams(), NOW, roads=graph)
    assert [r.team_id for r in recs] == ["A1", "A2"]
    assert recs[0].by_road
    assert recs[0].eta_min == pytest.approx(5000 / (80 / 3.6) / 60, rel=1e-3)
    assert recs[1].eta_min == pytest.approx(1000 / (15 / 3.6) / 60, rel=1e-3)


def test_adjacency_and_neighbour_bodies(small_dirs):
    from geo.layers import load_layers
    t = load_layers(small_dirs[0]).townships
    adj = township_adjacency(t)
    assert adj == {"330599001000": ["330599002000"], "330599002000": ["330599001000"]}
    centers = {"330599001000": "TC-A", "330599002000": "TC-B"}
    assert neighbour_bodies("330599001000", adj, centers, "DT-SC", "TC-A") == ["TC-B", "DT-SC"]
    assert neighbour_bodies("330599001000", adj, centers, "DT-SC", "DT-SC") == ["TC-A", "TC-B"]


def test_transfer_choices_offer_every_other_township_neighbours_first():
    from geo.dispatch import transfer_choices

    adjacency = {"b": ["d", "a"], "a": ["b"]}
    assert transfer_choices("b", adjacency, ["a", "b", "c", "d", "e"]) == [
        ("a", True), ("d", True), ("c", False), ("e", False)]
    assert transfer_choices("c", adjacency, ["a", "b", "c"]) == [("a", False), ("b", False)]
    assert transfer_choices(None, adjacency, ["a", "b"]) == [("a", False), ("b", False)]
