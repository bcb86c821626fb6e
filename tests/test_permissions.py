"""The permission matrix through the store: every role x action x object, allowed or
refused, on SQLite and PostGIS; and no store function that touches a scoped table can be
called without a scope.

The expected answers are written out here from the issue's rules (not derived from
`geo.access.PERMISSIONS`), so that a change to the table that widens a role fails a test.
"""

import contextlib
import datetime as dt
import inspect

import pytest
import shapely
from sqlalchemy import delete, select

from geo import store
from geo.access import SYSTEM, AccessDeniedError, Scope
from geo.cli import main
from geo.store import accounts, acknowledging, dispatching, inspecting, sites
from geo.store.models import AuditLog, Case
from tests.conftest import CODE_A, CODE_B, SIDE, X0, Y0, to_wgs

SCOPES = {
    "command": Scope("command", actor="boss"),
    "dispatcher": Scope("dispatcher", body="DT-SC", actor="sc"),
    "township": Scope("township", township=CODE_A, actor="a"),
    "planner": Scope("planner", actor="plan"),
    "admin": Scope("admin", actor="root"),
    "source": Scope("source", source="12345", actor="source 12345"),
}
OK, DENIED, MISSING = "ok", "denied", "missing"


@pytest.fixture
def db(store_settings, small_dirs, tmp_path):
    """The small district: case A (township A, body TC-A), case B (township B, DT-SC), both
    from source 12345, and case C (township B, DT-SC) from source "patrol"; teams TA-1
    (TC-A, township A) and DT-SC-1; sites S1 (A), S2 and S3 (B); one inspection with a
    problem at S1 and one at S2."""
    layers_dir, catalog_dir = small_dirs
    (catalog_dir / "checklists.csv").write_text(
        "kind,item_code,item,department,matter_code\n"
        "construction,CON-01,围挡缺失,住房城乡建设,M2\n"
        "enterprise,ENT-01,证照未公示,市场监管,M1\n", encoding="utf-8")
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                store_settings) == 0
    lon, lat = to_wgs([X0 + 500, X0 + SIDE + 500, X0 + SIDE + 700], [Y0 + 500] * 3)
    (tmp_path / "a.csv").write_text(
        "id,lon,lat,matter,reported_at,source,severity\n"
        f"A,{lon[0]},{lat[0]},M1,2026-11-27T10:00:00,12345,high\n"
        f"B,{lon[1]},{lat[1]},M1,2026-11-27T10:00:00,12345,high\n"
        f"C,{lon[2]},{lat[2]},M1,2026-11-27T10:00:00,patrol,high\n", encoding="utf-8")
    assert main(["ingest", str(tmp_path / "a.csv")], store_settings) == 0
    engine = store.connect(store_settings.database_url)
    items = inspecting.checklists(engine, scope=SYSTEM)
    findings = {}
    for site, kind in (("S1", "construction"), ("S2", "enterprise")):
        code = items.loc[items["kind"] == kind, "item_code"].iloc[0]
        iid = inspecting.record_inspection(engine, site, dt.date(2026, 11, 1), ["综合执法"],
                                           [{"item_code": code, "result": "problem"}],
                                           scope=SYSTEM)
        table = inspecting.inspection_tables(engine, scope=SYSTEM)[0]
        findings[site] = int(table.loc[table["inspection_id"] == iid, "finding_id"].iloc[0])
    with store.sessions(engine)() as s:
        ids = {ext: cid for ext, cid in s.execute(
            select(store.Alert.external_id, Case.id).join(Case))}
    return engine, ids, findings


def _outcome(action) -> str:
    try:
        action()
    except AccessDeniedError:
        return DENIED
    except LookupError:
        return MISSING
    return OK


def _version(engine, case_id):
    return int(store.cases_frame(engine, scope=SYSTEM).set_index("id").loc[case_id, "version"])


def _team_version(engine, team_id):
    return int(dispatching.teams_frame(engine, "EPSG:4549", scope=SYSTEM)
               .set_index("team_id").loc[team_id, "version"])


READS = {
    # role: (cases, teams, sites, inspected sites)
    "command": ({"A", "B", "C"}, {"TA-1", "DT-SC-1"}, {"S1", "S2", "S3"}, {"S1", "S2"}),
    "dispatcher": ({"B", "C"}, {"DT-SC-1"}, {"S1", "S2", "S3"}, {"S1", "S2"}),
    "township": ({"A"}, {"TA-1"}, {"S1"}, {"S1"}),
    "planner": ({"A", "B", "C"}, {"TA-1", "DT-SC-1"}, {"S1", "S2", "S3"}, {"S1", "S2"}),
    "admin": ({"A", "B", "C"}, {"TA-1", "DT-SC-1"}, {"S1", "S2", "S3"}, {"S1", "S2"}),
    "source": ({"A", "B"}, DENIED, DENIED, DENIED),
}


@pytest.mark.parametrize("role", list(SCOPES))
def test_reads_are_filtered_to_the_scope(db, role):
    engine, ids, _ = db
    scope = SCOPES[role]
    cases, teams, site_ids, inspected = READS[role]
    names = {v: k for k, v in ids.items()}
    assert {names[i] for i in store.cases_frame(engine, scope=scope)["id"]} == cases

    def read(f):
        try:
            return f()
        except AccessDeniedError:
            return DENIED

    assert read(lambda: set(dispatching.teams_frame(engine, "EPSG:4549", scope=scope)
                            ["team_id"])) == teams
    assert read(lambda: set(sites.sites_frame(engine, scope=scope)["site_id"])) == site_ids
    assert read(lambda: set(inspecting.inspection_tables(engine, scope=scope)[0]
                            ["site_id"])) == inspected
    if role != "source":
        layers = store.load_layers(engine, scope=scope)
        assert set(layers.sites["site_id"]) == site_ids
        assert set(layers.teams["team_id"]) == teams
        assert len(layers.townships) == 2  # boundaries are everyone's


# action -> role -> expected outcome; "missing" is out of scope (as if it did not exist)
WRITES = {
    "return case A": {"command": OK, "dispatcher": MISSING, "township": OK,
                      "planner": DENIED, "admin": OK, "source": MISSING},
    "return case B": {"command": OK, "dispatcher": OK, "township": MISSING,
                      "planner": DENIED, "admin": OK, "source": MISSING},
    "acknowledge case A": {"command": OK, "dispatcher": MISSING, "township": OK,
                           "planner": DENIED, "admin": OK, "source": MISSING},
    "acknowledge case B": {"command": OK, "dispatcher": OK, "township": MISSING,
                           "planner": DENIED, "admin": OK, "source": MISSING},
    "reroute returned A": {"command": OK, "dispatcher": MISSING, "township": DENIED,
                           "planner": DENIED, "admin": OK, "source": MISSING},
    "team TA-1 off duty": {"command": OK, "dispatcher": MISSING, "township": OK,
                           "planner": DENIED, "admin": OK, "source": DENIED},
    "team DT-SC-1 off duty": {"command": OK, "dispatcher": OK, "township": MISSING,
                              "planner": DENIED, "admin": OK, "source": DENIED},
    "position of TA-1": {"command": OK, "dispatcher": MISSING, "township": OK,
                         "planner": DENIED, "admin": OK, "source": DENIED},
    "inspect S1": {"command": OK, "dispatcher": OK, "township": OK, "planner": DENIED,
                   "admin": OK, "source": DENIED},
    "inspect S2": {"command": OK, "dispatcher": OK, "township": MISSING, "planner": DENIED,
                   "admin": OK, "source": DENIED},
    "reinspect at S2": {"command": OK, "dispatcher": OK, "township": MISSING,
                        "planner": DENIED, "admin": OK, "source": DENIED},
    "assignments of B": {"command": OK, "dispatcher": OK, "township": MISSING,
                         "planner": OK, "admin": OK, "source": OK},
    "open a case in A": {"command": OK, "dispatcher": OK, "township": OK, "planner": DENIED,
                         "admin": OK, "source": DENIED},
    "open a case in B": {"command": OK, "dispatcher": OK, "township": DENIED,
                         "planner": DENIED, "admin": OK, "source": DENIED},
    "put a site": {"command": DENIED, "dispatcher": DENIED, "township": DENIED,
                   "planner": DENIED, "admin": OK, "source": DENIED},
    "import layers": {"command": DENIED, "dispatcher": DENIED, "township": DENIED,
                      "planner": DENIED, "admin": OK, "source": DENIED},
    "replace checklists": {"command": DENIED, "dispatcher": DENIED, "township": DENIED,
                           "planner": DENIED, "admin": OK, "source": DENIED},
    "add a user": {"command": DENIED, "dispatcher": DENIED, "township": DENIED,
                   "planner": DENIED, "admin": OK, "source": DENIED},
    "disable a source": {"command": DENIED, "dispatcher": DENIED, "township": DENIED,
                         "planner": DENIED, "admin": OK, "source": DENIED},
    "list users": {"command": DENIED, "dispatcher": DENIED, "township": DENIED,
                   "planner": DENIED, "admin": OK, "source": DENIED},
}


def _write(engine, ids, findings, name: str, scope: Scope, small_dirs):
    """The store call of one action of `WRITES`."""
    a, b = ids["A"], ids["B"]
    now = store.utcnow()
    if name == "return case A":
        return lambda: dispatching.return_case(engine, a, _version(engine, a), scope.actor,
                                               "not ours", scope=scope)
    if name == "return case B":
        return lambda: dispatching.return_case(engine, b, _version(engine, b), scope.actor,
                                               "not ours", scope=scope)
    if name.startswith("acknowledge case"):
        case_id = ids[name.split()[-1]]
        return lambda: acknowledging.acknowledge(engine, case_id, scope=scope)
    if name == "reroute returned A":
        dispatching.return_case(engine, a, _version(engine, a), "boss", "back", scope=SYSTEM)
        return lambda: dispatching.reroute_case(engine, a, _version(engine, a), "DT-SC",
                                                scope.actor, scope=scope)
    if name.startswith("team "):
        team = name.split()[1]
        return lambda: dispatching.set_team_status(engine, team, _team_version(engine, team),
                                                   "off_duty", scope.actor, scope=scope)
    if name == "position of TA-1":
        lon, lat = to_wgs([X0 + 900], [Y0 + 900])
        return lambda: dispatching.add_positions(
            engine, [{"team_id": "TA-1", "lon": float(lon[0]), "lat": float(lat[0]),
                      "at": now}], scope=scope)
    if name.startswith("inspect "):
        site = name.split()[1]
        kind = {"S1": "construction", "S2": "enterprise"}[site]
        items = inspecting.checklists(engine, scope=SYSTEM)
        code = items.loc[items["kind"] == kind, "item_code"].iloc[0]
        return lambda: inspecting.record_inspection(
            engine, site, dt.date(2026, 11, 20), ["综合执法"],
            [{"item_code": code, "result": "pass"}], scope=scope)
    if name == "reinspect at S2":
        return lambda: inspecting.record_reinspection(engine, findings["S2"],
                                                      dt.date(2026, 11, 20), True, scope=scope)
    if name == "assignments of B":
        return lambda: dispatching.assignments_of(engine, b, scope=scope)
    if name.startswith("open a case in "):
        from zoneinfo import ZoneInfo

        from geo.calls import PhoneReport
        from geo.catalog import load_catalog
        from geo.ingest import take_call
        from geo.layers import load_layers
        from geo.routing import Router
        catalog = load_catalog(small_dirs[1])
        router = Router(load_layers(small_dirs[0]), catalog)
        x = X0 + 700 + (SIDE if name.endswith("B") else 0)
        lon, lat = to_wgs([x], [Y0 + 700])
        call = PhoneReport(float(lon[0]), float(lat[0]), "M1", "high",
                           dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
        return lambda: take_call(engine, call, router, catalog, ZoneInfo("Asia/Shanghai"),
                                 scope=scope)
    if name == "put a site":
        lon, lat = to_wgs([X0 + 100], [Y0 + 100])
        return lambda: sites.put_site(engine, {"site_id": "S9", "name": "新店", "kind": "shop",
                                               "risk": "low"},
                                      shapely.Point(lon[0], lat[0]), scope=scope)
    if name == "import layers":
        from geo.catalog import load_catalog
        from geo.layers import load_layers
        layers, catalog = load_layers(small_dirs[0]), load_catalog(small_dirs[1])
        return lambda: store.import_reference(engine, layers, catalog, "again", scope=scope)
    if name == "replace checklists":
        items = inspecting.checklists(engine, scope=SYSTEM)
        return lambda: inspecting.replace_checklists(engine, items, scope=scope)
    if name == "add a user":
        return lambda: accounts.add_user(engine, "newbie", "新人", "township", township=CODE_B,
                                         scope=scope)
    if name == "disable a source":
        accounts.add_source(engine, "app", "手机", scope=SYSTEM)
        return lambda: accounts.set_source_active(engine, "app", False, scope=scope)
    if name == "list users":
        return lambda: accounts.list_users(engine, scope=scope)
    raise AssertionError(name)


def _snapshot(engine) -> tuple:
    """What a refused write must leave as it was: cases, teams, inspections, audit log."""
    cases = store.cases_frame(engine, scope=SYSTEM)[["id", "status", "body_code", "version"]]
    teams = dispatching.teams_frame(engine, "EPSG:4549", scope=SYSTEM)[
        ["team_id", "status", "version", "fix_at"]]
    findings, re = inspecting.inspection_tables(engine, scope=SYSTEM)
    with store.sessions(engine)() as s:
        audits = s.scalar(select(store.func.count()).select_from(AuditLog))
    people = [(u.username, u.active) for u in accounts.list_users(engine, scope=SYSTEM)]
    sources = [(x.code, x.active) for x in accounts.list_sources(engine, scope=SYSTEM)]
    return (cases.to_dict("records"), teams.astype(str).to_dict("records"), len(findings),
            len(re), audits, len(sites.sites_frame(engine, scope=SYSTEM)), people, sources)


@pytest.mark.parametrize("name", list(WRITES))
def test_writes_are_allowed_or_refused_by_role_and_scope(db, small_dirs, name):
    engine, ids, findings = db
    for role, expected in WRITES[name].items():
        scope = SCOPES[role]
        action = _write(engine, ids, findings, name, scope, small_dirs)
        before = _snapshot(engine)
        got = _outcome(action)
        assert got == expected, f"{name} as {role}: {got}, expected {expected}"
        if got != OK:
            assert _snapshot(engine) == before, f"{name} as {role} changed the store"
        elif not name.startswith(("assignments", "list")):  # a write: audited with its actor
            with store.sessions(engine)() as s:
                last = s.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
            assert last.actor == scope.actor, f"{name} as {role}: audited as {last.actor}"
        # each role starts from the same state
        _reset(engine, ids, name)


def _reset(engine, ids, name: str) -> None:
    """Undo an allowed write so the next role meets the same state."""
    if name.startswith("return case") or name.startswith("reroute"):
        for ext in ("A", "B"):
            case_id = ids[ext]
            status = store.cases_frame(engine, scope=SYSTEM).set_index("id").loc[
                case_id, "status"]
            if status == "returned":
                body = "TC-A" if ext == "A" else "DT-SC"
                dispatching.reroute_case(engine, case_id, _version(engine, case_id), body,
                                         "test", scope=SYSTEM)
            elif ext == "A" and name.startswith("reroute"):
                dispatching.return_case(engine, case_id, _version(engine, case_id), "test",
                                        "back", scope=SYSTEM)
                dispatching.reroute_case(engine, case_id, _version(engine, case_id), "TC-A",
                                         "test", scope=SYSTEM)
    if name.startswith("acknowledge case"):  # the next role acknowledges anew
        with store.sessions(engine).begin() as s:
            s.execute(delete(AuditLog).where(AuditLog.action == acknowledging.ACKNOWLEDGED))
    if name == "add a user":
        with contextlib.suppress(LookupError):
            accounts.delete_user(engine, "newbie", scope=SYSTEM)
    if name.startswith("team "):
        team = name.split()[1]
        frame = dispatching.teams_frame(engine, "EPSG:4549", scope=SYSTEM).set_index("team_id")
        if frame.loc[team, "status"] == "off_duty":
            dispatching.set_team_status(engine, team, int(frame.loc[team, "version"]),
                                        "available", "test", scope=SYSTEM)


def test_a_township_can_not_reroute_to_any_body_and_a_dispatcher_not_assign_others(db):
    engine, ids, _ = db
    a = ids["A"]
    dispatching.return_case(engine, a, _version(engine, a), "a", "not ours",
                            scope=SCOPES["township"])
    with pytest.raises(AccessDeniedError):
        dispatching.reroute_case(engine, a, _version(engine, a), "DT-ZH", "a",
                                 scope=SCOPES["township"])
    b = ids["B"]
    with pytest.raises(LookupError, match="no team TA-1"):  # another body's team
        dispatching.assign(engine, b, _version(engine, b), "TA-1", _team_version(
            engine, "TA-1"), "sc", scope=SCOPES["dispatcher"])
    assert store.cases_frame(engine, scope=SYSTEM).set_index("id").loc[b, "status"] == "routed"


SCOPED_TABLES_EXEMPT = {
    # authentication itself: who is calling is not known yet
    "geo.store.accounts.user_by_token", "geo.store.accounts.source_by_token",
    "geo.store.accounts.check_password", "geo.store.accounts.hash_password",
    "geo.store.accounts.hash_token", "geo.store.accounts.new_token",
    "geo.store.accounts.scope_of",
    # signing in (the user's own record, by their password or sign-in cookie or e-mail)
    "geo.store.accounts.sign_in_with_password", "geo.store.accounts.open_sign_in",
    "geo.store.accounts.signed_in_user", "geo.store.accounts.close_sign_in",
    "geo.store.accounts.user_by_email", "geo.store.accounts.get_user",
    "geo.store.accounts.find_user", "geo.store.accounts.token_holder",
    "geo.store.accounts.has_users",
    # whether any layer is loaded (shown before sign-in: "run init first")
    "geo.store.has_reference",
    # builds a query for a caller that has applied the scope; reads nothing
    "geo.store.spatial.within_bbox",
}


def test_every_store_function_on_a_scoped_table_requires_a_scope():
    """Fails closed: a public store function that reads or writes cases, teams, sites,
    inspections, layers or catalogues takes ``scope`` as a required keyword."""
    import geo.store.search
    import geo.store.spatial
    from geo.store import accounts

    modules = (store, dispatching, inspecting, sites, geo.store.spatial, accounts,
               acknowledging, geo.store.search)
    touching = ("Case", "Team", "Site", "Inspection", "Finding", "Reinspection", "Assignment",
                "TeamPosition", "ChecklistItem", "Township", "Unit", "Road", "Matter", "Body",
                "Empowerment", "cases_frame", "visible", "in_scope", "checklists",
                "inspection_tables", "load_layers", "teams_frame")
    checked = 0
    for module in modules:
        for name, f in inspect.getmembers(module, inspect.isfunction):
            if f.__module__ != module.__name__ or name.startswith("_"):
                continue
            qualified = f"{module.__name__}.{name}"
            source = inspect.getsource(f)
            body = source[source.index(")"):]
            if qualified in SCOPED_TABLES_EXEMPT or not any(w in body for w in touching):
                continue
            params = inspect.signature(f).parameters
            assert "scope" in params, f"{qualified} touches a scoped table without a scope"
            if next(iter(params)) in ("engine", "s"):  # a read or write, not a condition
                assert params["scope"].kind is inspect.Parameter.KEYWORD_ONLY, qualified
            assert params["scope"].default is inspect.Parameter.empty, \
                f"{qualified} gives scope a default"
            checked += 1
    assert checked >= 20
