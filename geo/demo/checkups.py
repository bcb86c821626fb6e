"""The demo's check-ups by appointment (预约体检) and joint visits (``python -m geo demo
history``): a few sites' requests, visits answering some of them and others the office
scheduled from the proposals, two of them done (one with a problem to rectify), some with
observers (观摩团). Deterministic: the sites are picked by id from the loaded layers."""

from __future__ import annotations

import datetime as dt

from geo.access import SYSTEM, Scope

#: the townships of the demo users zhili (织里镇) and yuehe (月河街道) come first
DEMO_TOWNSHIPS = ("330502100000", "330502001000", "330502101000", "330502104000")
INSPECTORS = (["陈明", "刘洋"], ["王芳", "赵磊", "孙丽"], ["周杰", "吴静"])
OBSERVERS = ("王建国", "李秀英", "张志强", "刘桂兰")
CONTACTS = ("沈经理", "钱女士", "朱厂长", "杨老板", "许主任")
REASONS = ("新建车间投产前，请各部门一次性体检，提前发现问题",
           "申请入驻园区前的安全生产与环保自查",
           "换证前请求综合体检，避免多头检查",
           "新店开业，希望一次查清消防与食品安全要求",
           "扩建仓库后请求检查，邀请周边企业观摩")


def demo_checkups(engine, today: dt.date) -> int:
    """Requests and visits around ``today`` (only where no visit is stored yet); returns
    the number of visits added."""
    from sqlalchemy import func, select

    from geo import store
    from geo.checkups import bodies_for, department_status, propose_joint_visits, visit_checklist
    from geo.store.checkups import (
        book_checkup,
        complete_visit,
        inspection_departments,
        list_visits,
        schedule_visit,
    )
    from geo.store.inspecting import checklists
    from geo.store.models import JointVisit

    with store.sessions(engine)() as s:
        if s.scalar(select(func.count()).select_from(JointVisit)):
            return 0
    items = checklists(engine, scope=SYSTEM)
    sites = store.load_layers(engine, scope=SYSTEM).sites
    if items.empty or sites is None or sites.empty:
        return 0
    catalog = store.load_catalog(engine, scope=SYSTEM)
    centers = catalog.township_bodies()
    sites = sites[sites["kind"].isin(set(items["kind"]))].sort_values("site_id")
    office = Scope("command", actor="指挥中心(演示)")
    portal = Scope("source", source="zlb", actor="source zlb")

    def site_in(township: str, skip: set[str]) -> str | None:
        rows = sites[(sites["township_code"] == township) & ~sites["site_id"].isin(skip)]
        return None if rows.empty else str(rows["site_id"].iloc[0])

    def plan(site_id: str, day: dt.date, k: int, observers: int = 0, request=None) -> int:
        row = sites.set_index("site_id").loc[site_id]
        departments = sorted(set(items.loc[items["kind"] == row["kind"], "department"]))
        carried = visit_checklist(items, row["kind"], departments)
        lead = centers.get(row["township_code"], catalog.command_center)
        others = sites[(sites["township_code"] == row["township_code"])
                       & (sites["site_id"] != site_id)]["site_id"].tolist()[:observers]
        return schedule_visit(
            engine, site_id, day, lead, INSPECTORS[k % len(INSPECTORS)],
            bodies=bodies_for(carried, catalog.matters), departments=departments,
            observers=[{"name": OBSERVERS[(k + j) % len(OBSERVERS)], "site_id": o}
                       for j, o in enumerate(others)],
            request_id=request, today=today, scope=office)

    used: set[str] = set()
    asked = []
    for k, township in enumerate(DEMO_TOWNSHIPS + DEMO_TOWNSHIPS[:1]):
        site = site_in(township, used)
        if site is None:
            continue
        used.add(site)
        wish = today + dt.timedelta(days=3 + 4 * k)
        asked.append((site, book_checkup(
            engine, site, CONTACTS[k % len(CONTACTS)], REASONS[k % len(REASONS)],
            wish, wish + dt.timedelta(days=10), today=today,
            scope=portal if k % 2 == 0 else office)))
    made = []
    # visits answering the first three requests: one done already, two ahead
    for k, ((site, rid), offset, observers) in enumerate(zip(asked[:3], (-12, 2, 9),
                                                              (2, 2, 0), strict=False)):
        made.append(plan(site, today + dt.timedelta(days=offset), k, observers, rid))
    # visits the office scheduled from the proposals (sites due for several departments)
    status = department_status(sites, inspection_departments(engine, scope=SYSTEM), items,
                               today, catalog.inspection_intervals)
    proposals = propose_joint_visits(status, today, window_days=21, horizon_days=60)
    proposals = proposals[~proposals["site_id"].isin(used)
                          & proposals["township_code"].isin(DEMO_TOWNSHIPS)]
    for k, (site, offset) in enumerate(zip(proposals.drop_duplicates("township_code")
                                           ["site_id"], (-5, 5, 15), strict=False)):
        made.append(plan(site, today + dt.timedelta(days=offset), k + 1, observers=k % 2))
    # the visits already past are done: findings recorded, one problem to rectify
    past = list_visits(engine, scope=SYSTEM, until=today - dt.timedelta(days=1))
    for n, visit in enumerate(past.itertuples(index=False)):
        kind = sites.set_index("site_id").loc[visit.site_id, "kind"]
        carried = visit_checklist(items, kind, visit.departments)
        complete_visit(engine, int(visit.id), [
            {"item_code": code, "result": "problem" if (n == 0 and i == 0) else "pass",
             "note": "现场发现，已告知整改要求" if (n == 0 and i == 0) else ""}
            for i, code in enumerate(carried["item_code"])], today=today, scope=office)
    return len(made)
