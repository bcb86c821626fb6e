"""The 预约体检 page (AppTest) on a small demo database with the demo history: the counts,
the calendar per township (township staff: theirs only), the requests, the proposals,
scheduling a visit with observers and recording a visit done as an inspection."""

from zoneinfo import ZoneInfo

import pytest

from geo import store
from geo.access import SYSTEM
from geo.cli import main
from geo.days import local_today
from geo.settings import PROJECT_ROOT, Settings
from geo.store.checkups import list_visits
from geo.store.inspecting import list_inspections
from tests.test_app import signed_in

ZHILI = "330502100000"


def _checkups_page():
    from geo.app import checkups_page

    checkups_page.render()


@pytest.fixture(scope="module")
def history_db(tmp_path_factory):
    """The demo district with 80 alerts, the demo users and a small demo history (and its
    check-ups), built once for this module: the tests that change it come last."""
    folder = tmp_path_factory.mktemp("checkups")
    settings = Settings(database_url=f"sqlite:///{folder / 'demo.sqlite'}")
    assert main(["init"], settings) == 0
    lines = (PROJECT_ROOT / "data" / "demo_alerts.csv").read_text(encoding="utf-8")
    (folder / "alerts.csv").write_text("\n".join(lines.splitlines()[:81]) + "\n",
                                       encoding="utf-8")
    assert main(["ingest", str(folder / "alerts.csv")], settings) == 0
    assert main(["demo", "users", "--yes"], settings) == 0
    assert main(["demo", "history", "--inspections", "300"], settings) == 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GEO_DATABASE_URL", settings.database_url)
        yield settings


def test_the_page_shows_counts_calendar_requests_and_proposals(history_db):
    at = signed_in(_checkups_page, timeout=120).run()
    assert not at.exception
    assert at.title[0].value == "预约体检"
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["企业自主预约"]) == 3 and int(metrics["统筹安排"]) == 3
    assert int(metrics["观摩人次"]) >= 3 and int(metrics["联合检查减少入企次数"]) > 0
    frames = [d.value for d in at.dataframe]
    counts, week, requests, proposals = frames[:4]
    today = local_today(ZoneInfo(Settings().timezone))
    assert str(today.year) in set(counts["年度"])
    # the calendar: townships by name, one column per day of the week shown
    assert week.columns[0] == "镇街" and len(week.columns) == 8
    assert not week["镇街"].str.fullmatch(r"\d{12}").any()
    at.date_input(key="k_start_week").set_value(today).run()  # the demo's visit in 2 days
    week = at.dataframe[1].value.set_index("镇街")
    cells = "".join(week.loc["月河街道"])
    assert "观摩 2 人" in cells and not any(ch.isascii() and ch.isdigit() for ch in
                                          cells.replace("观摩 2 人", ""))
    assert len(requests) == 5 and set(requests["状态"]) == {"待安排", "已安排"}
    assert "浙里办（企业端）" in set(requests["预约渠道"])
    assert len(proposals) and not proposals["检查对象"].str.fullmatch(r"S\d+").any()
    # the month view by week
    at.radio(key="k_span").set_value("month").run()
    assert not at.exception
    month = at.dataframe[1].value
    assert all(c == "镇街" or c.endswith("起一周") for c in month.columns)
    # a narrower window proposes fewer (or as many) joint visits
    before = len(at.dataframe[3].value)
    at.slider(key="k_window").set_value(0).run()
    assert not at.exception
    assert len(at.dataframe) < 4 or len(at.dataframe[3].value) <= before


def test_township_staff_see_their_township_only(history_db):
    at = signed_in(_checkups_page, "zhili", timeout=120).run()
    assert not at.exception
    requests = at.dataframe[2].value
    assert set(requests["镇街"]) == {"织里镇"}
    for span in ("week", "month"):
        at.radio(key="k_span").set_value(span).run()
        towns = set(at.dataframe[1].value["镇街"]) if len(at.dataframe) > 3 else set()
        assert towns <= {"织里镇"}
    engine = store.connect(history_db.database_url)
    sites = store.load_layers(engine, scope=SYSTEM).sites.set_index("site_id")
    offered = at.selectbox(key="k_site").options
    assert all(sites.loc[s.split("（")[-1].rstrip("）"), "township_code"] == ZHILI
               for s in offered)


def test_a_bad_visit_says_why_and_stores_nothing(history_db):
    engine = store.connect(history_db.database_url)
    before = len(list_visits(engine, scope=SYSTEM))
    at = signed_in(_checkups_page, timeout=120).run()
    at.button(key="k_schedule").click().run()  # no inspector named
    assert not at.exception and at.error
    assert len(list_visits(engine, scope=SYSTEM)) == before


def test_a_planner_reads_but_schedules_nothing(history_db):
    at = signed_in(_checkups_page, "planner", timeout=120).run()
    assert not at.exception
    keys = {w.key for w in (*at.button, *at.selectbox)}
    assert at.metric and not {"k_schedule", "k_done", "k_site"} & keys


def test_the_office_schedules_a_visit_with_observers_and_records_it_done(history_db):
    engine = store.connect(history_db.database_url)
    before = list_visits(engine, scope=SYSTEM)
    at = signed_in(_checkups_page, timeout=120).run()
    site = at.selectbox(key="k_site").value  # a site that asked comes first
    at.text_input(key="k_inspectors").input("陈明、刘洋").run()
    observers = at.multiselect(key=f"k_observers_{site}")
    other = observers.options[0]
    observers.select(other).run()
    obs_key = next(w.key for w in at.text_input if w.key.startswith(f"k_obs_{site}_"))
    at.text_input(key=obs_key).input("王建国").run()
    at.date_input(key="k_day").set_value(local_today(ZoneInfo(Settings().timezone))).run()
    at.button(key="k_schedule").click().run()
    assert not at.exception
    assert at.success, [e.value for e in at.error]
    after = list_visits(engine, scope=SYSTEM)
    new = after[~after["id"].isin(before["id"])].iloc[0]
    assert new["site_id"] == site and new["inspectors"] == ["陈明", "刘洋"]
    assert [o["name"] for o in new["observers"]] == ["王建国"]
    assert new["request_id"] is not None  # it answers the site's open request
    # record it done: one problem ticked
    at.selectbox(key="k_visit").set_value(int(new["id"])).run()
    boxes = [c for c in at.checkbox if c.key.startswith(f"k_item_{int(new['id'])}_")]
    boxes[0].check().run()
    at.button(key="k_done").click().run()
    assert not at.exception and at.success
    visit = list_visits(engine, scope=SYSTEM, visit_id=int(new["id"])).iloc[0]
    assert visit["status"] == "done"
    _, [inspection] = list_inspections(engine, scope=SYSTEM,
                                       inspection_id=int(visit["inspection_id"]))
    assert sum(f["result"] == "problem" for f in inspection["findings"]) == 1
    assert len(inspection["findings"]) == len(boxes)
