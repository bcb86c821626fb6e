"""Command line: ``python -m geo COMMAND``.

Exit codes: 0 done, 1 nothing could be done (bad file, validation errors), 2 usage errors.
Messages name the file, row and field at fault.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from geo.access import SYSTEM, USER_ROLES
from geo.catalog import CatalogError, load_catalog
from geo.crs import CRSInputError, parse_crs
from geo.days import local_today
from geo.settings import Settings

SEED_HISTORY = 20241127


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _router(settings: Settings, layers_path: Path | None = None, assume_crs: str | None = None,
            gcj02: bool = False):
    """Router over ``layers_path`` (a folder or GeoPackage; ``assume_crs`` and ``gcj02`` as
    in `geo.layers.check_layers`), or else the loaded layer set's generations (a
    `geo.generations.Timeline`).

    Routers are kept in ``settings.cache_path``, keyed by the layer files' bytes (or the
    database's layer import) with the catalogue and routing settings: a second run loads
    the router instead of reading the layers and building it again.
    """
    from geo import store
    from geo.routercache import cached_router_for, files_key, layer_files

    url = settings.database_url
    if layers_path is not None:
        # the loaded catalogue if there is a database, else the catalogue folder, if it is
        # of these layers' district; bulk routing stores nothing, so no database file is
        # created here
        from geo.catalog import fits_layers
        from geo.layers import LayerError, check_layers, load_layers

        exists = not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).exists()
        engine = store.connect(url) if exists else None
        files = layer_files(layers_path)
        if not files:
            raise LookupError(f"{layers_path}: no layer files there")
        townships, report = check_layers(layers_path, assume_crs, kinds=("townships",),
                                         gcj02=gcj02)
        if townships is None:
            raise LayerError(report)
        codes = townships.townships["code"]
        catalog = None
        if engine is not None and store.has_reference(engine):
            catalog = store.load_catalog(engine, scope=SYSTEM)
            catalog = catalog if fits_layers(catalog, codes) else None
        if catalog is None:
            catalog, notes, problems = district_catalog(Path(settings.catalog_path), codes,
                                                        explicit=False)
            for line in notes:
                print(line, file=sys.stderr)
            if problems:
                raise CatalogError("\n".join(problems))
        key = files_key(files, f"assume_crs={assume_crs}; gcj02={gcj02}", catalog, settings)

        def build():
            from geo.routing import Router

            return Router(load_layers(layers_path, assume_crs, gcj02), catalog, settings)
    else:
        engine = store.connect(url)
        if not store.has_reference(engine):
            raise LookupError(f"no layers loaded in {engine.url.render_as_string()}: run "
                              "`python -m geo init` first")
        catalog = store.load_catalog(engine, scope=SYSTEM)
        stamp = store.get_meta(engine).get("imported_at", "")
        key = files_key([], f"database {engine.url.render_as_string()}; imported {stamp}",
                        catalog, settings)

        def build():
            from geo.routing import Router

            return Router(store.load_layers(engine, scope=SYSTEM), catalog, settings)

        from geo.ingest import stored_timeline

        # the loaded layers' generations: each alert routes with the boundaries of its day
        current = cached_router_for(key, build, settings.cache_path)
        return stored_timeline(engine, current, catalog, settings), catalog, engine
    return cached_router_for(key, build, settings.cache_path), catalog, engine


def district_catalog(folder: Path, township_codes, explicit: bool, earlier=()
                     ) -> tuple[object | None, list[str], list[str]]:
    """The catalogue to use with a layer set: (catalogue or None, notes, problems).

    A catalogue named on the command line (``explicit``) must match the layers: every row
    naming a township that neither the layers nor an ``earlier`` layer generation has is a
    problem. The default catalogue folder is left
    out, with a note, when it is missing or names none of the layers' townships (another
    district's, e.g. the bundled demo's): the district then starts with layers alone
    (`geo.catalog.placeholder_catalog`).
    """
    from geo.catalog import fits_layers, layer_mismatches, placeholder_catalog

    how = ("every alert goes to the command center (\"no catalogue loaded\") until one is: "
           "`python -m geo catalog template --out DIR` writes one to fill in, then `python "
           "-m geo init --layers LAYERS --catalog DIR` loads it")
    try:
        catalog = load_catalog(folder)
    except CatalogError as exc:
        if explicit or (folder / "matters.csv").exists():
            return None, [], [str(exc)]
        return placeholder_catalog(), [f"note: no catalogue in {folder}; {how}"], []
    if not explicit and not fits_layers(catalog, township_codes):
        return placeholder_catalog(), [
            f"note: the catalogue in {folder} names none of the layers' townships (another "
            f"district's): it was not imported; {how}"], []
    return catalog, [], layer_mismatches(catalog, township_codes, str(folder), earlier)


def cmd_init(args, settings: Settings) -> int:
    from geo import store
    from geo.generations import GenerationError, check_effective_from
    from geo.layers import check_layers

    layers_path = Path(args.layers or settings.layers_path)
    catalog_path = Path(args.catalog or settings.catalog_path)
    today = local_today(ZoneInfo(settings.timezone))
    try:
        effective_from = (dt.date.fromisoformat(args.effective_from) if args.effective_from
                          else today)
    except ValueError:
        return _fail(f"--effective-from {args.effective_from!r}: not a date (YYYY-MM-DD)"
                     "\nnothing was imported")
    try:
        check_effective_from(effective_from, None, today)
    except GenerationError as exc:
        return _fail(str(exc))
    try:
        layers, report = check_layers(layers_path, args.assume_crs, gcj02=args.layers_gcj02)
    except CRSInputError as exc:
        return _fail(f"{exc}\nnothing was imported")
    print(report.render())
    if layers is None:
        return _fail("the layer set has errors (above)\nnothing was imported")
    catalog, notes, problems = district_catalog(catalog_path, layers.townships["code"],
                                                explicit=args.catalog is not None,
                                                earlier=_earlier_townships(settings))
    if catalog is not None:
        problems += check_references(layers, catalog)
    powers = _read_powers(catalog, catalog_path, problems)  # issue 14: powers.csv
    if problems:
        return _fail("\n".join(problems) + "\nnothing was imported")
    for line in notes:
        print(line)
    engine = store.connect(settings.database_url)
    store.migrate(engine)
    try:
        generation = store.import_reference(engine, layers, catalog, str(layers_path),
                                            scope=SYSTEM, effective_from=effective_from,
                                            report=report)
    except GenerationError as exc:
        return _fail(str(exc))
    checklist_path = catalog_path / "checklists.csv"
    if catalog.loaded and checklist_path.is_file():
        import pandas as pd

        from geo.store.inspecting import replace_checklists, validate_checklists

        try:
            items = validate_checklists(pd.read_csv(checklist_path, dtype=str),
                                        set(catalog.matters["code"]), str(checklist_path))
        except ValueError as exc:
            return _fail(f"{exc}\nlayers and catalogues were imported; checklists were not")
        replace_checklists(engine, items, scope=SYSTEM)
    problem = _load_staff(engine, catalog, catalog_path)
    if problem:
        return _fail(problem)
    from geo.store.handoff import replace_powers

    replace_powers(engine, powers, scope=SYSTEM)
    if layers.teams is None:
        print("note: the layer set has no teams layer; stored teams are kept as they are")
    counts = ", ".join(f"{n} {k}" for k, n in layers.counts().items())
    what = (f"{len(catalog.matters)} matters, {len(catalog.bodies)} bodies, "
            f"{len(catalog.empowerment)} empowerment entries" if catalog.loaded
            else "no catalogue loaded")
    print(f"database ready at {engine.url.render_as_string(hide_password=True)}: {counts}; "
          f"{what}; layer generation {generation} in force from {effective_from.isoformat()}")
    for line in _generation_changes(engine, generation):
        print(line)
    return 0


def _generation_changes(engine, generation: int) -> list[str]:
    """What changed from the generation before ``generation`` (none for the first): one
    line per kind that changed, names with codes, where removed ones went."""
    from geo.crs import metric_crs_of
    from geo.generations import differences, shown_codes
    from geo.store.generations import generation_layers, list_generations

    ids = list_generations(engine, scope=SYSTEM)["id"].tolist()
    if generation not in ids or ids.index(generation) == 0:
        return []
    old = generation_layers(engine, ids[ids.index(generation) - 1], scope=SYSTEM)
    new = generation_layers(engine, generation, scope=SYSTEM)
    names = {c: n for gdf in (old.townships, old.units, new.townships, new.units)
             if gdf is not None for c, n in zip(gdf["code"], gdf["name"], strict=True)}
    lines = []
    for c in differences({"townships": old.townships, "units": old.units},
                         {"townships": new.townships, "units": new.units},
                         metric_crs_of(new.townships)):
        if not c.any:
            continue
        went = "; ".join(f"{names.get(a, a)} -> {names.get(b, b)}" for a, b in c.merged)
        parts = [f"{label} {shown_codes(codes, names=names)}" for label, codes in (
            ("added", c.added), ("removed", c.removed), ("renamed", c.renamed),
            ("redrawn", c.redrawn), ("moved township", c.moved)) if codes]
        lines.append(f"changes in {c.kind} from the generation before: " + ", ".join(parts)
                     + (f" (went into: {went})" if went else ""))
    return lines or ["no township or unit changed from the generation before"]


def _earlier_townships(settings: Settings) -> set[str]:
    """Township codes of the stored layer generations (none before the first import)."""
    from geo import store
    from geo.store.generations import township_names

    url = settings.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return set()
    engine = store.connect(url)
    store.migrate(engine)
    return set(township_names(engine, scope=SYSTEM))


def cmd_layers_generations(args, settings: Settings) -> int:
    from geo import store
    from geo.store.generations import list_generations

    engine = store.connect(settings.database_url)
    store.migrate(engine)
    gens = list_generations(engine, scope=SYSTEM)
    if gens.empty:
        return _fail("no layers loaded: run `python -m geo init` first")
    for g in gens.itertuples(index=False):
        until = "in force" if g.effective_to is None else f"until {g.effective_to} (excl.)"
        print(f"generation {g.id}: from {g.effective_from}, {until}; {g.townships} "
              f"townships, {g.units} units; {g.source}")
    return 0


def cmd_layers_move_start(args, settings: Settings) -> int:
    from geo import store
    from geo.generations import GenerationError
    from geo.store.generations import move_start

    try:
        day = dt.date.fromisoformat(args.date)
    except ValueError:
        return _fail(f"{args.date!r}: not a date (YYYY-MM-DD); nothing was changed")
    engine = store.connect(settings.database_url)
    store.migrate(engine)
    try:
        gid, former = move_start(engine, day, local_today(ZoneInfo(settings.timezone)),
                                 scope=SYSTEM)
    except (GenerationError, LookupError) as exc:
        return _fail(str(exc))
    print(f"layer generation {gid} now in force from {day.isoformat()} (was "
          f"{former.isoformat()})")
    return 0


def check_references(layers, catalog) -> list[str]:
    """Cross-checks between the teams layer and the catalogue's bodies."""
    problems = []
    bodies = set(catalog.bodies["code"])
    if layers.teams is not None:
        for i, (team, body) in enumerate(zip(layers.teams["team_id"], layers.teams["body_code"],
                                             strict=True)):
            if body not in bodies:
                problems.append(f"teams feature {i + 1} (team_id={team}), field body_code: "
                                f"unknown body {body!r} (not in bodies.csv)")
    return problems


def cmd_catalog_template(args, settings: Settings) -> int:
    """Write the catalogue files to fill in for a layer set (``--layers``, else the loaded
    one), with the matters of the catalogue folder (or the loaded catalogue) to adapt."""
    from geo import store
    from geo.catalog import write_template
    from geo.layers import LayerError, load_layers

    base = None
    try:
        if args.layers:
            layers = load_layers(Path(args.layers), args.assume_crs, args.layers_gcj02)
        else:
            engine = store.connect(settings.database_url)
            if not store.has_reference(engine):
                return _fail("no layers loaded: give --layers or run `python -m geo init`")
            layers = store.load_layers(engine, scope=SYSTEM)
            base = store.load_catalog(engine, scope=SYSTEM)
    except (LayerError, CRSInputError) as exc:
        return _fail(str(exc))
    if base is None or not base.loaded:
        try:
            base = load_catalog(settings.catalog_path)
        except CatalogError:
            base = None
    paths = write_template(Path(args.out), layers.townships[["code", "name"]], base)
    paths.append(_write_powers_template(settings, Path(args.out), base))  # issue 14
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out}: one center per township "
          f"({len(layers.townships)}), an empty empowerment list and "
          f"{0 if base is None else len(base.matters)} matters to adapt; fill them in, then "
          f"`python -m geo init --layers LAYERS --catalog {args.out}`")
    return 0


def cmd_layers_check(args, settings: Settings) -> int:
    from geo.layers import check_layers

    try:
        _, report = check_layers(Path(args.path), args.assume_crs, gcj02=args.layers_gcj02)
    except CRSInputError as exc:
        return _fail(str(exc))
    print(report.render())
    return 0 if report.ok else 1


def cmd_ingest(args, settings: Settings) -> int:
    from geo.ingest import IngestError, ingest_file

    try:
        crs = parse_crs(args.crs)
        router, catalog, engine = _router(settings)
        report = ingest_file(engine, Path(args.file), router, catalog, source=args.source,
                             crs=crs, rejects_path=Path(args.rejects) if args.rejects else None,
                             tz=ZoneInfo(settings.timezone), progress=sys.stderr.isatty()
                             or args.progress, earliest=settings.earliest)
    except (IngestError, CRSInputError, LookupError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{exc.filename or args.rejects}: cannot write ({exc.strerror or exc})")
    print(report.render())
    if report.rows and report.rejected == report.rows:
        return _fail(f"{args.file}: every row was rejected")
    return 0


def cmd_repair(args, settings: Settings) -> int:
    """Give every stored alert without a case its case (left by an older version or a
    crash); name the alerts that could only be given to the command center."""
    from geo.ingest import repair

    try:
        router, catalog, engine = _router(settings)
    except LookupError as exc:
        return _fail(str(exc))
    done, failed = repair(engine, router, catalog, ZoneInfo(settings.timezone),
                          settings.earliest)
    for line in failed:
        print(f"error: {line}", file=sys.stderr)
    print(f"routed {done} alert(s) that had no case"
          + ("; those named above went to the command center for triage" if failed else ""))
    return 0


def cmd_route(args, settings: Settings) -> int:
    from geo import bulk, store
    from geo.alertfiles import IngestError
    from geo.alerts import ROUTE_UNUSED, Rules
    from geo.layers import LayerError

    out = Path(args.out)
    problem = bulk.usage_problem(args.engine, out, args.scheduler, args.workers,
                                 args.partition_rows) or _layer_flags_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    progress = args.progress or sys.stderr.isatty()
    rejects = Path(args.rejects) if args.rejects else None
    try:
        crs = parse_crs(args.crs)
        router, catalog, _ = _router(settings, Path(args.layers) if args.layers else None,
                                     args.assume_crs, args.layers_gcj02)
        rules = Rules(crs=crs, tz=ZoneInfo(settings.timezone), now=store.utcnow(),
                      matters=frozenset(catalog.matters["code"]) if catalog.loaded else None,
                      earliest=settings.earliest, severity_words=catalog.severity_words,
                      unused=ROUTE_UNUSED)
        if args.engine == "dask":
            tally = bulk.route_file_dask(
                Path(args.file), out, router, rules, scheduler=args.scheduler,
                workers=args.workers, partition_rows=args.partition_rows or bulk.PARTITION_ROWS,
                progress=progress, rejects=rejects)
        else:
            tally = bulk.route_file(Path(args.file), out, router, rules, progress=progress,
                                    rejects=rejects)
    except (IngestError, CRSInputError, LookupError, LayerError, CatalogError,
            bulk.EngineError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        if exc.filename and Path(exc.filename) == Path(args.file):
            return _fail(f"{args.file}: cannot read ({exc.strerror or exc})")
        return _fail(f"{exc.filename or out}: cannot write ({exc.strerror or exc})")
    if tally.rows == 0:
        return _fail(f"{args.file}: empty file (no rows)")
    for line in tally.messages(args.file, args.rejects):
        print(line, file=sys.stderr)
    print(tally.summary(str(out)))
    return 0 if tally.routed else 1


def _layer_flags_problem(args) -> str | None:
    """Flags about layer files given without ``--layers`` (the loaded layers are WGS84)."""
    for flag, given in (("--layers-gcj02", args.layers_gcj02), ("--assume-crs",
                                                                 args.assume_crs)):
        if given and not args.layers:
            return (f"{flag} applies to the files of --layers; the loaded layers are "
                    "stored in WGS84 already")
    return None


def cmd_cases_list(args, settings: Settings) -> int:
    from geo import store

    since = None
    if args.since:
        try:
            since = dt.datetime.fromisoformat(args.since)
        except ValueError:
            return _fail(f"--since {args.since!r} is not an ISO date (YYYY-MM-DD)")
    engine = store.connect(settings.database_url)
    store.migrate(engine)
    with store.sessions(engine)() as s:
        # the command line is the operator of the machine: every case
        cases = store.query_cases(s, township=args.township, body=args.body,
                                  status=args.status, since=since, limit=args.limit,
                                  scope=SYSTEM)
    print(f"{'case':>6}  {'opened (UTC)':16}  {'status':8}  {'township':22}  {'body':18}  "
          f"{'matter':6}  flags")
    for c in cases:
        township = f"{c.township_name or '-'}"
        print(f"{c.id:>6}  {c.opened_at:%Y-%m-%d %H:%M}  {c.status:8}  {township:22}  "
              f"{c.body_code or '-':18}  {c.matter_code or '-':6}  {c.flags}")
    print(f"{len(cases)} case(s)")
    return 0


def cmd_simulate(args, settings: Settings) -> int:
    """Feed realistic alerts through the normal ingest path, a few per minute."""
    import time

    import numpy as np

    from geo.demo.feed import feed_alert, move_dispatched_teams
    from geo.ingest import ingest_records

    if args.rate <= 0:
        return _fail("--rate must be positive (alerts per minute)")
    try:
        router, catalog, engine = _router(settings)
        sites = _sites(engine)
    except LookupError as exc:
        return _fail(str(exc))
    rng = np.random.default_rng(args.seed)
    tz = ZoneInfo(settings.timezone)
    made = 0
    metric = router.metric
    last = time.monotonic()
    print(f"simulating about {args.rate:g} alert(s) per minute; Ctrl-C stops", flush=True)
    try:
        while args.count == 0 or made < args.count:
            tick = time.monotonic()
            move_dispatched_teams(engine, tick - last, metric)
            last = tick
            now = dt.datetime.now(tz)
            record = feed_alert(rng, sites, now, made + 1)
            report = ingest_records(engine, iter([(made + 1, record)]), router, catalog,
                                    "simulate", tz=tz)
            made += 1
            print(f"{now:%H:%M:%S} {record['source']:8} {record['matter']} "
                  f"{record['severity']:6} routed {report.routed} "
                  f"{dict(report.flags) or ''}", flush=True)
            if args.count == 0 or made < args.count:
                time.sleep(float(rng.exponential(60.0 / args.rate)))
    except KeyboardInterrupt:
        pass
    return 0


def _sites(engine):
    from geo import store

    sites = store.load_layers(engine, scope=SYSTEM).sites
    if sites is None or sites.empty:
        raise LookupError("the loaded layer set has no sites to simulate alerts at")
    return sites


def cmd_teams_position(args, settings: Settings) -> int:
    """Store a file of team position fixes: CSV with team_id, lon, lat and at (ISO).

    Every row is checked on its own (`geo.alerts.check_fixes`): a bad one is reported with
    its row and field, and the good ones are stored.
    """
    from sqlalchemy import select

    from geo import store
    from geo.alertfiles import IngestError, read_chunks
    from geo.alerts import Rules, check_fixes
    from geo.store.dispatching import add_positions

    try:
        crs = parse_crs(args.crs)
    except CRSInputError as exc:
        return _fail(str(exc))
    engine = store.connect(settings.database_url)
    if not store.has_reference(engine):
        return _fail("no layers loaded: run `python -m geo init` first")
    with store.sessions(engine)() as s:
        known = set(s.scalars(select(store.Team.team_id)))
    rules = Rules(crs=crs, tz=ZoneInfo(settings.timezone), now=store.utcnow(),
                  earliest=settings.earliest)
    stored = rejected = 0
    try:
        for frame, rows in read_chunks(Path(args.file), required=("team_id", "lon", "lat")):
            fixes, rejects = check_fixes(frame, rows, rules, known)
            for r in rejects:
                print(f"rejected: {args.file}, {r}", file=sys.stderr)
            rejected += len(rejects)
            stored += add_positions(engine, [
                {"team_id": f.team_id, "lon": float(f.lon), "lat": float(f.lat),
                 "at": f.at.to_pydatetime()} for f in fixes.itertuples(index=False)],
                scope=SYSTEM)
    except IngestError as exc:
        return _fail(str(exc))
    print(f"stored {stored} position fix(es); {rejected} rejected")
    return 0 if stored or not rejected else 1


def cmd_demo_history(args, settings: Settings) -> int:
    """Fill an empty inspection history with a year of demo inspections, take the routed
    cases through their lifecycle up to now, and add the joint operation from a big-data
    alert (each once)."""
    import numpy as np

    from geo import store
    from geo.demo.cases import add_case_history
    from geo.demo.inspections import demo_history

    engine = store.connect(settings.database_url)
    if not store.has_reference(engine):
        return _fail("no layers loaded: run `python -m geo init` first")
    made = demo_history(engine, np.random.default_rng(args.seed), args.inspections,
                        local_today(ZoneInfo(settings.timezone)))
    print(f"added {made} demo inspection(s)" if made else
          "the inspection history is not empty; nothing added")
    mix = add_case_history(engine, np.random.default_rng(args.seed), store.utcnow())
    print(f"took {mix['cases']} demo case(s) through their lifecycle: {mix['closed']:.0%} "
          f"closed, {mix['overdue_of_open']:.0%} of the open ones overdue" if mix else
          "no case without a history; no case changed")
    from geo.demo.checkups import demo_checkups

    visits = demo_checkups(engine, local_today(ZoneInfo(settings.timezone)))
    print(f"added {visits} demo joint visit(s) and their check-up requests" if visits else
          "joint visits are already stored; none added")
    # issue 14: joint operation from a big-data alert, end to end
    from geo.demo.jointops import add_joint_operation

    joint = add_joint_operation(engine, settings, store.utcnow())
    print(f"added the joint operation on case {joint['case_id']}: {joint['lines']} lines "
          f"seized, {joint['value_fen'] / 100:,.2f} yuan" if joint else
          "the demo joint operation is there already (or the layers lack 织里); none added")
    made = _demo_reform_history(args, settings)
    return made or _demo_handoff(settings)  # issue 14: approvals, supervision, referrals


def cmd_inspections_escalate(args, settings: Settings) -> int:
    """Problems still unfixed after their deadline become cases (idempotent)."""
    from geo.escalation import escalate_unfixed

    try:
        router, catalog, engine = _router(settings)
    except LookupError as exc:
        return _fail(str(exc))
    tz = ZoneInfo(settings.timezone)
    today = dt.date.fromisoformat(args.today) if args.today else local_today(tz)
    report = escalate_unfixed(engine, router, catalog, today, tz, scope=SYSTEM)
    print(report.render() if report else "no problem is past its deadline unfixed")
    return 0


def cmd_evidence_sweep(args, settings: Settings) -> int:
    """Remove the evidence files no attachment has (left by failed uploads)."""
    from geo import store
    from geo.store.evidence import sweep

    engine = store.connect(settings.database_url)
    removed = sweep(engine, settings.evidence_path, scope=SYSTEM,
                    older_than=dt.timedelta(minutes=args.older_than_min))
    print(f"removed {len(removed)} evidence file(s) no attachment has")
    return 0


# issue 14: check-ups by appointment (预约体检) and joint visits (综合查一次)
def _checkup_inputs(settings: Settings, today: dt.date):
    """(engine, department status, catalogue, booked visits) of the loaded district."""
    from geo import store
    from geo.checkups import department_status
    from geo.store.checkups import inspection_departments, list_visits
    from geo.store.inspecting import checklists

    engine = store.connect(settings.database_url)
    if not store.has_reference(engine):
        raise LookupError("no layers loaded: run `python -m geo init` first")
    sites = store.load_layers(engine, scope=SYSTEM).sites
    if sites is None or sites.empty:
        raise LookupError("the loaded layer set has no sites")
    catalog = store.load_catalog(engine, scope=SYSTEM)
    status = department_status(sites.drop(columns="geometry"),
                               inspection_departments(engine, scope=SYSTEM),
                               checklists(engine, scope=SYSTEM), today,
                               catalog.inspection_intervals)
    return engine, status, catalog, list_visits(engine, scope=SYSTEM)


def cmd_checkups_propose(args, settings: Settings) -> int:
    """Print (and with --out, write as CSV) the joint visits to propose: sites due for
    several departments' inspections within --window-days of each other."""
    from geo.checkups import propose_joint_visits

    tz = ZoneInfo(settings.timezone)
    try:
        today = dt.date.fromisoformat(args.today) if args.today else local_today(tz)
    except ValueError:
        return _fail(f"--today: {args.today!r} is not an ISO date (YYYY-MM-DD)")
    if args.window_days < 0 or args.horizon_days < 0:
        return _fail("--window-days and --horizon-days must not be negative")
    try:
        _, status, _, booked = _checkup_inputs(settings, today)
    except LookupError as exc:
        return _fail(str(exc))
    out = propose_joint_visits(status, today, args.window_days, args.horizon_days, booked)
    table = out.assign(departments=out["departments"].map("、".join))
    if args.out:
        try:
            table.to_csv(args.out, index=False, encoding="utf-8")
        except OSError as exc:
            return _fail(f"{args.out}: {exc.strerror or exc}")
    for row in table.head(args.limit).itertuples(index=False):
        print(f"{row.day:%Y-%m-%d}  {row.site_id}  {row.name}  {row.township_code}  "
              f"{row.departments}  (saves {row.saved})")
    more = f" ({len(table) - args.limit} more not shown)" if len(table) > args.limit else ""
    print(f"{len(table)} joint visit(s) proposed within {args.window_days} days, due in the "
          f"next {args.horizon_days} days; {int(table['saved'].sum())} separate visit(s) "
          f"saved{more}" + (f"; written to {args.out}" if args.out else ""))
    return 0


def cmd_checkups_counts(args, settings: Settings) -> int:
    """Per year: joint inspections, visits saved by joining, check-ups booked by businesses
    and visits scheduled by the office, observers, requests."""
    from geo.checkups import yearly_counts
    from geo.store.checkups import inspection_departments, requests_frame

    try:
        engine, _, _, visits = _checkup_inputs(settings, local_today(
            ZoneInfo(settings.timezone)))
    except LookupError as exc:
        return _fail(str(exc))
    counts = yearly_counts(inspection_departments(engine, scope=SYSTEM), visits,
                           requests_frame(engine, scope=SYSTEM))
    print(counts.to_string(index=False) if len(counts) else "no inspection or visit yet")
    return 0


def cmd_demo_users(args, settings: Settings) -> int:
    """Add the demo users, whose passwords are public: into the bundled demo database, or
    into another one only with ``--yes``."""
    from geo import store
    from geo.demo.users import add_demo_users, is_demo_database

    if not args.yes and not is_demo_database(settings.database_url):
        return _fail(f"{_shown_url(settings.database_url)} is not the bundled demo database "
                     f"({Settings().database_url}); the demo users' passwords are public, "
                     "so they are added elsewhere only with `python -m geo demo users --yes`")
    engine = store.connect(settings.database_url)
    if not store.has_reference(engine):
        return _fail("no layers loaded: run `python -m geo init` first")
    try:
        names = add_demo_users(engine)
    except ValueError as exc:
        return _fail(f"{exc}: the demo users need the demo layers and catalogue "
                     "(`python -m geo init` with the bundled ones)")
    print("demo users ready (passwords in README.md; change them with `python -m geo users "
          "password NAME` or disable them): " + ", ".join(names))
    return 0


def _shown_url(url: str) -> str:
    """A database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say so without repeating it
        return "GEO_DATABASE_URL"


def _account_change(change, done: str) -> int:
    """Run ``change`` (a function of the store that raises LookupError or ValueError for
    what it refuses) and print ``done``, or the reason."""
    try:
        change()
    except (LookupError, ValueError) as exc:
        return _fail(str(exc))
    print(done)
    return 0


def _accounts_engine(settings: Settings):
    from geo import store

    engine = store.connect(settings.database_url)
    store.migrate(engine)
    return engine


def cmd_users_add(args, settings: Settings) -> int:
    """Create or update a user; asks for the password unless --no-password."""
    import getpass

    from geo import store
    from geo.store.accounts import add_user

    engine = store.connect(settings.database_url)
    store.migrate(engine)
    password = None
    if not args.no_password:
        password = os.environ.get("GEO_NEW_PASSWORD") or getpass.getpass(
            f"password for {args.username}: ")
    try:
        add_user(engine, args.username, args.name or args.username, args.role,
                 township=args.township, body=args.body, password=password, email=args.email,
                 scope=SYSTEM)
    except ValueError as exc:
        return _fail(str(exc))
    print(f"user {args.username} ({args.role}) saved")
    return 0


def cmd_users_token(args, settings: Settings) -> int:
    from geo import store
    from geo.store.accounts import issue_user_token

    try:
        token = issue_user_token(store.connect(settings.database_url), args.username, scope=SYSTEM)
    except LookupError as exc:
        return _fail(str(exc))
    print(token)
    return 0


def cmd_users_password(args, settings: Settings) -> int:
    """Change a user's password (asked for, or ``GEO_NEW_PASSWORD``); their sign-ins to
    the app end."""
    import getpass

    from geo.store.accounts import find_user, set_password

    engine = _accounts_engine(settings)
    if find_user(engine, args.username) is None:
        return _fail(f"no user {args.username!r} (see `python -m geo users list`)")
    password = os.environ.get("GEO_NEW_PASSWORD") or getpass.getpass(
        f"new password for {args.username}: ")
    return _account_change(lambda: set_password(engine, args.username, password, scope=SYSTEM),
                           f"password of {args.username} changed; their sign-ins ended")


def cmd_users_disable(args, settings: Settings) -> int:
    from geo.store.accounts import set_user_active

    engine = _accounts_engine(settings)
    return _account_change(lambda: set_user_active(engine, args.username, False, scope=SYSTEM),
                           f"user {args.username} disabled: their API token is refused and "
                           "their sign-ins ended")


def cmd_users_enable(args, settings: Settings) -> int:
    from geo.store.accounts import set_user_active

    engine = _accounts_engine(settings)
    return _account_change(lambda: set_user_active(engine, args.username, True, scope=SYSTEM),
                           f"user {args.username} enabled")


def cmd_users_delete(args, settings: Settings) -> int:
    from geo.store.accounts import delete_user

    engine = _accounts_engine(settings)
    return _account_change(lambda: delete_user(engine, args.username, scope=SYSTEM),
                           f"user {args.username} deleted")


def cmd_sources_disable(args, settings: Settings) -> int:
    from geo.store.accounts import set_source_active

    engine = _accounts_engine(settings)
    return _account_change(lambda: set_source_active(engine, args.code, False, scope=SYSTEM),
                           f"source {args.code} disabled: its token is refused (`sources "
                           "add` gives it a new one and enables it again)")


def cmd_sources_delete(args, settings: Settings) -> int:
    from geo.store.accounts import delete_source

    engine = _accounts_engine(settings)
    return _account_change(lambda: delete_source(engine, args.code, scope=SYSTEM),
                           f"source {args.code} deleted; the alerts it posted stay")


def cmd_sources_list(args, settings: Settings) -> int:
    from geo.store.accounts import list_sources

    for src in list_sources(_accounts_engine(settings), scope=SYSTEM):
        print(f"{src.code:16} {src.rate_limit:14} {src.crs:12} "
              f"{'active' if src.active else 'off':6}  {src.name}")
    return 0


def cmd_users_list(args, settings: Settings) -> int:
    from geo import store
    from geo.store.accounts import list_users

    for u in list_users(store.connect(settings.database_url), scope=SYSTEM):
        scope = u.township_code or u.body_code or "all"
        print(f"{u.username:16} {u.role:11} {scope:14} {'active' if u.active else 'off'}"
              f"  {u.name}")
    return 0


def cmd_sources_add(args, settings: Settings) -> int:
    """Register a source (or give it a new token); prints the token once."""
    from geo import store
    from geo.store.accounts import add_source

    engine = store.connect(settings.database_url)
    store.migrate(engine)
    try:
        token = add_source(engine, args.code, args.name or args.code, args.rate_limit,
                           args.crs, scope=SYSTEM)
    except ValueError as exc:
        return _fail(str(exc))
    print(token)
    return 0


def cmd_api(args, settings: Settings) -> int:
    """Serve the intake API with uvicorn; no log line holds a token (`geo.api.logsafe`)."""
    import uvicorn

    from geo.api import create_app
    from geo.api.logsafe import server_log_config

    uvicorn.run(create_app(settings), host=args.host, port=args.port,
                log_level=args.log_level, access_log=args.access_log,
                log_config=server_log_config())
    return 0


def cmd_demo_build(args, settings: Settings) -> int:
    from geo.demo.layers import build_demo

    counts = build_demo(Path(args.layers_dir), Path(args.data_dir))
    print("built " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0


# ---------------------------------------------------------------- branch figures (issue 14)
def _load_staff(engine, catalog, catalog_path: Path) -> str | None:
    """Load the catalogue folder's ``staff.csv`` (optional) into the store; the problem,
    naming row and field, or None."""
    staff_path = catalog_path / "staff.csv"
    if not catalog.loaded or not staff_path.is_file():
        return None
    import pandas as pd

    from geo.figures import StaffError, validate_staff
    from geo.store.figures import replace_staff

    try:
        roster = validate_staff(pd.read_csv(staff_path, dtype=str, keep_default_na=False,
                                            encoding="utf-8"), catalog.bodies, str(staff_path))
    except (StaffError, ValueError, UnicodeDecodeError) as exc:
        return f"{exc}\nlayers and catalogues were imported; the staff roster was not"
    replace_staff(engine, roster, scope=SYSTEM)
    return None


def _demo_reform_history(args, settings: Settings) -> int:
    """The years of closed cases before the live demo (`geo.demo.reform`), once."""
    if getattr(args, "no_reform", False):
        return 0
    from geo import store
    from geo.demo.reform import add_reform_history

    try:
        router, catalog, engine = _router(settings)
    except LookupError as exc:
        return _fail(str(exc))
    made = add_reform_history(engine, router, catalog, ZoneInfo(settings.timezone),
                              store.utcnow())
    print(f"added {made} closed demo case(s) of the years before, for 改革成效" if made else
          "the reform history is there (or there are no sites); nothing added")
    return 0


def _report_inputs(args, settings: Settings):
    """(figures inputs, catalogue, township names, tz, today) for ``report``."""
    from geo import store
    from geo.store.figures import figure_inputs
    from geo.store.generations import township_names

    engine = store.connect(settings.database_url)
    if not store.has_reference(engine):
        raise LookupError("no layers loaded: run `python -m geo init` first")
    store.migrate(engine)
    catalog = store.load_catalog(engine, scope=SYSTEM)
    towns = {**township_names(engine, scope=SYSTEM), **dict(zip(
        *store.load_layers(engine, scope=SYSTEM).townships[["code", "name"]].T.to_numpy(),
        strict=True))}
    if args.township and args.township not in towns:
        raise LookupError(f"--township {args.township}: no such township (codes: "
                          f"{', '.join(sorted(towns)[:5])}, …)")
    tz = ZoneInfo(settings.timezone)
    return figure_inputs(engine, scope=SYSTEM), catalog, towns, tz, local_today(tz)


def _report_out(args) -> tuple[Path, str] | int:
    out = Path(args.out)
    kind = out.suffix.lower().lstrip(".")
    if kind not in ("xlsx", "html"):
        print(f"error: --out {args.out}: give a .xlsx or .html file", file=sys.stderr)
        return 2
    if args.year < 2000 or args.year > 2100:
        print(f"error: --year {args.year}: not a year", file=sys.stderr)
        return 2
    return out, kind


def cmd_report_reform(args, settings: Settings) -> int:
    """The reform's figures year on year (the district, or one township) as Excel or a
    print-ready HTML report."""
    from geo.app.reform_report import area_name, reform_html, reform_report, workbook
    from geo.figures import DISTRICT, reform_figures

    where = _report_out(args)
    if isinstance(where, int):
        return where
    out, kind = where
    try:
        inputs, catalog, towns, tz, today = _report_inputs(args, settings)
    except LookupError as exc:
        return _fail(str(exc))
    first = _first_year(inputs.cases, tz, args.year)
    figures = reform_figures(
        inputs.cases, catalog.empowerment, inputs.roster, catalog.bodies,
        range(first, args.year + 1), tz, townships=sorted(catalog.township_bodies()),
        domains=dict(zip(catalog.matters["code"], catalog.matters["domain"], strict=True)),
        as_of=today)
    area = args.township or DISTRICT
    matters = dict(zip(catalog.matters["code"], catalog.matters["name"], strict=True))
    sheets = reform_report(figures, args.year, area, towns, matters, args.lang)
    try:
        if kind == "xlsx":
            out.write_bytes(workbook(sheets))
        else:
            out.write_text(reform_html(sheets, args.year, area_name(area, towns, args.lang),
                                       args.lang, store_now(), tz), encoding="utf-8")
    except OSError as exc:
        return _fail(f"{out}: cannot write ({exc.strerror or exc})")
    row = figures.yearly[(figures.yearly["township_code"] == area)
                         & (figures.yearly["year"] == args.year)].iloc[0]
    print(f"wrote {out}: {area_name(area, towns, 'en')} {args.year}: {row['cases']} new "
          f"cases, {row['dormant_activated']} dormant clause(s) activated, {row['staff']} "
          "staff at the year's end")
    return 0


def cmd_report_evaluation(args, settings: Settings) -> int:
    """The annual empowerment evaluation of a year as a decision paper (Excel or HTML)."""
    from geo.app.reform_report import area_name, evaluation_html, paper_table, workbook
    from geo.figures import DISTRICT, EvaluationRules, decision_paper

    where = _report_out(args)
    if isinstance(where, int):
        return where
    out, kind = where
    try:
        rules = EvaluationRules(**{k: v for k, v in (
            ("grace_days", args.grace_days), ("take_back_returned", args.take_back),
            ("often_returned", args.often_returned), ("slow_ratio", args.slow_ratio))
            if v is not None})
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        inputs, catalog, towns, tz, _ = _report_inputs(args, settings)
    except LookupError as exc:
        return _fail(str(exc))
    paper = decision_paper(inputs.cases, inputs.events, catalog.empowerment,
                           catalog.township_bodies(), dict(zip(
                               catalog.matters["code"], catalog.matters["district_body"],
                               strict=True)), args.year, tz, rules)
    if args.township:
        paper = paper[paper["township_code"] == args.township]
    matters = dict(zip(catalog.matters["code"], catalog.matters["name"], strict=True))
    table = paper_table(paper, rules, towns, matters, args.lang)
    area = area_name(args.township or DISTRICT, towns, args.lang)
    try:
        if kind == "xlsx":
            out.write_bytes(workbook({str(args.year): table}))
        else:
            out.write_text(evaluation_html(table, rules, args.year, area, args.lang,
                                           store_now(), tz), encoding="utf-8")
    except OSError as exc:
        return _fail(f"{out}: cannot write ({exc.strerror or exc})")
    counts = paper["action"].value_counts()
    print(f"wrote {out}: {len(paper)} delegated matter(s) in {args.year}: " + ", ".join(
        f"{counts.get(a, 0)} {a.replace('_', ' ')}" for a in ("keep", "train", "take_back",
                                                               "extend")))
    return 0


def store_now() -> dt.datetime:
    """Now, naive UTC (when a report is made)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _first_year(cases, tz, year: int) -> int:
    """The first year with a case (at most ``year``)."""
    from geo.figures import figure_years

    return min(figure_years(cases, tz, dt.date(year, 12, 31))[0], year)


def _report_parser(sub) -> None:
    rep = sub.add_parser("report", help="reports: the reform's figures, the empowerment "
                         "evaluation (Excel or print-ready HTML)").add_subparsers(
        dest="sub", required=True)
    for name, func, text in (
            ("reform", cmd_report_reform, "the reform's figures year on year (改革成效): new "
             "case sources, newly delegated matters, dormant clauses activated, staff moved "
             "to the townships"),
            ("evaluation", cmd_report_evaluation, "the annual empowerment evaluation as a "
             "decision paper: per township and delegated matter, cases, returns, median "
             "days, and the suggested action (keep, train, take back, extend) with its "
             "reason")):
        one = rep.add_parser(name, help=text)
        one.add_argument("--year", type=int, required=True, help="the calendar year")
        one.add_argument("--out", required=True, help="FILE.xlsx or FILE.html")
        one.add_argument("--township", help="one township's code (default: the district)")
        one.add_argument("--lang", choices=("zh", "en"), default="zh")
        if name == "evaluation":
            one.add_argument("--grace-days", type=int, help="too recent to judge below "
                             "(default 180)")
            one.add_argument("--take-back", type=float, help="share returned above which: "
                             "take back (default 0.5)")
            one.add_argument("--often-returned", type=float, help="share returned above "
                             "which: train (default 0.3)")
            one.add_argument("--slow-ratio", type=float, help="median days over the "
                             "district team's, above which: train (default 1.5)")
        one.set_defaults(func=func)


#: help of ``--layers-gcj02`` (init, route, layers check, catalog template)
LAYERS_GCJ02 = ("the layer files' lon/lat are GCJ-02 (traced on a Chinese phone map app; such "
                "files declare WGS84 or no CRS): they are converted to WGS84")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m geo", description="Enforcement OneMap (执法一张图)")
    sub = p.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="create the database, import layers and catalogues")
    init.add_argument("--layers", help="layer folder or GeoPackage (default: layers/)")
    init.add_argument("--catalog", help="folder with matters/bodies/empowerment CSV")
    init.add_argument("--assume-crs", help="CRS for layer files that declare none")
    init.add_argument("--effective-from", metavar="DATE",
                      help="first day (YYYY-MM-DD, the district's calendar) the layers' "
                      "boundaries are in force; the layers loaded before stay in force until "
                      "then, for alerts reported earlier (default: today)")
    init.add_argument("--layers-gcj02", action="store_true", help=LAYERS_GCJ02)
    init.set_defaults(func=cmd_init)

    cat = sub.add_parser("catalog", help="catalogue tools").add_subparsers(dest="sub",
                                                                         required=True)
    tpl = cat.add_parser("template", help="write catalogue files to fill in for a layer set")
    tpl.add_argument("--out", required=True, help="folder to write the CSV files to")
    tpl.add_argument("--layers", help="layer folder or GeoPackage (default: loaded set)")
    tpl.add_argument("--assume-crs", help="CRS for layer files that declare none")
    tpl.add_argument("--layers-gcj02", action="store_true", help=LAYERS_GCJ02)
    tpl.set_defaults(func=cmd_catalog_template)

    layers = sub.add_parser("layers", help="layer tools").add_subparsers(dest="sub",
                                                                         required=True)
    check = layers.add_parser("check", help="validate a layer folder or GeoPackage")
    check.add_argument("path")
    check.add_argument("--assume-crs", help="CRS for layer files that declare none")
    check.add_argument("--layers-gcj02", action="store_true", help=LAYERS_GCJ02)
    check.set_defaults(func=cmd_layers_check)
    gens = layers.add_parser("generations", help="list the layer generations and their dates")
    gens.set_defaults(func=cmd_layers_generations)
    move = layers.add_parser("move-start", help="move the start of the generation in force "
                             "(a mistyped init --effective-from), and the end of the one "
                             "before; cases keep the township they were routed to")
    move.add_argument("date", help="the new first day (YYYY-MM-DD, the district's calendar)")
    move.set_defaults(func=cmd_layers_move_start)

    ingest = sub.add_parser("ingest", help="store and route alerts from a file")
    ingest.add_argument("file", help="CSV, GeoJSON or JSON lines")
    ingest.add_argument("--source", help="source for rows without a source column")
    ingest.add_argument("--crs", help="coordinates' CRS: EPSG code, wgs84 (default) or gcj02")
    ingest.add_argument("--rejects", metavar="FILE", help="write every rejected row to FILE "
                        "(CSV: row, field, value, reason, then the row's fields); without "
                        "it the first 20 are printed")
    ingest.add_argument("--progress", action="store_true", help="show progress bars")
    ingest.set_defaults(func=cmd_ingest)

    rep = sub.add_parser("repair", help="route stored alerts that have no case")
    rep.set_defaults(func=cmd_repair)

    route = sub.add_parser("route", help="route points in bulk without storing them")
    route.add_argument("file", help="CSV, GeoJSON or JSON lines")
    route.add_argument("--layers", help="layer folder or GeoPackage (default: loaded set)")
    route.add_argument("--assume-crs", help="CRS for layer files that declare none")
    route.add_argument("--layers-gcj02", action="store_true", help=LAYERS_GCJ02)
    route.add_argument("--crs", help="coordinates' CRS: EPSG code, wgs84 (default) or gcj02")
    route.add_argument("--out", required=True, help="output .csv or .geojson")
    route.add_argument("--rejects", metavar="FILE", help="write every rejected row to FILE "
                       "(CSV); without it the first 20 are printed")
    route.add_argument("--engine", choices=("local", "dask"), default="local",
                       help="local: one process (default); dask: partitions on a Dask "
                       "cluster, same output (CSV only)")
    route.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler to use, e.g. "
                       "tcp://10.0.0.5:8786 (default: a local cluster)")
    route.add_argument("--workers", type=int, metavar="N",
                       help="worker processes of the local cluster (default: one per core)")
    route.add_argument("--partition-rows", type=int, metavar="N",
                       help="rows per Dask partition (default 100000)")
    route.add_argument("--progress", action="store_true",
                       help="show progress (Dask engine; on by default on a terminal)")
    route.set_defaults(func=cmd_route)

    cases = sub.add_parser("cases", help="case tools").add_subparsers(dest="sub", required=True)
    lst = cases.add_parser("list", help="list cases, newest first")
    lst.add_argument("--township", help="township code")
    lst.add_argument("--body", help="body code")
    lst.add_argument("--status")
    lst.add_argument("--since", help="opened on or after (ISO date, UTC)")
    lst.add_argument("--limit", type=int, default=100)
    lst.set_defaults(func=cmd_cases_list)

    sim = sub.add_parser("simulate", help="live demo feed: realistic alerts, a few per minute")
    sim.add_argument("--rate", type=float, default=3.0, help="alerts per minute (mean)")
    sim.add_argument("--count", type=int, default=0, help="stop after N alerts (0: never)")
    sim.add_argument("--seed", type=int, default=None, help="random seed")
    sim.set_defaults(func=cmd_simulate)

    teams = sub.add_parser("teams", help="team tools").add_subparsers(dest="sub", required=True)
    pos = teams.add_parser("position", help="store team position fixes from a CSV file "
                           "(team_id, lon, lat, at)")
    pos.add_argument("file")
    pos.add_argument("--crs", help="coordinates' CRS: EPSG code, wgs84 (default) or gcj02")
    pos.set_defaults(func=cmd_teams_position)

    insp = sub.add_parser("inspections", help="inspection tools").add_subparsers(
        dest="sub", required=True)
    esc = insp.add_parser("escalate", help="turn problems unfixed after their deadline into "
                          "cases (run daily; idempotent)")
    esc.add_argument("--today", help="the day to judge deadlines by (ISO date)")
    esc.set_defaults(func=cmd_inspections_escalate)

    # issue 14: check-ups by appointment (预约体检) and joint visits (综合查一次)
    chk = sub.add_parser("checkups", help="check-ups by appointment and joint visits"
                         ).add_subparsers(dest="sub", required=True)
    prop = chk.add_parser("propose", help="propose one joint visit for each site due for "
                          "several departments' inspections within the same weeks")
    prop.add_argument("--window-days", type=int, default=21,
                      help="most days between the due inspections joined (default 21)")
    prop.add_argument("--horizon-days", type=int, default=60,
                      help="only inspections due within this many days (default 60)")
    prop.add_argument("--today", help="the day to judge what is due by (ISO date)")
    prop.add_argument("--out", help="write every proposal to this CSV file")
    prop.add_argument("--limit", type=int, default=30, help="proposals printed (default 30)")
    prop.set_defaults(func=cmd_checkups_propose)
    chk.add_parser("counts", help="per year: visits saved by joining, check-ups booked by "
                   "businesses, visits scheduled by the office").set_defaults(
        func=cmd_checkups_counts)

    evid = sub.add_parser("evidence", help="evidence files").add_subparsers(
        dest="sub", required=True)
    swp = evid.add_parser("sweep", help="remove evidence files no attachment has (left by "
                          "uploads that failed); safe while the app runs")
    swp.add_argument("--older-than-min", type=float, default=60.0,
                     help="only files written at least this many minutes ago (default 60)")
    swp.set_defaults(func=cmd_evidence_sweep)

    demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="sub", required=True)
    build = demo.add_parser("build", help="rebuild the demo district's layers and catalogues")
    build.add_argument("--layers-dir", default=str(Settings().layers_path))
    build.add_argument("--data-dir", default=str(Settings().catalog_path))
    build.set_defaults(func=cmd_demo_build)
    hist = demo.add_parser("history", help="add a year of demo inspections and the "
                          "cases' lifecycle up to now (if none yet)")
    hist.add_argument("--inspections", type=int, default=3000)
    hist.add_argument("--seed", type=int, default=SEED_HISTORY)
    hist.add_argument("--no-reform", action="store_true",
                      help="leave out the years of closed cases before the live demo "
                      "(shown on 改革成效)")
    hist.set_defaults(func=cmd_demo_history)
    dusers = demo.add_parser("users", help="add the demo users (one per role, public "
                             "passwords; see README) to the bundled demo database")
    dusers.add_argument("--yes", action="store_true",
                        help="add them to a database other than the bundled demo one")
    dusers.set_defaults(func=cmd_demo_users)

    users = sub.add_parser("users", help="people who sign in, their roles and API tokens"
                           ).add_subparsers(dest="sub", required=True)
    add = users.add_parser("add", help="create or update a user (asks for a password)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=USER_ROLES)
    add.add_argument("--name", help="display name")
    add.add_argument("--township", help="township code (role township)")
    add.add_argument("--body", help="body code (role dispatcher)")
    add.add_argument("--email", help="e-mail, to match an OIDC sign-in")
    add.add_argument("--no-password", action="store_true",
                     help="no password (OIDC or API token only)")
    add.set_defaults(func=cmd_users_add)
    tok = users.add_parser("token", help="issue a new API token for a user (printed once)")
    tok.add_argument("username")
    tok.set_defaults(func=cmd_users_token)
    users.add_parser("list", help="list users").set_defaults(func=cmd_users_list)
    for name, func, text in (
            ("password", cmd_users_password, "change a user's password (asks for it); "
             "their sign-ins end"),
            ("disable", cmd_users_disable, "disable a user: their token is refused from the "
             "next request on and their sign-ins end"),
            ("enable", cmd_users_enable, "enable a disabled user again"),
            ("delete", cmd_users_delete, "delete a user, their token and sign-ins")):
        one = users.add_parser(name, help=text)
        one.add_argument("username")
        one.set_defaults(func=func)

    sources = sub.add_parser("sources", help="systems that post alerts to the API"
                             ).add_subparsers(dest="sub", required=True)
    sadd = sources.add_parser("add", help="register a source or renew its token (printed once)")
    sadd.add_argument("code", help="source code stored with its alerts, e.g. 12345")
    sadd.add_argument("--name")
    sadd.add_argument("--rate-limit", default="20/second",
                      help="alerts allowed, e.g. 20/second or 1000/minute")
    sadd.add_argument("--crs", default="wgs84", help="its coordinates' CRS (gcj02, EPSG:…)")
    sadd.set_defaults(func=cmd_sources_add)
    sources.add_parser("list", help="list sources").set_defaults(func=cmd_sources_list)
    for name, func, text in (
            ("disable", cmd_sources_disable, "disable a source: its token is refused from "
             "the next request on"),
            ("delete", cmd_sources_delete, "delete a source and its token (its alerts "
             "stay)")):
        one = sources.add_parser(name, help=text)
        one.add_argument("code")
        one.set_defaults(func=func)

    _report_parser(sub)
    _handoff_parsers(sub)  # issue 14

    api = sub.add_parser("api", help="serve the intake API (FastAPI, Open311)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--log-level", default="info")
    api.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    api.set_defaults(func=cmd_api)
    return p


# ------------------------------------------------------------ issue 14: hand-off (handoff)
def _read_powers(catalog, folder: Path, problems: list[str]):
    """``powers.csv`` of the catalogue folder being imported (`geo.handoff.read_powers`),
    its first problem added to ``problems``; None where there is none (or no catalogue)."""
    from geo.handoff import read_powers

    if catalog is None or not catalog.loaded:
        return None
    try:
        return read_powers(folder, catalog.matters["code"])
    except CatalogError as exc:
        problems.append(str(exc))
        return None


def _write_powers_template(settings: Settings, folder: Path, base) -> Path:
    """Write ``powers.csv`` to fill in beside the other template files: one row per matter
    of ``base``, with the powers loaded (else those of the catalogue folder)."""
    from geo import store
    from geo.handoff import read_powers, template_powers

    powers = None
    if base is not None and base.loaded:
        engine = store.connect(settings.database_url)
        if store.has_reference(engine):
            from geo.store.handoff import powers_frame

            powers = powers_frame(engine, scope=SYSTEM)
        if powers is None or powers.empty:
            try:
                powers = read_powers(Path(settings.catalog_path), base.matters["code"])
            except CatalogError:
                powers = None
    import pandas as pd

    matters = base.matters if base is not None else pd.DataFrame(columns=["code"])
    path = folder / "powers.csv"
    template_powers(matters, powers).to_csv(path, index=False, encoding="utf-8")
    return path


def _demo_handoff(settings: Settings) -> int:
    """The demo's approvals, supervision tasks, referrals and notice (once)."""
    from sqlalchemy import func, select

    from geo import store
    from geo.demo.handoff import add_handoff_history
    from geo.store.models import Approval

    with store.sessions(store.connect(settings.database_url))() as s:
        if s.scalar(select(func.count()).select_from(Approval)):
            print("the demo hand-off is there already; nothing added")
            return 0
    try:
        router, catalog, engine = _router(settings)
    except LookupError as exc:
        return _fail(str(exc))
    tz = ZoneInfo(settings.timezone)
    made = add_handoff_history(engine, router, catalog, local_today(tz), tz, store.utcnow(),
                               settings.referral_ack_days)
    print("added the demo hand-off: {approvals} approvals with their supervision tasks, "
          "{escalated} escalated and closed, {referrals} referrals".format(**made) if made
          else "the demo hand-off is there already; nothing added")
    return 0


def cmd_approvals_ingest(args, settings: Settings) -> int:
    """Store approvals (审批) from a CSV file, each opening its supervision task; bad rows
    are reported by row and field, the good ones kept. Idempotent on (source, id)."""
    import pandas as pd

    from geo import store
    from geo.store.handoff import ingest_approvals

    engine = store.connect(settings.database_url)
    if not store.has_reference(engine):
        return _fail("no layers loaded: run `python -m geo init` first")
    try:
        frame = pd.read_csv(args.file, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError:
        return _fail(f"{args.file}: file not found")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        return _fail(f"{args.file}: not a readable UTF-8 CSV ({exc})")
    if "id" not in frame.columns:
        return _fail(f"{args.file}: missing column id")
    tz = ZoneInfo(settings.timezone)
    records = frame.to_dict("records")
    results, rejects = ingest_approvals(
        engine, records, list(range(2, len(records) + 2)), args.source, local_today(tz),
        settings.earliest_alert, scope=SYSTEM)
    for r in rejects[:20]:
        print(f"{args.file}, {r} (value {r.value!r})", file=sys.stderr)
    if len(rejects) > 20:
        print(f"… and {len(rejects) - 20} more rejected rows", file=sys.stderr)
    new = sum(r["created"] for r in results)
    print(f"{new} approval(s) stored, each with its supervision task; "
          f"{len(results) - new} already stored; {len(rejects)} rejected")
    if records and not results:
        return _fail(f"{args.file}: every row was rejected")
    return 0


def cmd_referrals_escalate(args, settings: Settings) -> int:
    """Flag referrals left unacknowledged past their deadline (run daily; idempotent)."""
    from geo import store
    from geo.store.handoff import escalate_referrals

    engine = store.connect(settings.database_url)
    if not store.has_reference(engine):
        return _fail("no layers loaded: run `python -m geo init` first")
    if args.now:
        try:
            local = dt.datetime.fromisoformat(args.now)
        except ValueError:
            return _fail(f"--now {args.now!r}: not an ISO date and time")
        if local.tzinfo is None:
            local = local.replace(tzinfo=ZoneInfo(settings.timezone))
        now = local.astimezone(dt.UTC).replace(tzinfo=None)
    else:
        now = store.utcnow()
    done = escalate_referrals(engine, now, scope=SYSTEM)
    print(f"escalated {len(done)} referral(s) left unacknowledged past their deadline"
          + (f": {', '.join(map(str, done))}" if done else ""))
    return 0


def _handoff_parsers(sub) -> None:
    appr = sub.add_parser("approvals", help="approvals (审批) that open supervision tasks"
                          ).add_subparsers(dest="sub", required=True)
    ing = appr.add_parser("ingest", help="store approvals from a CSV file (id, site_id or "
                          "credit_code, matter, permit, department, granted_on); each opens "
                          "a supervision task for the supervising department")
    ing.add_argument("file")
    ing.add_argument("--source", default="approvals",
                     help="the approving system the file comes from (default approvals)")
    ing.set_defaults(func=cmd_approvals_ingest)
    refs = sub.add_parser("referrals", help="referrals (移送) between bodies"
                          ).add_subparsers(dest="sub", required=True)
    esc = refs.add_parser("escalate", help="flag referrals unacknowledged past their deadline "
                          "for the command center (run daily; idempotent)")
    esc.add_argument("--now", help="the time to judge deadlines by (ISO; local if no offset)")
    esc.set_defaults(func=cmd_referrals_escalate)


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args, settings or Settings.from_env())
