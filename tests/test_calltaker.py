"""AppTest runs of 接警 (call taking and case search) and of 派遣 opening ``?case=ID``, on
a small demo database."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from geo import store
from geo.access import SYSTEM
from geo.store.models import Case
from tests.test_app import demo_db, signed_in  # noqa: F401  (demo_db: a fixture)

ZHILI, YUEHE = "330502100000", "330502001000"


def _calltaker_page():
    from geo.app import calltaker_page
    calltaker_page.render()


def _dispatch_page():
    from geo.app import dispatch_page
    dispatch_page.render()


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
