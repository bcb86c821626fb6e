"""The demo's inspection history (``python -m geo demo history``): a year of joint
inspections with findings, requirements and re-inspections."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from geo.access import SYSTEM


def demo_history(engine, rng: np.random.Generator, n: int, today: dt.date) -> int:
    """A year of joint inspections ending ``today``, with findings, requirements and
    re-inspections (about 3/4 of problems fixed at the first re-inspection), written in
    bulk; only into an empty history. Returns the number of inspections added."""
    from sqlalchemy import func, insert, select

    from geo import store
    from geo.inspections import rectification_plan
    from geo.store.inspecting import checklists
    from geo.store.models import Finding, Inspection, Reinspection

    with store.sessions(engine)() as s:
        if s.scalar(select(func.count()).select_from(Inspection)):
            return 0
    items = checklists(engine, scope=SYSTEM)
    if items.empty:
        raise LookupError("no checklists loaded (data/checklists.csv at init)")
    sites = store.load_layers(engine, scope=SYSTEM).sites
    weight = sites["risk"].map({"high": 6.0, "medium": 2.0, "low": 1.0}).to_numpy()
    pick = rng.choice(len(sites), size=n, p=weight / weight.sum())
    days = sorted(today - dt.timedelta(days=int(d)) for d in rng.integers(0, 365, n))
    by_kind = {k: g for k, g in items.groupby("kind")}
    inspections, findings = [], []
    for k, (i, day) in enumerate(zip(pick, days, strict=True), start=1):
        site = sites.iloc[int(i)]
        checklist = by_kind.get(site["kind"])
        if checklist is None:
            continue
        rate = {"high": 0.22, "medium": 0.12, "low": 0.06}[site["risk"]]
        problem = rng.random(len(checklist)) < rate
        departments = sorted(set(checklist["department"]))
        inspections.append({"id": k, "site_id": site["site_id"], "day": day,
                            "departments": ",".join(departments), "inspector": "demo"})
        for code, bad in zip(checklist["item_code"], problem, strict=True):
            findings.append({"inspection_id": k, "site_id": site["site_id"],
                             "day": pd.Timestamp(day), "item_code": code,
                             "result": "problem" if bad else "pass"})
    frame = pd.DataFrame(findings)
    plan = rectification_plan(frame, items).set_index(["inspection_id", "item_code"])
    rows, reins = [], []
    for fid, f in enumerate(findings, start=1):
        key = (f["inspection_id"], f["item_code"])
        p = plan.loc[key] if f["result"] == "problem" else None
        deadline = None if p is None else p["deadline"].date()
        rows.append({"id": fid, "inspection_id": f["inspection_id"], "item_code": f["item_code"],
                     "result": f["result"], "note": "",
                     "requirement": None if p is None else p["requirement"],
                     "deadline": deadline})
        if deadline is not None and deadline <= today:
            first = deadline - dt.timedelta(days=int(rng.integers(0, 5)))
            fixed = bool(rng.random() < 0.75)
            reins.append({"finding_id": fid, "day": first, "fixed": fixed})
            second = first + dt.timedelta(days=14)
            if not fixed and second <= today and rng.random() < 0.8:
                reins.append({"finding_id": fid, "day": second, "fixed": bool(rng.random() < 0.8)})
    with store.sessions(engine).begin() as s:
        s.execute(insert(Inspection), inspections)
        s.execute(insert(Finding), rows)
        if reins:
            s.execute(insert(Reinspection), reins)
        if engine.dialect.name == "postgresql":
            # the ids were given: move PostgreSQL's sequences past them, so that the next
            # inspection recorded (a page, the API, a joint visit done) gets a free id
            from sqlalchemy import text

            for table in ("inspections", "findings"):
                s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))"))
    return len(inspections)
