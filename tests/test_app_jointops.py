"""AppTest runs of the joint operation on 派遣: the demo's closed operation read-only for
the command center (participants, teams, seized items with totals, on the 交办单 and the
timeline), a participating dispatcher who finds the operation, sends its team and records a
seized item, and the lead who invites a body."""

from zoneinfo import ZoneInfo

import pytest

from geo import store
from geo.access import SYSTEM, Scope
from geo.demo.jointops import add_joint_operation
from geo.store import dispatching, jointops
from tests import test_app
from tests.test_app import _dispatch_page, signed_in

demo_db = test_app.demo_db
ZHILI = Scope("township", township="330502100000", actor="zhili")
ZHILI_TZ = ZoneInfo("Asia/Shanghai")


def _texts(at) -> str:
    return " ".join(m.value for m in (*at.markdown, *at.success, *at.warning, *at.error,
                                      *at.caption, *at.info))


@pytest.fixture
def scenario(demo_db):
    engine = store.connect(demo_db.database_url)
    made = add_joint_operation(engine, demo_db, store.utcnow())
    assert made is not None and made["value_fen"] == 350_000_000
    assert add_joint_operation(engine, demo_db, store.utcnow()) is None  # once
    return engine, made["case_id"]


def test_the_demo_operation_is_shown_read_only_to_the_command_center(scenario):
    engine, cid = scenario
    at = signed_in(_dispatch_page)
    at.query_params["case"] = str(cid)
    at.run()
    assert not at.exception
    said = _texts(at)
    assert "联合行动" in [s.value for s in at.subheader]
    assert "牵头单位**：织里镇综合行政执法中心" in said
    assert "区市场监管执法队" in said and "区生态环境执法队" in said
    assert "国网湖州供电公司吴兴供电分公司" in said
    assert "合计：2 项，132 台，估值 350万元（3,500,000.00 元）" in said.replace("\\", "")
    table = next(d.value for d in at.dataframe if "物品名称" in d.value.columns)
    assert table["物品名称"].str.contains("蚂蚁矿机").all()
    assert "查扣 蚂蚁矿机 S19" in said.replace("\\", "")  # the timeline
    # read-only: no form of the section
    assert not [b for b in at.button if b.key.startswith("jo_")]
    assert not [f for f in at.get("form")]
    # the 交办单 lists the items and their total
    from geo.app.sheet import SheetNames, assignment_sheet
    case = store.cases_frame(engine, scope=SYSTEM).set_index("id").loc[cid]
    items, _ = jointops.list_seizures(engine, cid, scope=SYSTEM)
    html = assignment_sheet({**case.to_dict(), "id": cid}, [], SheetNames(
        participants=["区市场监管执法队"]), tz=ZHILI_TZ, printed_at=store.utcnow(), seized=items)
    assert "查扣物品" in html and "350万元（3,500,000.00 元）" in html


def _open_joint_case(engine) -> int:
    """A routed case of 织里 (not big data), verified, with DT-SC on its joint operation and
    a 织里 team dispatched."""
    frame = store.cases_frame(engine, scope=ZHILI)
    case = frame[(frame["status"] == "routed") & (frame["source"] != "bigdata")
                 & (frame["body_code"] == "TC-330502100000")].iloc[0]
    cid = int(case["id"])
    jointops.add_participant(engine, cid, "DT-SC", scope=ZHILI)
    teams = dispatching.teams_frame(engine, None, scope=ZHILI)
    free = teams[teams["status"] == "available"].iloc[0]
    try:
        dispatching.assign(engine, cid, int(case["version"]), free["team_id"],
                           int(free["version"]), "zhili", scope=ZHILI)
    except ValueError:  # that team lacks the skill: any other
        for row in teams[teams["status"] == "available"].iloc[1:].itertuples():
            try:
                dispatching.assign(engine, cid, int(case["version"]), row.team_id,
                                   int(row.version), "zhili", scope=ZHILI)
                break
            except ValueError:
                continue
    return cid


def test_a_participating_dispatcher_sends_its_team_and_records_an_item(demo_db):
    engine = store.connect(demo_db.database_url)
    cid = _open_joint_case(engine)
    at = signed_in(_dispatch_page, "dispatcher-sc").run()
    assert not at.exception
    mine = next(d.value for d in at.dataframe if "牵头单位" in d.value.columns)
    assert mine["案件号"].tolist() == [cid]
    assert mine["查看"].iloc[0] == f"dispatch?case={cid}"
    at.query_params["case"] = str(cid)
    at.run()
    assert not at.exception
    assert "仅牵头单位可推进和办结本案。" in _texts(at)
    at.selectbox(key=f"jo_send_{cid}").set_value("DT-SC-1")
    at.button(key=f"jo_send_do_{cid}").click().run()
    assert not at.exception and "已派出 区市场监管执法队一中队（DT\\-SC\\-1）。" in _texts(at)
    on = {a.team_id for a in dispatching.assignments_of(engine, cid, scope=SYSTEM)}
    assert "DT-SC-1" in on
    # its team's next step is offered here
    assert at.button(key=f"jo_team_{cid}_DT-SC-1_en_route")
    at.text_input(key=f"jo_it_{cid}").input("假冒童装")
    at.number_input(key=f"jo_qty_{cid}").set_value(40.0)
    at.selectbox(key=f"jo_unit_{cid}").set_value("件")
    at.number_input(key=f"jo_val_{cid}").set_value(12000.5)
    at.button(key=f"jo_item_save_{cid}").click().run()
    assert not at.exception, at.exception
    items, total = jointops.list_seizures(engine, cid, scope=SYSTEM)
    assert total.value_fen == 1_200_050
    assert [(i["item"], i["quantity"], i["unit"], i["value_fen"], i["body_code"])
            for i in items] == [("假冒童装", 40.0, "件", 1_200_050, "DT-SC")]
    assert "合计：1 项，40 件，估值 1.2万元（12,000.50 元）" in _texts(at).replace("\\", "")


def test_the_lead_invites_a_body_and_the_refusals_are_worded(demo_db):
    engine = store.connect(demo_db.database_url)
    cid = _open_joint_case(engine)
    at = signed_in(_dispatch_page, "zhili").run()
    at.selectbox(key="d_case").set_value(cid).run()
    assert not at.exception
    at.selectbox(key=f"jo_body_{cid}").set_value("DT-ST").run()
    at.button(key=f"jo_invite_do_{cid}").click().run()
    assert "区生态环境执法队 已加入案件" in _texts(at).replace("\\", "")
    at.text_input(key=f"jo_obs_{cid}").input("公安\u0007分局")
    at.button(key=f"jo_obs_do_{cid}").click().run()
    assert not at.exception
    assert "配合单位名称：含有无效字符" in _texts(at).replace("\\", "")
    op = jointops.operation(engine, cid, scope=SYSTEM)
    assert [p["body_code"] for p in op["participants"]] == ["DT-SC", "DT-ST"]
    assert op["observers"] == []
