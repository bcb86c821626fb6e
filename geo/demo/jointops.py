"""The demo's joint operation from a big-data alert (issue 14, practice 4), end to end.

The scenario the reform's article tells: the provincial big-data platform signals abnormal
electricity use at a warehouse in 织里镇 (suspected crypto mining); the township's center
verifies it on site; it leads a joint operation with the district's market-supervision and
ecology teams, the power company and public security taking part as observers; 132 mining
machines worth 3.5 million yuan are seized; the township center closes the case.

Every step goes through the real intake and store functions with the scope of the body
that takes it (so the rules of `geo.cases` and `geo.jointops` are checked as in the app);
the steps' times are then moved back to a plausible schedule over the last days (the store
stamps them with the time the demo is built). Times are naive UTC.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from geo.access import SYSTEM, Scope

#: the alert's id at the big-data source (the scenario is added once)
EXTERNAL_ID = "BIGDATA-ZL-20261201-0001"
TOWNSHIP = "330502100000"  # 织里镇
LEAD = Scope("township", township=TOWNSHIP, actor="zhili")
PARTICIPANTS = {"DT-SC": Scope("dispatcher", body="DT-SC", actor="dispatcher-sc"),
                "DT-ST": Scope("dispatcher", body="DT-ST", actor="demo")}
OBSERVERS = ("国网湖州供电公司吴兴供电分公司", "湖州市公安局吴兴区分局")
ITEMS = ({"item": "蚂蚁矿机 S19（虚拟货币挖矿机）", "quantity": 100, "unit": "台",
          "value_yuan": "2800000.00", "note": "仓库一层，通电运行中"},
         {"item": "蚂蚁矿机 S9（虚拟货币挖矿机）", "quantity": 32, "unit": "台",
          "value_yuan": "700000.00", "note": "仓库二层"})
DESCRIPTION = ("省大数据平台预警：织里镇{site}夜间用电量连续 30 天异常偏高（日均约为同类"
               "仓库的 12 倍），疑似虚拟货币“挖矿”")
CLOSING = "联合行动查获虚拟货币挖矿机 132 台，估值约 350 万元，已依法扣押并立案查处"
#: hours after the report at which each step is taken
SCHEDULE = {"verified": 10, "join": 12, "assign": 20, "en_route": 20.1, "on_scene": 20.6,
            "handling": 20.7, "seize": 23, "available": 26, "closed": 40}
#: how long before the build the alert came in
AGO = dt.timedelta(days=5)


def add_joint_operation(engine, settings, now: dt.datetime) -> dict | None:
    """Add the scenario to the store (once; None where it is there already, or where the
    demo layers lack what it needs): returns the case id and what was seized.

    Parameters
    ----------
    engine : Engine
        The demo store, with its layers, catalogue and (ideally) case history.
    settings : Settings
        For the router (`geo.ingest.stored_routing`) and the time zone.
    now : datetime
        The time of the build (naive UTC): the alert came in `AGO` earlier.
    """
    import shapely
    from sqlalchemy import select

    from geo import store
    from geo.ingest import intake, stored_routing
    from geo.store import dispatching, jointops
    from geo.store.models import Alert, Case, Site

    with store.sessions(engine)() as s:
        if s.scalar(select(Alert.id).where(Alert.external_id == EXTERNAL_ID)) is not None:
            return None
        site = s.execute(select(Site.site_id, Site.name, Site.geom).where(
            Site.township_code == TOWNSHIP, Site.kind == "warehouse")
            .order_by(Site.site_id)).first()
    if site is None:
        return None
    point = shapely.from_wkb(site[2]).representative_point()  # WGS84
    tz = ZoneInfo(settings.timezone)
    reported = (now - AGO).replace(minute=40, second=0, microsecond=0)
    router, catalog = stored_routing(engine, settings)
    rejects, done = intake(engine, [{
        "id": EXTERNAL_ID, "lon": round(point.x, 6), "lat": round(point.y, 6),
        "matter": "M017", "severity": "high",
        "reported_at": reported.replace(tzinfo=dt.UTC).astimezone(tz).isoformat(),
        "description": DESCRIPTION.format(site=site[1]), "credit_code": ""}],
        "bigdata", "EPSG:4326", router, catalog, tz)
    if rejects or not done or done[0]["body_code"] != f"TC-{TOWNSHIP}":
        return None
    cid = int(done[0]["case_id"])
    clock = _Clock(engine, cid, reported, now)

    def case_version() -> int:
        with store.sessions(engine)() as s:
            return int(s.scalar(select(Case.version).where(Case.id == cid)))

    def free_team(body: str, skill: str | None = None) -> tuple[str, int] | None:
        teams = dispatching.teams_frame(engine, None, scope=SYSTEM)
        ok = teams[(teams["body_code"] == body) & (teams["status"] == "available")]
        if skill:
            ok = ok[ok["skills"].str.split(",").map(lambda k: skill in k)]
        return (str(ok["team_id"].iloc[0]), int(ok["version"].iloc[0])) if len(ok) else None

    lead_team = free_team(f"TC-{TOWNSHIP}", "生态环境")
    if lead_team is None:
        return None
    # 1. checked on site (核查): the signal is founded
    dispatching.transition_case(engine, cid, case_version(), "verified", LEAD.actor,
                                scope=LEAD)
    clock.stamp("verified")
    # 2. the township center leads a joint operation
    for body in PARTICIPANTS:
        jointops.add_participant(engine, cid, body, scope=LEAD)
    for name in OBSERVERS:
        jointops.add_observer(engine, cid, name, scope=LEAD)
    clock.stamp("join")
    # 3. the lead dispatches its team, the participants theirs
    dispatching.assign(engine, cid, case_version(), lead_team[0], lead_team[1], LEAD.actor,
                       scope=LEAD)
    sent = [lead_team[0]]
    for body, scope in PARTICIPANTS.items():
        team = free_team(body)
        if team is not None:
            jointops.assign_team(engine, cid, team[0], team[1], scope=scope)
            sent.append(team[0])
    clock.stamp("assign")
    for target in ("en_route", "on_scene"):
        for team_id in sent:
            dispatching.set_team_status(engine, team_id, _version(engine, team_id), target,
                                        LEAD.actor, scope=SYSTEM)
        clock.stamp(target)
    dispatching.transition_case(engine, cid, case_version(), "handling", LEAD.actor,
                                scope=LEAD)
    clock.stamp("handling")
    # 4. the mining machines are seized
    jointops.add_seizures(engine, cid, ITEMS, scope=LEAD)
    clock.stamp("seize")
    for team_id in sent:
        dispatching.set_team_status(engine, team_id, _version(engine, team_id), "available",
                                    LEAD.actor, scope=SYSTEM)
    clock.stamp("available")
    # 5. only the lead closes the case
    dispatching.transition_case(engine, cid, case_version(), "closed", LEAD.actor, CLOSING,
                                scope=LEAD)
    clock.stamp("closed")
    _, total = jointops.list_seizures(engine, cid, scope=SYSTEM)
    return {"case_id": cid, "teams": sent, "lines": total.lines,
            "value_fen": total.value_fen}


def _version(engine, team_id: str) -> int:
    from sqlalchemy import select

    from geo import store
    from geo.store.models import Team

    with store.sessions(engine)() as s:
        return int(s.scalar(select(Team.version).where(Team.team_id == team_id)))


class _Clock:
    """Moves what each step wrote back to the step's time in `SCHEDULE`: every time
    stamped since the build began (at or after the real time it began) on the case's rows,
    its audit entries, its teams' assignments, participants and seized items."""

    def __init__(self, engine, case_id: int, reported: dt.datetime, now: dt.datetime):
        from geo import store

        self.engine, self.case_id, self.reported = engine, case_id, reported
        self.since = min(now, store.utcnow()) - dt.timedelta(seconds=1)
        self.stamp(None)

    def stamp(self, step: str | None) -> None:
        from sqlalchemy import update

        from geo import store
        from geo.store.models import (
            Alert,
            Assignment,
            AuditLog,
            Case,
            JointParticipant,
            SeizedItem,
        )

        at = self.reported + dt.timedelta(hours=SCHEDULE[step] if step else 1 / 60)
        with store.sessions(self.engine).begin() as s:
            s.execute(update(AuditLog).where(AuditLog.at >= self.since).values(at=at))
            if step is None:  # the alert's arrival and routing
                s.execute(update(Alert).where(Alert.received_at >= self.since)
                          .values(received_at=at))
                s.execute(update(Case).where(Case.id == self.case_id)
                          .values(routed_at=at))
            for column in ("dispatched_at", "en_route_at", "on_scene_at", "cleared_at"):
                col = getattr(Assignment, column)
                s.execute(update(Assignment).where(Assignment.case_id == self.case_id,
                                                   col >= self.since).values({column: at}))
            s.execute(update(JointParticipant).where(JointParticipant.added_at >= self.since)
                      .values(added_at=at))
            s.execute(update(SeizedItem).where(SeizedItem.recorded_at >= self.since)
                      .values(recorded_at=at))
