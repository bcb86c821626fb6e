"""AppTest runs of 接警 (call taking and case search) and of 派遣 opening ``?case=ID``, on
a small demo database."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from geo import store
from geo.access import SYSTEM
from geo.store import dispatching
from geo.store.models import Case
from tests.test_app import demo_db, signed_in  # noqa: F401  (demo_db: a fixture)

ZHILI, YUEHE = "330502100000", "330502001000"


def _calltaker_page():
    from geo.app import calltaker_page
    calltaker_page.render()


def _dispatch_page():
    from geo.app import dispatch_page
    dispatch_page.render()


def _calltaker_page_clicked_twice():
    """接警, where the callback of 立案 runs again at the start of a run when the session
    says ``_again``: as Streamlit runs it for a second click that lands before the page was
    shown again (with the arguments the button was drawn with, before the first click)."""
    import streamlit as st

    from geo.app import calltaker_page

    real = st.button

    def spy(label, key=None, on_click=None, kwargs=None, **more):
        if key == "ct_submit":
            st.session_state["_click"] = (on_click, kwargs)
        return real(label, key=key, on_click=on_click, kwargs=kwargs, **more)

    if st.session_state.pop("_again", False):
        on_click, kwargs = st.session_state["_click"]
        on_click(**kwargs)
    st.button = spy
    try:
        calltaker_page.render()
    finally:
        st.button = real


def _inside(engine, code: str) -> tuple[str, str]:
    """A point inside township ``code``, as typed text (lon, lat)."""
    towns = store.load_layers(engine, scope=SYSTEM).townships.set_index("code")
    point = towns.loc[code].geometry.representative_point()
    return f"{point.x:.6f}", f"{point.y:.6f}"


def _cases(engine) -> int:
    with store.sessions(engine)() as s:
        return s.scalar(select(func.count(Case.id)))


def _notices(at) -> str:
    return " ".join(m.value for m in (*at.success, *at.warning, *at.error, *at.info))


def _type_point(at, lon: str, lat: str):
    at.radio(key="ct_how").set_value("ct_by_coords").run()
    at.text_input(key="ct_lon_0").input(lon)
    at.text_input(key="ct_lat_0").input(lat)
    return at.run()


@pytest.fixture
def engine(demo_db):  # noqa: F811
    return store.connect(demo_db.database_url)


def test_a_call_is_previewed_then_opened_as_one_case_of_the_signed_in_user(engine):
    at = signed_in(_calltaker_page).run()
    assert not at.exception
    assert at.title[0].value == "接警"
    _type_point(at, *_inside(engine, ZHILI))
    at.selectbox(key="ct_matter_0").set_value("M001")
    at.selectbox(key="ct_severity_0").set_value("high")
    at.text_input(key="ct_address_0").input("织里镇中华路1号")
    at.text_area(key="ct_desc_0").input("店门口占道经营")
    at.run()
    assert not at.exception and not at.error
    shown = " ".join(m.value for m in at.markdown)
    assert "分拨预览" in shown and "归属理由" in shown and "织里镇" in shown
    before = _cases(engine)
    at.button(key="ct_submit").click().run()
    assert not at.exception and not at.error
    assert _cases(engine) == before + 1
    frame = store.cases_frame(engine, scope=SYSTEM)
    case = frame.loc[frame["id"].idxmax()]
    assert (case["source"], case["township_code"], case["severity"]) == ("12345", ZHILI, "high")
    assert case["description"] == "地址：织里镇中华路1号\n店门口占道经营"
    # the form's time is the district's clock now (to the minute), stored as UTC
    assert abs(case["opened_at"] - store.utcnow()) < dt.timedelta(minutes=2)
    entries = store.case_timeline(engine, int(case["id"]), scope=SYSTEM)
    assert [(e.actor, e.to_state) for e in entries] == [("command", "routed")]
    told = at.success[0].value
    assert f"已立案：案件 #{case['id']}" in told
    assert "织里镇" in told  # the body: 织里镇's enforcement center, by name
    # a new, empty form, with the way into 派遣
    assert at.text_input(key="ct_lon_1").value == "" and at.text_area(key="ct_desc_1").value == ""
    assert at.selectbox(key="ct_matter_1").value == ""


def test_hostile_input_gives_a_message_never_an_exception(engine):
    at = signed_in(_calltaker_page).run()
    before = _cases(engine)
    for lon, lat, said in (("nan", "30.8", "坐标缺失"), ("200", "30.8", "坐标超出范围"),
                           ("abc", "30.8", "不是数字"), ("30.8", "120.1", "颠倒")):
        _type_point(at, lon, lat)
        assert not at.exception
        assert said in " ".join(e.value for e in at.error), (lon, lat)
        assert not [b for b in at.button if b.key == "ct_submit"]
    _type_point(at, *_inside(engine, ZHILI))
    # each box full: together more than an alert's description holds
    at.text_input(key="ct_address_0").input("路" * 200)
    at.text_area(key="ct_desc_0").input("很长的描述" * 800)
    at.button(key="ct_submit").click().run()
    assert not at.exception
    assert "超过 4000 个字" in " ".join(e.value for e in at.error)
    assert _cases(engine) == before


def test_a_planner_gets_no_form_but_may_search(engine):
    at = signed_in(_calltaker_page, "planner").run()
    assert not at.exception
    assert "您的角色不能立案" in _notices(at)
    assert not [b for b in at.button if b.key == "ct_submit"]
    assert not [r for r in at.radio if r.key == "ct_how"]
    at.text_input(key="ct_search").input("1").run()
    assert not at.exception and len(at.dataframe) == 1


def test_township_staff_cannot_open_a_case_in_another_township(engine):
    at = signed_in(_calltaker_page, "zhili").run()
    _type_point(at, *_inside(engine, YUEHE))
    assert "不在本镇街" in " ".join(w.value for w in at.warning)  # told before submitting
    before = _cases(engine)
    at.button(key="ct_submit").click().run()
    assert not at.exception
    assert "只能为本镇街立案" in " ".join(e.value for e in at.error)
    assert _cases(engine) == before
    _type_point(at, *_inside(engine, ZHILI))
    at.button(key="ct_submit").click().run()
    assert not at.error and _cases(engine) == before + 1


def test_search_finds_cases_by_number_and_site_within_the_scope_only(engine):
    frame = store.cases_frame(engine, scope=SYSTEM)
    at = signed_in(_calltaker_page).run()
    some = frame[frame["site_id"].notna()].iloc[0]
    at.text_input(key="ct_search").input(str(int(some["id"]))).run()
    table = at.dataframe[0].value
    assert table["案件号"].iloc[0] == some["id"]
    assert table["在派遣中打开"].iloc[0] == f"dispatch?case={some['id']}"
    at.text_input(key="ct_search").input(some["site_id"]).run()
    assert some["id"] in at.dataframe[0].value["案件号"].tolist()
    # township staff do not find another township's case
    other = frame[(frame["township_code"] != ZHILI) & frame["site_id"].notna()].iloc[0]
    mine = signed_in(_calltaker_page, "zhili").run()
    for text in (str(int(other["id"])), other["site_id"]):
        mine.text_input(key="ct_search").input(text).run()
        found = mine.dataframe[0].value["案件号"].tolist() if mine.dataframe else []
        assert other["id"] not in found, text
    mine.text_input(key="ct_search").input("没有这种字").run()
    assert not mine.dataframe and "未找到案件" in _notices(mine)
    # wildcards are taken literally; the box holds 100 characters (the store refuses more)
    mine.text_input(key="ct_search").set_value("%_" * 500).run()
    assert not mine.exception and "未找到案件" in _notices(mine)


def test_dispatch_opens_the_case_named_in_its_address(engine):
    frame = store.cases_frame(engine, scope=SYSTEM)
    routed = frame[frame["status"] == "routed"]
    pick = int(routed["id"].iloc[-1])
    at = signed_in(_dispatch_page)
    at.query_params["case"] = str(pick)
    at.run()
    assert not at.exception
    assert at.selectbox(key="d_case").value == pick
    assert any(m.value.startswith(f"**#{pick} ") for m in at.markdown)
    # outside the user's scope: said so, the queue as usual
    other = int(frame.loc[frame["township_code"] != ZHILI, "id"].iloc[0])
    mine = signed_in(_dispatch_page, "zhili")
    mine.query_params["case"] = str(other)
    mine.run()
    assert not mine.exception
    assert f"案件 #{other} 不在您的待办队列中" in " ".join(w.value for w in mine.warning)
    assert mine.selectbox(key="d_case").value != other
    bad = signed_in(_dispatch_page)
    bad.query_params["case"] = "1;DROP"
    bad.run()
    assert not bad.exception and "案件号无效" in " ".join(w.value for w in bad.warning)


def test_a_second_click_on_a_form_already_submitted_stores_nothing(engine):
    at = signed_in(_calltaker_page_clicked_twice).run()
    _type_point(at, *_inside(engine, ZHILI))
    at.selectbox(key="ct_matter_0").set_value("M001")
    at.text_area(key="ct_desc_0").input("店门口占道经营")
    at.run()
    before = _cases(engine)
    at.button(key="ct_submit").click().run()
    assert _cases(engine) == before + 1
    told = at.success[0].value
    at.session_state["_again"] = True
    at.run()  # the first form's button again, the new form empty
    assert not at.exception and not at.error
    assert _cases(engine) == before + 1  # no second, blank case
    assert [m.value for m in at.success] == [told]  # the confirmation stands
    assert at.text_area(key="ct_desc_1").value == ""


def test_text_that_reads_other_than_it_is_stored_is_refused_naming_the_field(engine):
    at = signed_in(_calltaker_page).run()
    _type_point(at, *_inside(engine, ZHILI))
    before = _cases(engine)
    for widget, value, field in (("text_area", "罚款\u202e001\u202c元", "描述"),
                                 ("text_input", "中华路\u20661号\u2069", "地址")):
        getattr(at, widget)(key=f"ct_{'desc' if widget == 'text_area' else 'address'}_0") \
            .set_value(value)
        at.button(key="ct_submit").click().run()
        assert not at.exception
        said = " ".join(e.value for e in at.error)
        assert f"{field}含有文字方向控制字符" in said, value
        getattr(at, widget)(key=f"ct_{'desc' if widget == 'text_area' else 'address'}_0") \
            .set_value("")
    assert _cases(engine) == before


def test_a_dispatchers_case_handed_to_another_body_offers_no_dead_link(engine):
    at = signed_in(_calltaker_page, "dispatcher-sc").run()
    _type_point(at, *_inside(engine, ZHILI))
    at.selectbox(key="ct_matter_0").set_value("M001")  # routes to 织里镇's center
    at.run()
    at.button(key="ct_submit").click().run()
    assert not at.exception and not at.error
    frame = store.cases_frame(engine, scope=SYSTEM)
    case = frame.loc[frame["id"].idxmax()]
    assert case["body_code"] != "DT-SC"
    told = at.success[0].value
    assert f"已立案：案件 #{case['id']}，已交" in told and "不在您的范围内" in told
    assert "织里镇" in told  # the body by name
    assert not at.get("page_link")  # no way into 派遣 that leads nowhere
    # a case of the caller's scope keeps its way into 派遣
    mine = signed_in(_calltaker_page, "zhili").run()
    _type_point(mine, *_inside(engine, ZHILI))
    mine.button(key="ct_submit").click().run()
    assert "已立案" in mine.success[0].value and len(mine.get("page_link")) == 1


def _close(engine, case_id: int) -> None:
    """Move a routed case to 已办结 through its lifecycle."""
    for target, reason in (("verified", ""), ("closed", "已整改")):
        version = int(store.cases_frame(engine, scope=SYSTEM).set_index("id")
                      .loc[case_id, "version"])
        dispatching.transition_case(engine, case_id, version, target, "tester", reason,
                                    scope=SYSTEM)


def test_dispatch_shows_a_closed_case_of_the_scope_read_only_and_hides_others(engine):
    frame = store.cases_frame(engine, scope=SYSTEM)
    routed = frame[frame["status"] == "routed"]
    mine = int(routed.loc[routed["township_code"] == ZHILI, "id"].iloc[0])
    other = int(routed.loc[routed["township_code"] != ZHILI, "id"].iloc[0])
    for case_id in (mine, other):
        _close(engine, case_id)
    at = signed_in(_dispatch_page, "zhili")
    at.query_params["case"] = str(mine)
    at.run()
    assert not at.exception
    assert f"案件 #{mine}（只读）" in [h.value for h in at.subheader]
    assert "已办结" in " ".join(i.value for i in at.info)
    assert not at.warning
    shown = [m.value for m in at.markdown]
    summary = next(m for m in shown if m.startswith(f"**#{mine} "))
    assert "已办结" in summary and "织里镇" in summary
    body = frame.set_index("id").loc[mine, "body_code"]
    assert body not in summary  # the body by name, not its code
    assert any("已整改" in m or "办结" in m for m in shown if m.startswith("- "))  # timeline
    assert "证据" in " ".join(shown)
    # nothing to act on: the view adds one button to the page, which closes it
    plain = signed_in(_dispatch_page, "zhili").run()
    assert ({b.key for b in at.button} - {b.key for b in plain.button}
            == {f"d_ro_close_{mine}"})
    at.button(key=f"d_ro_close_{mine}").click().run()
    assert f"案件 #{mine}（只读）" not in [h.value for h in at.subheader]
    # a closed case outside the scope: not found, as any other (its existence not told)
    away = signed_in(_dispatch_page, "zhili")
    away.query_params["case"] = str(other)
    away.run()
    assert not away.exception
    assert f"案件 #{other} 不在您的待办队列中" in " ".join(w.value for w in away.warning)
    assert not [h for h in away.subheader if "只读" in h.value]
    assert not any(m.value.startswith(f"**#{other} ") for m in away.markdown)


def test_dispatch_shows_an_open_case_of_another_body_than_the_one_chosen_read_only(engine):
    frame = store.cases_frame(engine, scope=SYSTEM)
    routed = frame[(frame["status"] == "routed") & frame["body_code"].notna()]
    first = routed.iloc[0]
    elsewhere = int(routed.loc[routed["body_code"] != first["body_code"], "id"].iloc[0])
    at = signed_in(_dispatch_page).run()
    at.sidebar.selectbox(key="d_body").set_value(first["body_code"]).run()
    at.query_params["case"] = str(elsewhere)
    at.run()
    assert not at.exception
    assert f"案件 #{elsewhere}（只读）" in [h.value for h in at.subheader]
    said = " ".join(i.value for i in at.info)
    assert "不在当前待办队列中" in said
    body = frame.set_index("id").loc[elsewhere, "body_code"]
    assert at.session_state["d_case"] != elsewhere and body not in said
