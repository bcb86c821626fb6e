"""The 审批监管 page (AppTest) on the demo with its history: 两单 in names, supervision tasks
in words, referrals (the overdue one flagged to the command center and acknowledged by the
receiving body's dispatcher), notices; a planner sees without acting."""

import pytest

from geo import store
from geo.access import SYSTEM
from geo.store import handoff
from tests.test_app import demo_db, history_db, signed_in  # noqa: F401 (fixtures)


def _page():
    from geo.app import handoff_page
    handoff_page.render()


@pytest.fixture
def handoff_db(history_db):  # noqa: F811
    """The demo database with its history, the hand-off's demo included."""
    return history_db


def test_the_page_shows_the_hand_off_in_words(handoff_db):
    at = signed_in(_page, timeout=120).run()
    assert not at.exception
    assert at.title[0].value == "审批监管"
    assert [t.label for t in at.tabs] == ["两单", "监管任务", "移送", "抄告"]
    assert "逾期未签收" in at.error[0].value  # the escalated referral, for the command center
    twin, tasks, referrals, notices = (d.value for d in at.dataframe)
    assert len(twin) == 44 and not twin["执法主体"].str.match(r"^(TC|DT)-").any()
    assert twin["法律依据"].str.startswith("《").all()
    assert set(tasks["进展"]) == {"待检查", "逾期未检查", "检查合格", "整改中", "执法办结并抄告"}
    assert set(referrals["进展"]) == {"逾期已上报指挥中心", "已签收"}
    assert notices["抄告部门"].tolist() == ["区市场监督管理局"]
    at.selectbox(key="ho_town").set_value("330502100000").run()  # 织里: the full list
    assert (at.dataframe[0].value["赋权起始"] == "2021-07-01").all()
    planner = signed_in(_page, "planner", timeout=120).run()  # sees without acting
    assert not planner.exception and len(planner.dataframe) == 4
    assert not [b for b in planner.button if b.key and b.key.startswith("ho_")]


def test_the_receiving_body_acknowledges_and_a_township_records_a_visit(handoff_db):
    engine = store.connect(handoff_db.database_url)
    late = handoff.referrals_frame(engine, store.utcnow(), scope=SYSTEM)
    late = late[late["state"] == "escalated"].iloc[0]
    at = signed_in(_page, "dispatcher-sc", timeout=120).run()
    assert not at.exception
    assert at.selectbox(key="ho_ack").value == late["id"]
    at.button(key="ho_ack_btn").click().run()
    assert not at.exception
    assert "已签收移送" in at.success[0].value
    after = handoff.referrals_frame(engine, store.utcnow(), scope=SYSTEM).set_index("id")
    assert after.loc[late["id"], "state"] == "acknowledged"
    assert after.loc[late["id"], "acknowledged_by"] == "dispatcher-sc"
    # township staff record the visit of an open task of theirs
    from zoneinfo import ZoneInfo

    from geo.days import local_today
    today = local_today(ZoneInfo("Asia/Shanghai"))
    tasks = handoff.tasks_frame(engine, today, scope=SYSTEM)
    todo = tasks[tasks["inspection_id"].isna()]
    user = {"330502100000": "zhili", "330502001000": "yuehe"}
    task = todo[todo["township_code"].isin(user)].iloc[0]
    at = signed_in(_page, user[task["township_code"]], timeout=120).run()
    assert not at.exception
    at.selectbox(key="ho_task").set_value(int(task["id"])).run()
    boxes = [c for c in at.checkbox if c.key.startswith(f"ho_{task['id']}_")]
    assert boxes
    boxes[0].check().run()
    at.button(key="ho_save_visit").click().run()
    assert not at.exception and "发现问题 1 项" in at.success[0].value
    after = handoff.tasks_frame(engine, today, scope=SYSTEM).set_index("id")
    assert after.loc[task["id"], "state"] == "rectifying"

