"""The demo's 两单融合 and 审批—监管—执法 hand-off: the powers catalogue (``data/powers.csv``,
written by ``python -m geo demo build``) and a few approvals, supervision tasks, referrals
and a notice (``python -m geo demo history``).

Illustrative content in the shape of Zhejiang's power and responsibility lists: the
departments, permits, articles and amounts are plausible, not an official list.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd

from geo.access import SYSTEM, Scope
from geo.days import local_day

#: domain -> (approving department, law cited, department that supervises holders)
DOMAINS = {
    "综合执法": ("区综合行政执法局", "《浙江省城市市容和环境卫生管理条例》", "综合执法"),
    "住房城乡建设": ("区住房和城乡建设局", "《中华人民共和国建筑法》", "住房城乡建设"),
    "自然资源": ("区自然资源和规划分局", "《中华人民共和国土地管理法》", "自然资源"),
    "生态环境": ("区生态环境分局", "《中华人民共和国环境保护法》", "生态环境"),
    "市场监管": ("区市场监督管理局", "《无证无照经营查处办法》", "市场监管"),
    "应急管理": ("区应急管理局", "《中华人民共和国安全生产法》", "应急管理"),
    "农业农村": ("区农业农村局", "《中华人民共和国农业法》", "农业农村"),
    "交通运输": ("区交通运输局", "《中华人民共和国公路法》", "交通运输"),
    "文化旅游": ("区文化和广电旅游体育局", "《互联网上网服务营业场所管理条例》", "文化旅游"),
    "卫生健康": ("区卫生健康局", "《公共场所卫生管理条例》", "卫生健康"),
    "水利": ("区水利局", "《中华人民共和国水法》", "水利"),
    "教育": ("区教育局", "《中华人民共和国民办教育促进法》", "教育"),
    "民政": ("区民政局", "《殡葬管理条例》", "民政"),
    "人力社保": ("区人力资源和社会保障局", "《保障农民工工资支付条例》", "人力社保"),
}

#: matter code -> (permit, legal basis, penalty min, max in yuan, supervision days); the
#: matters with a permit whose holders are supervised after approval
PERMITS = {
    "M003": ("户外广告设施设置许可", "《浙江省城市市容和环境卫生管理条例》第五十条",
             1000, 10000, 30),
    "M006": ("建设工程规划许可证", "《中华人民共和国城乡规划法》第六十四条", 0, 0, 30),
    "M007": ("建筑工程施工许可证", "《中华人民共和国建筑法》第六十四条", 10000, 100000, 20),
    "M009": ("燃气经营许可证", "《城镇燃气管理条例》第四十五条", 50000, 500000, 30),
    "M013": ("排污许可证", "《排污许可管理条例》第三十四条", 200000, 1000000, 30),
    "M014": ("建设项目环境影响评价批复", "《中华人民共和国环境影响评价法》第三十一条",
             0, 0, 30),
    "M018": ("营业执照", "《无证无照经营查处办法》第十三条", 0, 10000, 30),
    "M019": ("食品经营许可证", "《中华人民共和国食品安全法》第一百二十二条", 50000, 100000, 15),
    "M022": ("特种设备使用登记证", "《中华人民共和国特种设备安全法》第八十四条",
             30000, 300000, 30),
    "M024": ("公众聚集场所投入使用、营业前消防安全检查合格证",
             "《中华人民共和国消防法》第五十八条", 30000, 300000, 15),
    "M025": ("危险化学品经营许可证", "《危险化学品安全管理条例》第七十七条", 100000, 200000, 15),
    "M034": ("公路用地占用许可", "《中华人民共和国公路法》第七十六条", 0, 30000, 30),
    "M035": ("网络文化经营许可证", "《互联网上网服务营业场所管理条例》第二十七条",
             0, 0, 30),
    "M039": ("公共场所卫生许可证", "《公共场所卫生管理条例》第十四条", 0, 20000, 30),
    "M041": ("取水许可证", "《中华人民共和国水法》第六十九条", 20000, 100000, 30),
    "M042": ("民办学校办学许可证", "《中华人民共和国民办教育促进法》第六十二条", 0, 0, 30),
}


def demo_powers(matters: pd.DataFrame) -> pd.DataFrame:
    """``powers.csv`` of the demo: one row per matter of ``matters`` (``code, domain``)."""
    rows = []
    for code, domain in zip(matters["code"], matters["domain"], strict=True):
        approving, law, supervising = DOMAINS[domain]
        permit, basis, low, high, days = PERMITS.get(code, ("", f"{law}相关条款", "", "", 30))
        rows.append({"matter_code": code, "permit": permit, "legal_basis": basis,
                     "approving_department": approving,
                     "penalty_min_yuan": low if permit and high else "",
                     "penalty_max_yuan": high if permit and high else "",
                     "supervising_department": supervising, "supervision_days": days})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------- the history
#: the source the demo's approvals come from (the approval system, 审批系统)
DEMO_SOURCE = "approvals"
COMMAND = Scope("command", actor="command")
YUEHE = "330502001000"
#: the demo users (`geo.demo.users`) who act for a township or body in the history
ACTORS = {YUEHE: "yuehe", "330502100000": "zhili", "DT-SC": "dispatcher-sc"}


def _pick_sites(sites: pd.DataFrame, items: pd.DataFrame) -> dict[str, pd.Series]:
    """One site per kind used below, lowest site id first (deterministic)."""
    out = {}
    for kind in ("shop", "construction", "enterprise", "warehouse", "workshop"):
        found = sites[(sites["kind"] == kind) & sites["township_code"].notna()].sort_values(
            "site_id")
        if len(found) and (items["kind"] == kind).any():
            out[kind] = found.iloc[0]
    return out


def add_handoff_history(engine, router, catalog, today: dt.date, tz: ZoneInfo,
                        now: dt.datetime, ack_days: int = 3) -> dict[str, int] | None:
    """Approvals with their supervision tasks (one visited and passed, one under
    rectification, one escalated into a case that was then closed — with its notice to the
    approving department —, one open and one overdue), and two referrals of open cases
    (one acknowledged, one left unacknowledged past its deadline and escalated); only into
    a database without approvals. Returns counts, or None where there was something."""
    from sqlalchemy import func, select

    from geo import store
    from geo.escalation import escalate_unfixed
    from geo.store import dispatching, handoff
    from geo.store.inspecting import checklists, inspection_finding, record_reinspection
    from geo.store.models import Approval

    with store.sessions(engine)() as s:
        if s.scalar(select(func.count()).select_from(Approval)):
            return None
    items = checklists(engine, scope=SYSTEM)
    sites = store.load_layers(engine, scope=SYSTEM).sites
    if sites is None or items.empty:
        return None
    picked = _pick_sites(sites, items)
    day = today.toordinal()
    plan = [  # (kind, matter, days since granted, visit: days ago or None, problem item)
        ("shop", "M019", 60, 50, "SHO-03"),          # escalated, then closed: 抄告
        ("construction", "M007", 25, 5, "CON-01"),   # a problem under rectification
        ("enterprise", "M022", 40, 20, None),        # visited, passed
        ("warehouse", "M025", 5, None, None),        # open
        ("workshop", "M018", 45, None, None),        # overdue: never visited
    ]
    records, rows = [], []
    for n, (kind, matter, ago, _, _) in enumerate(plan, start=1):
        if kind not in picked:
            continue
        records.append({"id": f"SP-{today:%Y}-{n:04d}", "site_id": picked[kind]["site_id"],
                        "matter": matter, "granted_on": dt.date.fromordinal(day - ago)})
        rows.append(n)
    results, rejects = handoff.ingest_approvals(engine, records, rows, DEMO_SOURCE, today,
                                                dt.date(2000, 1, 1), scope=SYSTEM)
    if rejects:
        raise ValueError(f"demo approvals refused: {rejects[0]}")
    task_of = {r["row"]: r["task_id"] for r in results}
    tasks = handoff.tasks_frame(engine, today, scope=SYSTEM).set_index("id")
    escalate = []
    for n, (kind, _, _, visit, problem) in enumerate(plan, start=1):
        if visit is None or n not in task_of:
            continue
        department = tasks.loc[task_of[n], "department"]
        mine = items[(items["kind"] == kind) & (items["department"] == department)]
        mine = mine if len(mine) else items[items["kind"] == kind]
        findings = [{"item_code": code, "result": "problem" if code == problem else "pass"}
                    for code in mine["item_code"]]
        visited = dt.date.fromordinal(day - visit)
        iid = handoff.record_supervision(engine, task_of[n], visited, findings, scope=SYSTEM)
        if problem is not None and visit > 20:  # re-inspected at its deadline: not fixed
            finding = inspection_finding(engine, iid, item_code=problem, scope=SYSTEM)
            record_reinspection(engine, finding, visited + dt.timedelta(days=15), False,
                                scope=SYSTEM)
            escalate.append(iid)
    closed = 0
    if escalate:
        escalate_unfixed(engine, router, catalog, today, tz, scope=SYSTEM, only=escalate)
        for case_id in handoff.tasks_frame(engine, today, scope=SYSTEM)["case_ids"].sum():
            frame = store.cases_frame(engine, scope=SYSTEM).set_index("id")
            version = int(frame.loc[case_id, "version"])
            dispatching.transition_case(engine, case_id, version, "verified", "command",
                                        scope=COMMAND)
            dispatching.transition_case(engine, case_id, version + 1, "closed", "command",
                                        "已立案查处，责令改正并处罚款；抄告审批部门",
                                        scope=COMMAND)
            closed += 1
    referred = _demo_referrals(engine, router, catalog, now, tz, ack_days)
    return {"approvals": len(results), "escalated": closed, "referrals": referred}


def _demo_referrals(engine, router, catalog, now: dt.datetime, tz: ZoneInfo,
                    ack_days: int) -> int:
    """Two reports (patrol) of a 市场监管 matter empowered to a township (月河街道 first),
    routed to its center through the ingest path, 8 and 2 days ago, and referred two hours
    later to the district team (区市场监管执法队): the older one left unacknowledged and
    escalated past its deadline, the other acknowledged the next day."""
    from sqlalchemy import update

    from geo import store
    from geo.ingest import ingest_records
    from geo.store import handoff
    from geo.store.models import AuditLog

    day = local_day(now, tz)
    emp = catalog.empowerment
    team = dict(zip(catalog.matters["code"], catalog.matters["district_body"], strict=True))
    live = emp[(emp["effective_from"] <= day) & emp["effective_to"].map(
        lambda d: d is None or d > day) & (emp["matter_code"].map(team) == "DT-SC")]
    if live.empty:
        return 0
    live = live.assign(_other=live["township_code"] != YUEHE).sort_values(
        ["_other", "township_code", "matter_code"])
    township, matter = live.iloc[0]["township_code"], live.iloc[0]["matter_code"]
    name = catalog.matter(matter)["name"]
    sites = store.load_layers(engine, scope=SYSTEM).sites
    here = sites[sites["township_code"] == township].sort_values("site_id").head(2)
    if len(here) < 2:
        return 0
    records = []
    for n, (days, site) in enumerate(zip((8, 2), here.itertuples(), strict=True), start=1):
        at = site.geometry.representative_point()
        records.append((n, {"id": f"DEMO-REFER-{n}", "lon": at.x, "lat": at.y,
                            "matter": matter, "source": "patrol", "severity": "medium",
                            "reported_at": (now - dt.timedelta(days=days)).replace(
                                tzinfo=dt.UTC).isoformat(),
                            "description": f"巡查发现：{site.name}涉嫌{name}，案情较复杂"}))
    ingest_records(engine, iter(records), router, catalog, "demo referrals", tz=tz)
    cases = store.cases_frame(engine, scope=SYSTEM)
    cases = cases[cases["external_id"].isin(["DEMO-REFER-1", "DEMO-REFER-2"])
                  & (cases["status"] == "routed")].sort_values("external_id")
    with store.sessions(engine).begin() as s:  # routed as they came in, as the history is
        for case_id, opened in zip(cases["id"], cases["opened_at"], strict=True):
            s.execute(update(AuditLog).where(
                AuditLog.entity == "case", AuditLog.entity_id == str(case_id),
                AuditLog.action == "route").values(at=opened.to_pydatetime()))
    done = 0
    by = Scope("township", township=township, actor=ACTORS.get(township, "demo"))
    for _, case in cases.iterrows():
        if case["body_code"] == "DT-SC":
            continue
        at = case["opened_at"].to_pydatetime() + dt.timedelta(hours=2)
        rid = handoff.refer_case(engine, int(case["id"]), int(case["version"]), "DT-SC",
                                 "经现场核查，案情复杂、涉及面广，依法移送区级执法队伍",
                                 scope=by, tz=tz, working_days=ack_days, at=at)
        if case["external_id"] == "DEMO-REFER-2":
            handoff.acknowledge_referral(engine, rid, scope=Scope(
                "dispatcher", body="DT-SC", actor=ACTORS["DT-SC"]),
                at=min(at + dt.timedelta(hours=20), now))
        done += 1
    handoff.escalate_referrals(engine, now, scope=SYSTEM)
    return done
