"""A realistic demo case history: the demo alerts' cases taken through their lifecycle.

Most cases were closed in time through the real steps of `geo.cases` (verified where the
source needs it, a team dispatched, on scene, handled, some put under rectification and
re-inspected, then closed); the recent ones are still in progress; a minority is overdue;
a few were returned to the command center and re-routed, or transferred to a neighbouring
township. Every step is checked by `geo.cases.check_transition` and written to the audit
log at the time it happened, with the actor and detail the store's own writes give it.
Durations follow each case's deadline (the catalogue's days for its matter and severity).

The history ends at ``now``: the cases (and their alerts) are first moved in time so that
the newest case was opened half an hour before ``now``, whenever the demo database is
built. Times are naive UTC.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geo.cases import (
    UNCONFIRMED_SOURCES,
    check_team_transition,
    check_transition,
    is_open,
    rectification_deadline,
)

#: share of the open cases the history leaves overdue (the rest are within their deadline)
OVERDUE_SHARE = 0.10
#: share of cases closed after their deadline (late, but closed)
LATE_SHARE = 0.06
#: share of cases a township center returns to the command center (re-routed to the district)
RETURN_SHARE = 0.04
#: share of handled cases put under rectification (整改) and re-inspected before closing
RECTIFY_SHARE = 0.15
#: share of big-data alerts that the check on site (核查) finds unfounded
UNFOUNDED_SHARE = 0.2

REASONS = {
    "closed": "现场处置完毕，已办结",
    "closed_rectified": "复检合格，整改到位",
    "closed_unfounded": "核查不实，予以办结",
    "closed_triage": "非执法事项，已告知反映人",
    "closed_desk": "经核查，已责令当事人自行整改到位",
    "returned": "非本中心赋权事项，退回指挥中心",
    "transferred": "位于相邻镇街辖区，移交属地",
}
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


@dataclass
class Story:
    """The steps of one case, checked as they are added."""

    case_id: int
    status: str
    source: str
    body_code: str
    township_code: str | None
    deadline_at: dt.datetime | None
    at: dt.datetime
    events: list[dict] = field(default_factory=list)
    changes: dict = field(default_factory=dict)

    def step(self, target: str, at: dt.datetime, actor: str, action: str = "transition",
             reason: str = "", **detail) -> None:
        """Move the case to ``target`` at ``at`` (raises if `geo.cases` forbids it)."""
        check_transition(self.status, target, self.source, reason)
        said = {"reason": reason} if reason else {}
        self.events.append({"at": at, "actor": actor, "entity": "case",
                            "entity_id": str(self.case_id), "action": action,
                            "from_state": self.status, "to_state": target,
                            "detail": json.dumps({**said, **detail}, ensure_ascii=False)})
        self.status, self.at = target, at


@dataclass
class History:
    """What the history writes: case rows' new values, audit entries, assignments, the
    teams' final states."""

    cases: list[dict]
    events: list[dict]
    assignments: list[dict]
    teams: dict[str, str]


#: how long before ``now`` the newest demo case was opened
NEWEST_AGE = dt.timedelta(minutes=30)


def shift(opened_at: pd.Series, now: dt.datetime) -> dt.timedelta:
    """Whole minutes to move the cases by so that the newest was opened `NEWEST_AGE`
    before ``now`` (none where it was opened later)."""
    gap = pd.Timestamp(now) - NEWEST_AGE - pd.Timestamp(opened_at.max())
    return max(dt.timedelta(0), dt.timedelta(minutes=gap // pd.Timedelta(minutes=1)))


def plan_history(cases: pd.DataFrame, teams: pd.DataFrame, bodies: pd.DataFrame,
                 matters: pd.DataFrame, now: dt.datetime,
                 rng: np.random.Generator) -> History:
    """Plan the lifecycle of every routed case (pure; nothing is written).

    Parameters
    ----------
    cases : DataFrame
        ``id, status, source, matter_code, body_code, township_code, candidates,
        opened_at, deadline_at`` (naive UTC), already moved to end at ``now``.
    teams : DataFrame
        ``team_id, body_code, skills`` (comma-separated domains).
    bodies : DataFrame
        ``code, kind, township_code``.
    matters : DataFrame
        ``code, domain, district_body``.
    now : datetime
        The end of the history (naive UTC).
    rng : numpy.random.Generator
        The source of every choice (fixed seed: the same history each time).
    """
    command = bodies.loc[bodies["kind"] == "command_center", "code"].iloc[0]
    centers = dict(zip(bodies["township_code"], bodies["code"], strict=True))
    domain = dict(zip(matters["code"], matters["domain"], strict=True))
    district = dict(zip(matters["code"], matters["district_body"], strict=True))
    skilled: dict[tuple[str, str], list[str]] = {}
    for team_id, body, skills in zip(teams["team_id"], teams["body_code"], teams["skills"],
                                     strict=True):
        for d in str(skills).split(","):
            skilled.setdefault((body, d.strip()), []).append(team_id)
    ctx = (command, centers, domain, district, skilled)
    seed = int(rng.integers(2**32))
    order = cases.sort_values(["opened_at", "id"], kind="stable")
    first = _stories(order, set(), seed, now, ctx)
    # then a few of the cases closed lately stay open instead: OVERDUE_SHARE of the open
    ended = pd.DataFrame([{"id": st.case_id, "status": st.status,
                           "deadline_at": st.changes.get("deadline_at", st.deadline_at)}
                          for st, _ in first])
    open_ = is_open(ended["status"])
    late = open_ & ended["deadline_at"].notna() & (ended["deadline_at"] < now)
    want = round((open_ & ~late).sum() * OVERDUE_SHARE / (1 - OVERDUE_SHARE)) - late.sum()
    pool = ended.loc[~open_ & (ended["deadline_at"] < now), "id"].to_numpy()[-8 * max(want, 1):]
    stuck = set(rng.choice(pool, size=min(max(want, 0), len(pool)), replace=False).tolist())
    stories = _stories(order, stuck, seed, now, ctx)
    assignments = [job for _, jobs in stories for job in jobs]
    busy = {job["team_id"]: job["status"] for job in assignments
            if job["status"] in ("dispatched", "en_route", "on_scene")}
    stories = [st for st, _ in stories]
    events = [e for s in stories for e in s.events]
    rows = [{"id": s.case_id, "status": s.status, "version": 1 + len(s.events), **s.changes}
            for s in stories if s.events]
    return History(rows, events, assignments, busy)


def _stories(order: pd.DataFrame, stuck: set, seed: int, now: dt.datetime, ctx
             ) -> list[tuple[Story, list[dict]]]:
    """Each routed case's story and its team's jobs, oldest case first (a team still at
    a case is not sent to a later one). Every case draws from its own generator, so a case
    told differently leaves the others' choices as they were."""
    busy: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}  # team -> its jobs' times
    out = []
    for row in order.itertuples(index=False):
        if row.status != "routed":
            continue
        rng = np.random.default_rng([seed, int(row.id)])
        story = Story(int(row.id), "routed", row.source, row.body_code, row.township_code,
                      _ts(row.deadline_at), _ts(row.opened_at) + MINUTE)
        window = ((story.deadline_at - _ts(row.opened_at)) if story.deadline_at
                  else dt.timedelta(days=7))
        jobs: list[dict] = []
        _live(story, row, window, int(row.id) in stuck, now, rng, (*ctx, busy, jobs))
        out.append((story, jobs))
    return out


def _ts(value) -> dt.datetime | None:
    return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _live(story: Story, row, window: dt.timedelta, stuck: bool, now: dt.datetime,
          rng: np.random.Generator, ctx) -> None:
    """Take one case as far as ``now`` allows along the path drawn for it; a ``stuck`` case
    stops in progress, past its deadline."""
    command, centers, domain, district, skilled, busy, assignments = ctx
    opened = _ts(row.opened_at)
    late = rng.random() < LATE_SHARE
    close_at = opened + window * float(rng.uniform(1.05, 1.5) if late
                                       else rng.uniform(0.15, 0.85))
    candidates = [c for c in (row.candidates or []) if c != row.township_code]
    stops = ["handling", "handling", "returned"] + (["transferred"] if candidates else [])
    stop_at = str(rng.choice(stops)) if stuck else None

    def due(at: dt.datetime) -> bool:
        return at <= now

    def actor_of(body: str) -> str:
        return {"DT-SC": "dispatcher-sc", command: "command",
                centers.get("330502100000"): "zhili",
                centers.get("330502001000"): "yuehe"}.get(body, "demo")

    # 1. cases of the command center itself (unknown matter): triage on the phone
    if story.body_code == command:
        at = story.at + HOUR * float(rng.uniform(0.5, 4))
        if due(at):
            story.step("verified", at, "command")
            if due(at + HOUR) and not stuck:
                story.step("closed", at + HOUR, "command", reason=REASONS["closed_triage"])
        return
    # 2. near the border: transferred to the neighbouring township's center
    if candidates and (rng.random() < 0.5 or stop_at == "transferred"):
        at = story.at + HOUR * float(rng.uniform(0.3, 3))
        town = candidates[0]
        if not due(at) or town not in centers:
            return
        story.step("transferred", at, actor_of(story.body_code),
                   reason=REASONS["transferred"], township=town, body=centers[town])
        story.body_code, story.township_code = centers[town], town
        story.changes.update(body_code=centers[town], township_code=town,
                             township_name=None)
        if stop_at == "transferred":
            return
    # 3. a township center that cannot take the matter returns it; the command center
    #    re-routes it to the district team for the matter's domain
    teams = skilled.get((story.body_code, domain.get(row.matter_code)), [])
    returns = story.body_code != district.get(row.matter_code) and (
        not teams or rng.random() < RETURN_SHARE or stop_at == "returned")
    if returns and story.status == "routed":
        at = story.at + HOUR * float(rng.uniform(0.5, 6))
        if not due(at):
            return
        story.step("returned", at, actor_of(story.body_code),
                   reason=REASONS["returned"], body=command)
        story.body_code = command
        story.changes["body_code"] = command
        if stop_at == "returned":
            return
        at = at + HOUR * float(rng.uniform(0.5, 3))
        target = district.get(row.matter_code)
        if not due(at) or target is None:
            return
        story.step("routed", at, "command", body=target)
        story.body_code = target
        story.changes["body_code"] = target
        teams = skilled.get((target, domain.get(row.matter_code)), [])
    actor = actor_of(story.body_code)
    # 4. big-data alerts are checked on site first; some turn out unfounded
    if story.source in UNCONFIRMED_SOURCES and story.status != "verified":
        at = story.at + HOUR * float(rng.uniform(1, 8))
        if not due(at):
            return
        story.step("verified", at, actor)
        if rng.random() < UNFOUNDED_SHARE and not stuck:
            at = at + HOUR * float(rng.uniform(0.5, 2))
            if due(at):
                story.step("closed", at, actor, reason=REASONS["closed_unfounded"])
            return
    # 5. a team with the matter's skill is dispatched, goes there and handles it; where
    #    the body has no such team, the case is settled at the desk after the check
    if not teams:
        at = story.at + HOUR * float(rng.uniform(1, 8))
        if story.status != "verified" and due(at):
            story.step("verified", at, actor)
        if story.status == "verified" and due(close_at) and not stuck:
            story.step("closed", max(close_at, story.at + HOUR), actor,
                       reason=REASONS["closed_desk"])
        return
    sent = story.at + max(MINUTE * float(rng.uniform(5, 60)),
                          window * float(rng.uniform(0.0, 0.08)))
    trip = [MINUTE * float(rng.uniform(2, 10)), MINUTE * float(rng.uniform(10, 40)),
            HOUR * float(rng.uniform(0.5, 3))]
    team, sent = _first_free(teams, busy, sent, sum(trip, dt.timedelta(0)),
                             int(rng.integers(len(teams))))
    moving = sent + trip[0]
    arrive = moving + trip[1]
    cleared = arrive + trip[2]
    if not due(sent):
        return  # waits in the queue for a team
    busy.setdefault(team, []).append((sent, cleared if cleared <= now else dt.datetime.max))
    story.step("dispatched", sent, actor, action="assign", team=team)
    job = {"case_id": story.case_id, "team_id": team, "actor": actor, "status": "dispatched",
           "dispatched_at": sent, "en_route_at": None, "on_scene_at": None,
           "cleared_at": None, "events": []}
    assignments.append(job)
    _team(job, "available", "dispatched", sent, actor, "assign")
    if not due(arrive):
        if due(moving):
            _team(job, "dispatched", "en_route", moving, actor)
        return
    _team(job, "dispatched", "en_route", moving, actor)
    _team(job, "en_route", "on_scene", arrive, actor)
    story.step("handling", arrive, actor)
    if not due(cleared):
        return
    _team(job, "on_scene", "available", cleared, actor)
    if stop_at == "handling":
        return  # the team has left; the case waits for its paperwork
    # 6. closed, or put under rectification (整改) and closed after the re-inspection
    if rng.random() < RECTIFY_SHARE:
        at = cleared + MINUTE * float(rng.uniform(5, 60))
        if not due(at):
            return
        deadline = rectification_deadline(at)
        story.step("rectification", at, actor, days=(deadline - at).days)
        story.changes["deadline_at"] = deadline
        back = deadline - dt.timedelta(days=float(rng.uniform(0, 4)))
        if not due(back):
            return
        story.step("reinspection", back, actor)
        done = back + HOUR * float(rng.uniform(2, 48))
        if due(done) and not stuck:
            story.step("closed", done, actor, reason=REASONS["closed_rectified"])
        return
    at = max(close_at, cleared + MINUTE * 10)
    if due(at) and not stuck:
        story.step("closed", at, actor, reason=REASONS["closed"])


def _first_free(teams: list[str], busy: dict, at: dt.datetime, takes: dt.timedelta,
                first: int) -> tuple[str, dt.datetime]:
    """The team (of ``teams``, trying them from index ``first`` on) free soonest from ``at``
    for ``takes``, given the other jobs' times in ``busy``; and when it is free."""
    best = None
    for k in range(len(teams)):
        team = teams[(first + k) % len(teams)]
        start = at
        for a, b in sorted(busy.get(team, ())):
            if start + takes > a and start < b:
                start = b
        if best is None or start < best[1]:
            best = (team, start)
    return best


def _team(job: dict, before: str, after: str, at: dt.datetime, actor: str,
          action: str = "status") -> None:
    """One step of the job's team (checked by `geo.cases.check_team_transition` except the
    dispatch, which assigning does), stamped on the assignment."""
    if action != "assign":
        check_team_transition(before, after)
    stamp = {"en_route": "en_route_at", "on_scene": "on_scene_at", "available": "cleared_at"}
    if after in stamp:
        job[stamp[after]] = at
    job["status"] = {"available": "cleared"}.get(after, after)
    job["events"].append({"at": at, "actor": actor, "entity": "team",
                          "entity_id": job["team_id"], "action": action,
                          "from_state": before, "to_state": after,
                          "detail": json.dumps({"case": job["case_id"]})})


def mix(cases: pd.DataFrame, now: dt.datetime) -> dict[str, float]:
    """Share of cases closed and share of open cases overdue (naive UTC ``now``)."""
    open_ = is_open(cases["status"])
    late = open_ & cases["deadline_at"].notna() & (cases["deadline_at"] < now)
    return {"closed": float((~open_).mean()),
            "overdue_of_open": float(late.sum() / max(int(open_.sum()), 1))}


def add_case_history(engine, rng: np.random.Generator, now: dt.datetime) -> dict[str, float]:
    """Write the history of the routed cases into the store (only where no case has moved
    yet): move them by whole days to end at ``now`` (naive UTC), then plan and write every
    step in bulk. Returns the number of cases changed and the resulting `mix` (empty when
    the history was already there)."""
    from sqlalchemy import func, insert, select, update

    from geo import store
    from geo.access import SYSTEM
    from geo.store.models import Alert, Assignment, AuditLog, Body, Case, Matter, Team

    with store.sessions(engine)() as s:
        if s.scalar(select(func.count()).select_from(AuditLog).where(
                AuditLog.entity == "case", AuditLog.action != "route")):
            return {}
        cols = (Case.id, Case.alert_id, Case.status, Alert.source, Case.matter_code,
                Case.body_code, Case.township_code, Case.candidates, Case.opened_at,
                Case.deadline_at)
        cases = pd.DataFrame(s.execute(select(*cols).join(Alert, Alert.id == Case.alert_id)
                                       ).all(), columns=[c.key for c in cols])
        teams = pd.DataFrame(s.execute(select(Team.team_id, Team.body_code, Team.skills,
                                              Team.version)).all(),
                             columns=["team_id", "body_code", "skills", "version"])
        bodies = pd.DataFrame(s.execute(select(Body.code, Body.kind, Body.township_code)
                                        ).all(), columns=["code", "kind", "township_code"])
        matters = pd.DataFrame(s.execute(select(Matter.code, Matter.domain,
                                                Matter.district_body)).all(),
                               columns=["code", "domain", "district_body"])
    if cases.empty:
        return {}
    for col in ("opened_at", "deadline_at"):
        cases[col] = pd.to_datetime(cases[col])
    days = shift(cases["opened_at"], now)
    cases["opened_at"] += days
    cases["deadline_at"] += days
    plan = plan_history(cases, teams, bodies, matters, now, rng)
    names = store.load_layers(engine, scope=SYSTEM).townships.set_index("code")["name"]
    changed = {r["id"]: r for r in plan.cases}
    rows = []
    for c in cases.itertuples(index=False):
        row = {"id": int(c.id), "opened_at": _ts(c.opened_at), "routed_at": _ts(c.opened_at)
               + MINUTE, "deadline_at": _ts(c.deadline_at), "status": c.status,
               "version": 1, "body_code": c.body_code, "township_code": c.township_code}
        row.update(changed.get(int(c.id), {}))
        row["township_name"] = names.get(row["township_code"])
        rows.append(row)
    team_events = [e for a in plan.assignments for e in a.pop("events")]
    versions = dict(zip(teams["team_id"], teams["version"], strict=True))
    with store.sessions(engine).begin() as s:
        s.execute(update(Case), rows)
        if days:
            s.execute(update(Alert), [{"id": int(a), "reported_at": _ts(r) + days}
                                      for a, r in s.execute(select(Alert.id,
                                                                   Alert.reported_at))])
        s.execute(update(AuditLog), [
            {"id": i, "at": r["routed_at"]} for i, r in zip(
                *_route_entries(s, AuditLog, {str(r["id"]): r for r in rows}), strict=True)])
        if plan.events or team_events:
            s.execute(insert(AuditLog), plan.events + team_events)
        if plan.assignments:
            s.execute(insert(Assignment), plan.assignments)
        if plan.teams:
            s.execute(update(Team), [{"team_id": t, "status": status,
                                      "version": int(versions[t]) + 1}
                                     for t, status in plan.teams.items()])
    final = pd.DataFrame(rows)
    return {"cases": len(plan.cases), **mix(final, now)}


def _route_entries(s, audit_log, rows: dict[str, dict]) -> tuple[list[int], list[dict]]:
    """The ids of the cases' route entries and the case rows they belong to."""
    from sqlalchemy import select

    found = s.execute(select(audit_log.id, audit_log.entity_id).where(
        audit_log.entity == "case", audit_log.action == "route")).all()
    hits = [(i, rows[e]) for i, e in found if e in rows]
    return [i for i, _ in hits], [r for _, r in hits]
