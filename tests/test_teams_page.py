"""AppTest runs of the 队伍 page (team status board) on a small demo database."""

from geo import store
from geo.access import SYSTEM
from geo.store.dispatching import teams_frame
from tests.test_app import demo_db, signed_in  # noqa: F401 (fixture)

HEADERS = ["队伍", "执法主体", "状态", "本状态时长", "定位", "定位时效",
           "当前案件", "案件事项"]


def _teams_page():
    from geo.app import teams_page
    teams_page.render()


def _all_teams(settings):
    return teams_frame(store.connect(settings.database_url), "EPSG:4549", scope=SYSTEM)


def test_township_staff_see_only_their_own_teams_under_chinese_headers(demo_db):  # noqa: F811
    at = signed_in(_teams_page, user="zhili").run()
    assert not at.exception
    assert at.title[0].value == "队伍"
    table = at.dataframe[0].value
    assert list(table.columns) == HEADERS
    every = _all_teams(demo_db)
    own = every[every["body_code"] == "TC-330502100000"]
    assert 0 < len(own) < len(every)
    assert sorted(table["队伍"]) == sorted(own["name"])
    assert set(table["执法主体"]) == {"织里镇综合行政执法中心"}  # a name, not TC-…
    assert set(table["定位"]) <= {"无定位", "定位过期", "定位正常"}
    assert "定位过期" not in set(table.loc[table["定位时效"] == "-", "定位"])
    assert "None" not in table.to_string()


def test_the_board_filters_by_status_and_command_sees_every_team(demo_db):  # noqa: F811
    at = signed_in(_teams_page, user="command").run()
    assert not at.exception
    every = _all_teams(demo_db)
    assert len(at.dataframe[0].value) == len(every)
    engine = store.connect(demo_db.database_url)
    store.dispatching.set_team_status(engine, every["team_id"].iloc[0],
                                      int(every["version"].iloc[0]), "off_duty", "t",
                                      scope=SYSTEM)
    at.sidebar.multiselect(key="tb_status").set_value(["off_duty"]).run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert len(shown) == (_all_teams(demo_db)["status"] == "off_duty").sum() >= 1
    assert set(shown["状态"]) == {"休息"}
    assert "0 分钟" in set(shown["本状态时长"])  # the team just set off duty


def test_a_planner_reads_the_board(demo_db):  # noqa: F811
    at = signed_in(_teams_page, user="planner").run()
    assert not at.exception and len(at.dataframe[0].value) == len(_all_teams(demo_db))
    assert not at.button  # nothing to change here
