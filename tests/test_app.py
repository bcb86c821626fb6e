"""AppTest runs of each page on a small demo database."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from geo import store
from geo.access import SYSTEM
from geo.cases import key_figures
from geo.cli import main
from geo.settings import PROJECT_ROOT
from tests.conftest import copy_sqlite

APP = str(PROJECT_ROOT / "streamlit_app.py")


def _db_path(settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


@pytest.fixture
def demo_db(db_settings, monkeypatch, demo_template):
    """A fresh copy of the small demo database (`tests.conftest.demo_template`)."""
    copy_sqlite(demo_template, _db_path(db_settings))
    monkeypatch.setenv("GEO_DATABASE_URL", db_settings.database_url)
    return db_settings


def signed_in(target, user: str = "command", timeout: float = 60) -> AppTest:
    """An AppTest of the app (or of one page) whose session belongs to ``user``, as after
    signing in."""
    import os

    from geo.store.accounts import get_user, scope_of

    if target == APP:
        at = AppTest.from_file(APP, default_timeout=timeout)
    else:
        at = AppTest.from_function(target, default_timeout=timeout)
        engine = store.connect(os.environ["GEO_DATABASE_URL"])
        at.session_state["onemap_scope"] = scope_of(get_user(engine, user))
    at.session_state["onemap_user"] = user
    return at


def metric(at, label):
    return next(m for m in at.metric if m.label == label).value


def test_command_page_kpis_follow_filters(demo_db):
    at = signed_in(APP).run()
    assert not at.exception
    assert at.title[0].value == "指挥中心"
    frame = store.cases_frame(store.connect(demo_db.database_url), scope=SYSTEM)
    assert int(metric(at, "在办")) == len(frame) == 80
    assert at.sidebar.selectbox(key="f_status").value == "open"  # live cases by default
    at.sidebar.selectbox(key="f_source").set_value("bigdata").run()
    assert not at.exception
    expected = (frame["source"] == "bigdata").sum()
    assert 0 < expected < 80
    assert int(metric(at, "在办")) == expected
    at.sidebar.selectbox(key="f_township").set_value("330502100000").run()
    both = ((frame["source"] == "bigdata") & (frame["township_code"] == "330502100000")).sum()
    assert int(metric(at, "在办")) == both


def test_command_page_overdue_matches_the_database(demo_db):
    from zoneinfo import ZoneInfo
    at = signed_in(APP).run()
    frame = store.cases_frame(store.connect(demo_db.database_url), scope=SYSTEM)
    figures = key_figures(frame, store.utcnow(), ZoneInfo("Asia/Shanghai"))
    assert int(metric(at, "超期")) == figures["overdue"]


def test_case_details_name_the_unit_site_and_body(demo_db):
    engine = store.connect(demo_db.database_url)
    frame = store.cases_frame(engine, scope=SYSTEM)
    case = frame[frame["unit_code"].notna() & frame["site_id"].notna()].iloc[0]
    layers = store.load_layers(engine, scope=SYSTEM)
    unit = layers.units.set_index("code").loc[case["unit_code"], "name"]
    site = layers.sites.set_index("site_id").loc[case["site_id"], "name"]
    at = signed_in(APP)
    at.session_state["case_id"] = int(case["id"])
    at.run()
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert f"单元: {unit}" in shown and f"监管对象: {site}" in shown
    assert f"责任主体: {case['body_code']}" not in shown.replace("\\", "")
    assert "责任主体: " in shown


def test_english_switch(demo_db):
    at = signed_in(APP).run()
    at.sidebar.selectbox(key="lang").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Command center"
    assert int(metric(at, "Open")) == 80


def test_layers_page(demo_db):
    at = signed_in(_layers_page, timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "图层"
    counts = at.dataframe[0].value
    assert counts["要素数"].tolist() == [19, 220, 4662, 62, 843]
    assert at.success[0].value == "未发现问题。"


def _layers_page():
    from geo.app import layers_page
    layers_page.render()


def test_pages_without_database_say_what_to_run(db_settings, monkeypatch):
    monkeypatch.setenv("GEO_DATABASE_URL", db_settings.database_url)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "python -m geo init" in at.warning[0].value


def _dispatch_page():
    from geo.app import dispatch_page
    dispatch_page.render()


def test_dispatch_page_assigns_a_team_and_follows_it(demo_db):
    from geo.store.dispatching import teams_frame
    engine = store.connect(demo_db.database_url)
    frame = store.cases_frame(engine, scope=SYSTEM)
    pick = frame[(frame["source"] == "12345") & frame["township_code"].notna()].iloc[0]
    at = signed_in(_dispatch_page, timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "派遣"
    at.selectbox(key="d_case").set_value(int(pick["id"])).run()
    assign = [b for b in at.button if b.key.startswith(f"assign_{pick['id']}_")]
    assert assign, "no team recommended"
    team_id = assign[0].key.split("_", 2)[2]
    assign[0].click().run()
    assert not at.exception and not at.error
    after = store.cases_frame(engine, scope=SYSTEM)
    assert after.loc[after["id"] == pick["id"], "status"].item() == "dispatched"
    teams = teams_frame(engine, "EPSG:4549", scope=SYSTEM).set_index("team_id")
    assert teams.loc[team_id, "status"] == "dispatched"
    # the team moves on from the page: dispatched -> en route
    at.button(key=next(b.key for b in at.button if b.key.startswith("team_"))).click().run()
    teams = teams_frame(engine, "EPSG:4549", scope=SYSTEM).set_index("team_id")
    assert teams.loc[team_id, "status"] == "en_route"
    timeline = " ".join(m.value for m in at.markdown)
    assert "已分拨 → 已派遣，派遣 " in timeline


def test_dispatch_page_returns_and_reroutes_a_case(demo_db):
    engine = store.connect(demo_db.database_url)
    frame = store.cases_frame(engine, scope=SYSTEM)
    pick = int(frame[frame["township_code"].notna()].iloc[0]["id"])
    at = signed_in(_dispatch_page, timeout=60).run()
    at.selectbox(key="d_case").set_value(pick).run()
    at.text_input(key=f"d_reason_{pick}_returned").input("不属本中心事项")
    at.button(key=f"d_step_{pick}_returned").click().run()
    assert not at.error
    after = store.cases_frame(engine, scope=SYSTEM).set_index("id")
    assert (after.loc[pick, "status"], after.loc[pick, "body_code"]) == ("returned",
                                                                          "CC-330502")
    assert at.selectbox(key="d_case").value == pick
    at.selectbox(key=f"d_body_{pick}").set_value("DT-SC")
    at.button(key=f"d_step_{pick}_routed").click().run()
    after = store.cases_frame(engine, scope=SYSTEM).set_index("id")
    assert (after.loc[pick, "status"], after.loc[pick, "body_code"]) == ("routed", "DT-SC")


def test_a_dispatchers_queue_is_their_bodys_and_names_it(demo_db):
    at = signed_in(_dispatch_page, user="dispatcher-sc").run()
    assert not at.exception
    assert not [s for s in at.sidebar.selectbox if s.key == "d_body"]  # nothing to pick
    queue = at.dataframe[0].value
    assert len(queue) and set(queue["责任主体"]) == {"区市场监管执法队"}


def _coverage_page():
    from geo.app import coverage_page
    coverage_page.render()


def _inspections_page():
    from geo.app import inspections_page
    inspections_page.render()


@pytest.fixture
def history_db(demo_db, history_template):
    """A fresh copy of the demo database with its history (`tests.conftest`)."""
    copy_sqlite(history_template, _db_path(demo_db))
    return demo_db


def test_coverage_page_shows_coverage_and_the_evaluation(history_db):
    at = signed_in(_coverage_page, timeout=120).run()
    assert not at.exception
    assert at.title[0].value == "覆盖"
    table = at.dataframe[0].value
    assert len(table) > 100 and table["按期率"].between(0, 1).all()   # units
    assert not table["单元"].str.fullmatch(r"\d{15}").any()  # names, not codes
    assert len(at.dataframe) == 1  # one section at a time
    frames = []
    for section in ["overdue_sites", "reach", "hot_spots", "evaluation"]:
        at.radio(key="c_section").set_value(section).run()
        assert not at.exception
        frames += [d.value for d in at.dataframe]
    evaluation = at.dataframe[-1].value
    assert {"办理数", "退回数", "从未使用", "常被退回"} <= set(evaluation.columns)
    assert len(evaluation) > 0 and "织里镇" in set(evaluation["镇街"])
    # no raw column name or H3 id anywhere: every header reads as words
    for frame in frames:
        assert not {c for c in frame.columns if c.isascii() and "_" in c}, frame
        assert "cell" not in frame.columns
    at.radio(key="c_section").set_value("coverage_by").run()
    at.sidebar.radio(key="c_level").set_value("township").run()
    assert len(at.dataframe[0].value) == 19


def test_inspections_page_records_an_inspection(history_db):
    from geo.store.inspecting import inspection_tables
    engine = store.connect(history_db.database_url)
    before, _ = inspection_tables(engine, scope=SYSTEM)
    at = signed_in(_inspections_page, timeout=120).run()
    assert not at.exception
    assert at.title[0].value == "集成改一次"
    assert at.metric[0].label == "一次改到位率"
    top = at.dataframe[0].value  # the frequent problems, in words
    assert list(top.columns) == ["部门", "对象类型", "问题", "问题数"]
    assert len(top) and not set(top["对象类型"]) & {"construction", "enterprise", "workshop"}
    boxes = [c for c in at.checkbox if c.key.startswith("i_") and c.key != "i_fixed"]
    boxes[0].check().run()
    at.button(key="i_save").click().run()
    after, _ = inspection_tables(engine, scope=SYSTEM)
    new = after[~after["finding_id"].isin(before["finding_id"])]
    assert len(new) == len(boxes) and (new["result"] == "problem").sum() == 1


ZHILI = "330502100000"


def test_sign_in_form_lets_a_user_in_and_refuses_a_wrong_password(demo_db):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert not at.title  # no page before signing in
    at.text_input[0].input("zhili")
    at.text_input[1].input("wrong-password")
    at.button[0].click().run()
    assert at.error and "不正确" in at.error[0].value and not at.title
    at.text_input[0].input("zhili")
    at.text_input[1].input("zhili-demo")
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value == "指挥中心"
    assert any("zhili" in c.value for c in at.sidebar.caption)


def test_township_staff_see_only_their_townships_cases_on_every_page(demo_db):
    frame = store.cases_frame(store.connect(demo_db.database_url), scope=SYSTEM)
    own = frame[frame["township_code"] == ZHILI]
    assert 0 < len(own) < len(frame)
    at = signed_in(APP, "zhili").run()
    assert int(metric(at, "在办")) == len(own)
    # the township filter offers no other township
    other = frame[frame["township_code"].notna() & (frame["township_code"] != ZHILI)]
    offered = at.sidebar.selectbox(key="f_township").options
    assert len(offered) == 2 and "织里镇" in offered[1]
    # the case details cannot be opened for another township's case
    at = signed_in(APP, "zhili")
    at.session_state["case_id"] = int(other.iloc[0]["id"])
    at.run()
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert other.iloc[0]["external_id"] not in shown
    # the dispatch queue holds only the township's own cases
    at = signed_in(_dispatch_page, "zhili").run()
    assert not at.exception
    queued = {int(o.split()[0].lstrip("#")) for o in at.selectbox(key="d_case").options}
    assert queued and queued <= set(own["id"])


def test_a_planner_can_look_but_not_act(demo_db):
    engine = store.connect(demo_db.database_url)
    frame = store.cases_frame(engine, scope=SYSTEM)
    pick = int(frame[frame["township_code"].notna()].iloc[0]["id"])
    at = signed_in(_dispatch_page, "planner").run()
    assert "只读" in at.info[0].value
    at.selectbox(key="d_case").set_value(pick).run()
    assert not at.exception
    # nothing to act with is offered: no case action, assignment, merge or team move
    keys = {w.key for w in (*at.selectbox, *at.button, *at.text_input)}
    assert not [k for k in keys if k and k.startswith(("assign_", "merge_", "team_", "d_step_",
                                                         "d_reason_"))]
    assert store.cases_frame(engine, scope=SYSTEM).set_index("id").loc[pick, "status"] == "routed"


def test_township_staff_pick_only_their_sites_and_see_only_their_readouts(history_db):
    """zhili: the site picker of 集成改一次 and the overdue sites, coverage table and
    evaluation of 覆盖 hold 织里镇 only."""
    engine = store.connect(history_db.database_url)
    sites = store.load_layers(engine, scope=SYSTEM).sites.set_index("site_id")
    at = signed_in(_inspections_page, "zhili", timeout=120).run()
    assert not at.exception
    offered = at.selectbox(key="i_site").options
    own = sites[sites["township_code"] == ZHILI]
    assert len(offered) == len(own) and 0 < len(own) < len(sites)
    problems = at.selectbox(key="i_problem").options if any(
        s.key == "i_problem" for s in at.selectbox) else []
    assert all(sites.loc[p.split()[0], "township_code"] == ZHILI for p in problems)
    at = signed_in(_coverage_page, "zhili", timeout=120).run()
    assert not at.exception
    at.sidebar.radio(key="c_level").set_value("township").run()
    assert at.dataframe[0].value.iloc[:, 0].tolist() == ["织里镇"]
    at.radio(key="c_section").set_value("overdue_sites").run()
    overdue = at.dataframe[0].value
    assert len(overdue) and set(overdue["镇街"]) <= {"织里镇"}
    at.radio(key="c_section").set_value("evaluation").run()
    evaluation = at.dataframe[-1].value
    assert len(evaluation) and set(evaluation["镇街"]) <= {"织里镇"}


@pytest.mark.parametrize("user", ["planner", "dispatcher-sc"])
def test_inspections_page_offers_recording_only_to_roles_that_may(history_db, user):
    at = signed_in(_inspections_page, user, timeout=120).run()
    assert not at.exception
    keys = {w.key for w in (*at.button, *at.selectbox)}
    if user == "planner":  # read-only: the readouts, no form
        assert at.metric and not {"i_save", "i_reinspect", "i_site"} & keys
    else:
        assert {"i_save", "i_site"} <= keys


def test_teams_on_the_command_and_dispatch_pages_are_the_scopes(demo_db, monkeypatch):
    from geo.store import dispatching
    seen = []
    real = dispatching.teams_frame

    def spy(engine, metric, *, scope):
        frame = real(engine, metric, scope=scope)
        seen.append((scope.role, set(frame["body_code"])))
        return frame

    monkeypatch.setattr(dispatching, "teams_frame", spy)
    at = signed_in(APP, "zhili").run()
    assert not at.exception
    assert seen and all(bodies <= {"TC-" + ZHILI} for role, bodies in seen)


def _sign_in_form(at, username, password):
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click().run()
    return at


def test_failed_sign_ins_lock_the_username_for_a_while(demo_db, monkeypatch):
    from geo.app import auth
    from geo.throttle import SignInThrottle

    now = [0.0]
    monkeypatch.setattr(auth, "THROTTLE", SignInThrottle(free=3, lock_s=30,
                                                         clock=lambda: now[0]))
    at = AppTest.from_file(APP, default_timeout=60).run()
    for _ in range(2):
        _sign_in_form(at, "zhili", "wrong-password")
        assert "用户名或密码不正确" in at.error[0].value
    _sign_in_form(at, "zhili", "wrong-password")
    assert "锁定" in at.error[0].value and "30 秒" in at.error[0].value
    # locked: even the right password is not tried, from any session
    again = AppTest.from_file(APP, default_timeout=60).run()
    _sign_in_form(again, "zhili", "zhili-demo")
    assert "锁定" in again.error[0].value and not again.title
    # another username is not locked
    _sign_in_form(again, "yuehe", "yuehe-demo")
    assert again.title[0].value == "指挥中心"
    now[0] += 31
    _sign_in_form(at, "zhili", "zhili-demo")
    assert not at.exception and at.title[0].value == "指挥中心"


def test_sign_out_ends_the_sign_in_so_the_cookie_signs_no_one_in(demo_db, monkeypatch):
    from sqlalchemy import func, select

    from geo.app import auth
    from geo.store.models import SignIn

    engine = store.connect(demo_db.database_url)
    at = _sign_in_form(AppTest.from_file(APP, default_timeout=60).run(), "zhili",
                       "zhili-demo")
    assert at.title[0].value == "指挥中心"
    cookie = at.session_state[auth.SIGN_IN_KEY]
    job = at.session_state[auth.COOKIE_JOB_KEY]
    assert job[0] == "set" and job[1] == cookie  # the browser is given the cookie
    # a reload (a new session sending the cookie) is signed in
    monkeypatch.setattr(auth, "_cookie_value", lambda: cookie)
    reload = AppTest.from_file(APP, default_timeout=60).run()
    assert reload.title[0].value == "指挥中心"
    assert any("zhili" in c.value for c in reload.sidebar.caption)

    at.sidebar.button(key="sign_out").click().run()
    assert not at.exception and not at.title and at.text_input  # the sign-in form
    assert at.session_state[auth.COOKIE_JOB_KEY] == ("delete",)
    with store.sessions(engine)() as s:
        assert s.scalar(select(func.count()).select_from(SignIn)) == 0
    # a reload with the cookie the browser may still hold shows the sign-in form
    reload = AppTest.from_file(APP, default_timeout=60).run()
    assert not reload.title and reload.text_input
    # and so does the other session of that sign-in, at its next run
    at2 = AppTest.from_file(APP, default_timeout=60).run()
    assert not at2.title


def test_a_disabled_user_is_signed_out_at_the_next_run(demo_db, capsys):
    at = _sign_in_form(AppTest.from_file(APP, default_timeout=60).run(), "zhili",
                       "zhili-demo")
    assert at.title[0].value == "指挥中心"
    assert main(["users", "disable", "zhili"], demo_db) == 0
    at.run()
    assert not at.title and at.text_input


def test_every_page_warns_while_a_public_demo_password_is_active(demo_db, monkeypatch):
    from geo.demo.users import DEMO_USERS

    at = AppTest.from_file(APP, default_timeout=60).run()
    warning = at.warning[0].value
    assert "公开的演示密码" in warning and "admin" in warning and "users password" in warning
    # signed in: the app script warns before it hands over to the page (st.navigation), so
    # every page shows it, at every run
    at = _sign_in_form(at, "command", "command-demo")
    assert at.title[0].value == "指挥中心"
    # signed in, it stays in the sidebar on one line (the whole text on hover), leaving
    # the page its height for the map and the sidebar its filters
    badge = [m for m in at.sidebar.markdown if "公开的演示密码" in m.value]
    assert badge and f"{len(DEMO_USERS)} 个账号" in badge[0].value
    assert "admin" in badge[0].proto.help and "users password" in badge[0].proto.help
    assert not any("公开的演示密码" in w.value for w in at.warning)
    at.sidebar.selectbox(key="f_source").set_value("bigdata").run()
    assert any("公开的演示密码" in m.value for m in at.sidebar.markdown)
    # once every demo password is changed (or its user disabled), no warning
    monkeypatch.setenv("GEO_NEW_PASSWORD", "a-private-password")
    for username, *_ in DEMO_USERS:
        if username != "admin":
            assert main(["users", "password", username], demo_db) == 0
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert at.warning and "admin" in at.warning[0].value and "command" not in \
        at.warning[0].value
    assert main(["users", "disable", "admin"], demo_db) == 0
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not any("演示密码" in w.value for w in at.warning)


def _show_current_scope():
    import os

    import streamlit as st

    from geo import store
    from geo.app import auth

    scope = auth.current_scope(store.connect(os.environ["GEO_DATABASE_URL"]))
    st.write(repr(scope))


def test_a_self_refreshing_view_sees_a_disabled_user_at_once(demo_db):
    """The command page's live view reruns the whole app (the sign-in form) when the
    session's user is no longer signed in with the same scope: `auth.current_scope`."""
    from geo.store.accounts import set_user_active

    at = signed_in(_show_current_scope, "zhili").run()
    assert "township" in at.markdown[0].value and ZHILI in at.markdown[0].value
    set_user_active(store.connect(demo_db.database_url), "zhili", False, scope=SYSTEM)
    at.run()
    assert at.markdown[0].value == "None"


# ------------------------------------------------------------------ issue 12: workflow
def _notices(at) -> str:
    return " ".join(m.value for m in (*at.success, *at.warning, *at.error, *at.info))


def _pick_case(engine, **match):
    frame = store.cases_frame(engine, scope=SYSTEM)
    keep = frame["township_code"].notna()
    for field, value in match.items():
        keep &= frame[field] == value
    return frame[keep].iloc[0]


def test_dispatch_page_tells_the_losing_dispatcher_who_got_the_case(demo_db):
    """Two users assign the same case at once: the store keeps one; the other is told, in
    Chinese, which team and who, the case is reloaded and stays selected."""
    from geo.access import Scope
    from geo.store import dispatching
    engine = store.connect(demo_db.database_url)
    pick = _pick_case(engine, source="12345")
    cid = int(pick["id"])
    at = signed_in(_dispatch_page).run()
    at.selectbox(key="d_case").set_value(cid).run()
    button = next(b for b in at.button if b.key.startswith(f"assign_{cid}_"))
    team_id = button.key.split("_", 2)[2]
    # meanwhile another user sends that team
    teams = dispatching.teams_frame(engine, "EPSG:4549", scope=SYSTEM).set_index("team_id")
    dispatching.assign(engine, cid, int(pick["version"]), team_id,
                       int(teams.loc[team_id, "version"]), "dispatcher-other",
                       scope=Scope("command", actor="dispatcher-other"))
    button.click().run()
    assert not at.exception
    told = " ".join(w.value for w in at.warning)
    assert "dispatcher\\-other" in told and teams.loc[team_id, "name"] in told, told
    assert "您的操作未执行" in told and "派遣" in told
    assert at.selectbox(key="d_case").value == cid
    header = next(m.value for m in at.markdown if m.value.startswith(f"**#{cid} "))
    assert "已派遣" in header  # reloaded: the case reads dispatched
    assignments = dispatching.assignments_of(engine, cid, scope=SYSTEM)
    assert [a.actor for a in assignments] == ["dispatcher-other"]


def test_dispatch_page_offers_no_assignment_where_the_case_cannot_be_dispatched(demo_db):
    from geo.store import dispatching
    engine = store.connect(demo_db.database_url)
    bigdata = _pick_case(engine, source="bigdata", status="routed")
    handling = _pick_case(engine, source="12345")
    dispatching.transition_case(engine, int(handling["id"]), int(handling["version"]),
                                "verified", "x", scope=SYSTEM)
    dispatching.transition_case(engine, int(handling["id"]), int(handling["version"]) + 1,
                                "closed", "x", "核查不属实", scope=SYSTEM)
    at = signed_in(_dispatch_page).run()
    cid = int(bigdata["id"])
    at.selectbox(key="d_case").set_value(cid).run()
    assert not at.exception
    assert not [b for b in at.button if b.key.startswith(f"assign_{cid}_")]
    said = _notices(at)
    assert "不能派遣" in said and "大数据吹哨" in said and "核查确认" in said, said
    # verifying makes it dispatchable, with a confirmation and the case still selected
    at.button(key=f"d_step_{cid}_verified").click().run()
    assert f"案件 #{cid} 已转为「已核查」" in " ".join(s.value for s in at.success)
    assert at.selectbox(key="d_case").value == cid
    assert [b for b in at.button if b.key.startswith(f"assign_{cid}_")]


def test_dispatch_page_offers_the_next_steps_as_buttons_asking_a_reason_where_needed(demo_db):
    engine = store.connect(demo_db.database_url)
    pick = _pick_case(engine, source="12345")
    cid = int(pick["id"])
    at = signed_in(_dispatch_page).run()
    at.selectbox(key="d_case").set_value(cid).run()
    steps = {b.key.rsplit("_", 1)[1] for b in at.button if b.key.startswith(f"d_step_{cid}_")}
    assert steps == {"verified", "returned", "transferred"}  # routed: dispatched by assigning
    assert not [k for k in (w.key for w in at.selectbox) if k and k.startswith("d_target")]
    # a reason only where one is needed
    reasons = {w.key for w in at.text_input if w.key.startswith(f"d_reason_{cid}_")}
    assert reasons == {f"d_reason_{cid}_returned", f"d_reason_{cid}_transferred"}
    # returning without a reason is refused, in Chinese
    at.button(key=f"d_step_{cid}_returned").click().run()
    assert not at.exception
    said = " ".join(e.value for e in at.error)
    assert "转为「已退回」须填写理由" in said and "needs" not in said and "不允许" not in said
    assert store.cases_frame(engine, scope=SYSTEM).set_index("id").loc[cid, "status"] == "routed"
    at.text_input(key=f"d_reason_{cid}_returned").input("不属本中心事项")
    at.button(key=f"d_step_{cid}_returned").click().run()
    assert not at.error
    assert "已退回 吴兴区综合行政执法指挥中心" in " ".join(s.value for s in at.success)
    assert at.selectbox(key="d_case").value == cid


def test_dispatch_page_asks_where_to_reroute_and_transfer_to(demo_db):
    """No body or township is preselected: OK without one is refused with a message;
    transfers go to any township, the neighbours first."""
    from geo.store import dispatching
    engine = store.connect(demo_db.database_url)
    pick = _pick_case(engine, source="12345")
    cid = int(pick["id"])
    at = signed_in(_dispatch_page).run()
    at.selectbox(key="d_case").set_value(cid).run()
    town = at.selectbox(key=f"d_town_{cid}")
    assert town.value is None
    layers = store.load_layers(engine, scope=SYSTEM)
    assert len(town.options) == len(layers.townships) - 1  # every other township
    adjacent = [o for o in town.options if o.endswith("（相邻）")]
    assert adjacent and town.options[:len(adjacent)] == adjacent
    at.text_input(key=f"d_reason_{cid}_transferred").input("位于边界")
    at.button(key=f"d_step_{cid}_transferred").click().run()
    assert "请先选择移交至哪个镇街" in " ".join(e.value for e in at.error)
    assert store.cases_frame(engine, scope=SYSTEM).set_index("id").loc[cid, "status"] == "routed"
    # re-routing a returned case: the body must be chosen
    dispatching.return_case(engine, cid, int(pick["version"]), "x", "不属本中心",
                            scope=SYSTEM)
    at.run()
    body = at.selectbox(key=f"d_body_{cid}")
    assert body.value is None
    at.button(key=f"d_step_{cid}_routed").click().run()
    assert "请先选择改派至哪个执法主体" in " ".join(e.value for e in at.error)
    after = store.cases_frame(engine, scope=SYSTEM).set_index("id")
    assert (after.loc[cid, "status"], after.loc[cid, "body_code"]) == ("returned", "CC-330502")
    at.selectbox(key=f"d_body_{cid}").set_value("DT-SC")
    at.button(key=f"d_step_{cid}_routed").click().run()
    after = store.cases_frame(engine, scope=SYSTEM).set_index("id")
    assert (after.loc[cid, "status"], after.loc[cid, "body_code"]) == ("routed", "DT-SC")
    assert "已改派至 区市场监管执法队" in " ".join(s.value for s in at.success)


def test_the_timeline_and_errors_read_as_sentences_in_the_users_language(demo_db):
    from geo.store import dispatching
    engine = store.connect(demo_db.database_url)
    pick = _pick_case(engine, source="12345")
    cid, version = int(pick["id"]), int(pick["version"])
    dispatching.return_case(engine, cid, version, "dispatcher-sc", "不属本中心",
                            scope=SYSTEM)
    dispatching.reroute_case(engine, cid, version + 1, "DT-SC", "command", scope=SYSTEM)
    at = signed_in(_dispatch_page).run()
    at.selectbox(key="d_case").set_value(cid).run()
    timeline = [m.value for m in at.markdown if m.value.startswith("- ") and "→" in m.value]
    text_ = " ".join(timeline)
    assert "已分拨 → 已退回，退回 吴兴区综合行政执法指挥中心，理由：不属本中心" in text_, text_
    assert "已退回 → 已分拨，改派至 区市场监管执法队" in text_
    assert "re\\-routed" not in text_ and "{" not in text_ and "CC\\-330502" not in text_
    # English on request, errors too
    at.session_state["lang"] = "en"
    at.run()
    timeline = " ".join(m.value for m in at.markdown if m.value.startswith("- "))
    assert ("Routed → Returned, returned to 吴兴区综合行政执法指挥中心, reason: 不属本中心"
            in timeline)
    at.button(key=f"d_step_{cid}_returned").click().run()
    assert "Moving a case to Returned needs a reason." in " ".join(e.value for e in at.error)


def test_inspections_page_clears_the_form_and_confirms_what_was_saved(history_db):
    from geo.store.inspecting import inspection_tables
    engine = store.connect(history_db.database_url)
    at = signed_in(_inspections_page, timeout=120).run()
    boxes = [c for c in at.checkbox if c.key.startswith("i_") and c.key != "i_fixed"]
    site = at.selectbox(key="i_site").value
    boxes[0].check()
    at.text_input(key="i_note").input("消防通道堵塞")
    at.button(key="i_save").click().run()
    assert not at.exception
    said = " ".join(s.value for s in at.success)
    assert "已保存检查记录 #" in said and site in said and "其中 1 项有问题" in said, said
    assert not any(c.value for c in at.checkbox if c.key.startswith(f"i_{site}_"))
    assert at.text_input(key="i_note").value == ""
    # another click without ticking anything records a clean inspection, not the same again
    before, _ = inspection_tables(engine, scope=SYSTEM)
    at.run()
    assert not at.success  # shown once
    # 复检: 已整改 is unticked after saving
    at.checkbox(key="i_fixed").check()
    at.button(key="i_reinspect").click().run()
    assert not at.exception
    assert "已保存复检 #" in " ".join(s.value for s in at.success)
    assert at.checkbox(key="i_fixed").value is False
    after, _ = inspection_tables(engine, scope=SYSTEM)
    assert len(after) == len(before)


def test_the_dispatch_page_is_out_of_date_when_cases_or_the_sign_in_change(demo_db,
                                                                           monkeypatch):
    """What the self-refresh of 派遣 checks each tick: the cases in scope and the user's
    sign-in (signed out, disabled or given another scope: the whole app reruns)."""
    from geo.access import Scope
    from geo.app import auth, dispatch_page
    from geo.store import dispatching
    engine = store.connect(demo_db.database_url)
    scope = Scope("command", actor="command")
    seen = store.cases_version(engine, scope=scope)
    monkeypatch.setattr(auth, "current_scope", lambda engine: scope)
    assert not dispatch_page._out_of_date(engine, scope, seen)
    monkeypatch.setattr(auth, "current_scope", lambda engine: None)  # signed out
    assert dispatch_page._out_of_date(engine, scope, seen)
    monkeypatch.setattr(auth, "current_scope", lambda engine: scope)
    pick = _pick_case(engine, source="12345")
    dispatching.transition_case(engine, int(pick["id"]), int(pick["version"]), "verified",
                                "someone", scope=SYSTEM)
    assert dispatch_page._out_of_date(engine, scope, seen)


# ------------------------------------------------------------------ issue 12: acknowledgement
def _new_high_alert(settings, tmp_path, description: str) -> int:
    """Ingest a high-severity alert reported a few minutes ago where a demo case of 织里镇
    is; its case id."""
    import datetime as dt

    engine = store.connect(settings.database_url)
    where = _pick_case(engine, township_code=ZHILI)
    at = (store.utcnow() - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    path = tmp_path / "high.csv"
    path.write_text("id,lon,lat,matter,reported_at,source,severity,description\n"
                    f"HIGH-1,{where['lon']},{where['lat']},{where['matter_code']},{at},12345,"
                    f"high,{description}\n", encoding="utf-8")
    assert main(["ingest", str(path)], settings) == 0
    frame = store.cases_frame(engine, scope=SYSTEM)
    return int(frame.loc[frame["external_id"] == "HIGH-1", "id"].iloc[0])


def _panel(at):
    return next(e for e in at.expander if "待确认的高危预警" in e.label)


def _stored_days_ago(settings, days: int = 3) -> None:
    """The cases of the fixture as if they had come in ``days`` ago."""
    import datetime as dt

    from sqlalchemy import select

    from geo.store.models import Case
    with store.sessions(store.connect(settings.database_url)).begin() as s:
        for case in s.scalars(select(Case)):
            case.routed_at -= dt.timedelta(days=days)


def test_command_page_new_high_alert_is_viewed_and_acknowledged(demo_db, tmp_path,
                                                                 monkeypatch):
    import datetime as dt

    import folium

    from geo.app import mapview
    drawn = []
    real = mapview.selected_case

    def spy(*args, **kwargs):
        drawn.append((args, real(*args, **kwargs)))
        return drawn[-1][1]

    monkeypatch.setattr(mapview, "selected_case", spy)
    _stored_days_ago(demo_db)
    at = signed_in(APP).run()
    assert not at.exception
    assert _panel(at).label.endswith("(0)")  # the demo's alerts came in days ago
    cid = _new_high_alert(demo_db, tmp_path, "**油烟** [扰民](http://x)")
    at.run()
    assert not at.exception
    assert "请在「待确认的高危预警」中查看并确认" in at.toast[0].value
    panel = _panel(at)
    assert panel.label.endswith("(1)")
    row = next(m.value for m in panel.markdown if f"#{cid} " in m.value)
    assert "织里镇" in row and "\\*\\*油烟\\*\\* \\[扰民\\]" in row  # escaped, as text
    # 查看: the case is selected, shown, ringed on the map and the map is taken to it
    at.button(key=f"ack_view_{cid}").click().run()
    assert not at.exception
    assert at.session_state["case_id"] == cid
    assert any(m.value.startswith(f"**#{cid} ") for m in at.markdown)
    (lat, lon, label), group = drawn[-1]
    assert label.startswith(f"选中的案件 #{cid} ")
    classes = [c.options.get("className") for c in group._children.values()
               if isinstance(c, folium.CircleMarker)]
    assert "onemap-selected" in classes
    frame = store.cases_frame(store.connect(demo_db.database_url), scope=SYSTEM)
    assert (lat, lon) == tuple(frame.set_index("id").loc[cid, ["lat", "lon"]])
    (focus_lat, focus_lon), zoom = at.session_state["map_focus"]
    assert round(zoom) == 16 and abs(focus_lat - lat) < 1e-6 and focus_lon == lon
    # 确认: confirmation, the alert leaves the list, the timeline says who acknowledged
    at.button(key=f"ack_do_{cid}").click().run()
    assert not at.exception
    assert f"已确认 #{cid}" in " ".join(s.value for s in at.success)
    assert _panel(at).label.endswith("(0)")
    assert not [b for b in at.button if b.key and b.key.startswith("ack_")]
    assert any("指挥中心值班员：已确认预警" in m.value for m in at.markdown)  # the user's name
    at.run()  # the next refresh still says so, for a while
    assert f"已确认 #{cid}" in " ".join(s.value for s in at.success)
    kind, said, _ = at.session_state["ack_notice"]
    at.session_state["ack_notice"] = (kind, said, dt.datetime.now() - dt.timedelta(seconds=1))
    at.run()
    assert _panel(at).label.endswith("(0)") and not at.success


def test_planners_see_the_alerts_to_acknowledge_read_only(demo_db, tmp_path):
    _stored_days_ago(demo_db)
    cid = _new_high_alert(demo_db, tmp_path, "")
    at = signed_in(APP, "planner").run()
    assert not at.exception
    assert _panel(at).label.endswith("(1)")
    keys = {b.key for b in at.button}
    assert f"ack_view_{cid}" in keys and f"ack_do_{cid}" not in keys


def test_command_page_team_tooltips_name_the_body_and_say_whether_the_position_is_real(
        demo_db, monkeypatch):
    import datetime as dt

    from geo.app import mapview
    from geo.store.dispatching import add_positions, teams_frame

    engine = store.connect(demo_db.database_url)
    teams = teams_frame(engine, "EPSG:4549", scope=SYSTEM)
    fresh, stale = teams["team_id"].iloc[0], teams["team_id"].iloc[1]
    now = store.utcnow()
    add_positions(engine, [
        {"team_id": fresh, "lon": 120.1, "lat": 30.87, "at": now - dt.timedelta(minutes=1)},
        {"team_id": stale, "lon": 120.1, "lat": 30.86, "at": now - dt.timedelta(hours=3)}],
        scope=SYSTEM)
    drawn = []
    real = mapview.team_layer

    def spy(*args, **kwargs):
        drawn.append(real(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(mapview, "team_layer", spy)
    at = signed_in(APP).run()
    assert not at.exception
    (cluster,) = [c for c in drawn[-1]._children.values() if isinstance(c, mapview.TeamCluster)]
    rows = {r[3].split(" · ")[0]: r for r in cluster.rows}
    names = teams.set_index("team_id")["name"]
    assert rows[names[fresh]][3].endswith("定位正常") and not rows[names[fresh]][4]
    assert rows[names[stale]][3].endswith("定位过期") and rows[names[stale]][4]
    others = [r for n, r in rows.items() if n not in (names[fresh], names[stale])]
    assert others and all(r[3].endswith("无定位") and r[4] for r in others)
    codes = set(teams["body_code"])
    assert not any(part in codes for r in cluster.rows for part in r[3].split(" · "))


def test_the_layers_page_names_no_server_folder_to_non_administrators(tmp_path):
    from geo.app.layers_page import shown_source

    assert shown_source(str(PROJECT_ROOT / "layers"), admin=False) == "layers"
    elsewhere = str(tmp_path / "district" / "layers.gpkg")
    assert shown_source(elsewhere, admin=False) == "layers.gpkg"
    assert shown_source(elsewhere, admin=True) == elsewhere
