"""两单融合 and the 审批—监管—执法 hand-off, and referrals (移送) between bodies: pure functions.

The reform asks that every matter have one record joining its **power list** (权力清单: the
legal basis, the department that grants the permit, the penalty range) and its
**responsibility list** (责任清单: the department that supervises, and the body that
enforces in each township from which date), and that the hand-off from approval to
supervision to enforcement run as data:

1. an approval (a permit granted to a site) opens a supervision task for the supervising
   department, due some days later (`Power.supervision_days`, default
   `DEFAULT_SUPERVISION_DAYS`);
2. the task is done by inspecting the site (an inspection of `geo.inspections`); a problem
   found gets its rectification deadline, and one left unfixed after it becomes an
   enforcement case through the one escalation path (`geo.escalation`);
3. closing that case sends a notice (抄告) to the approving department.

A case referred (移送) from one body to another must be acknowledged (签收) by the
receiving body within `DEFAULT_ACK_WORKING_DAYS` working days; one that is not is
escalated to the command center.

Tables are DataFrames; days are calendar days of the district (``datetime.date``); instants
are naive UTC, as in the store.

The powers catalogue, ``powers.csv`` (optional, beside ``matters.csv``), has the columns of
`POWER_COLUMNS`, one row per matter at most:

- ``matter_code``: a matter of ``matters.csv`` (required);
- ``permit``: the permit or approval item whose holders are supervised (text, may be empty);
- ``legal_basis``: the articles the power rests on (text);
- ``approving_department``: the department that grants the permit (text);
- ``penalty_min_yuan``, ``penalty_max_yuan``: the penalty range in yuan (numbers >= 0,
  min <= max; empty: not stated);
- ``supervising_department``: the department that supervises holders, as the checklists
  name departments (e.g. 市场监管); empty: the approving department (谁审批谁监管);
- ``supervision_days``: days from the approval to the supervision visit's deadline
  (whole number > 0; empty: `DEFAULT_SUPERVISION_DAYS`).

The enforcing body is not a column: it is derived from ``empowerment.csv`` and the matter's
``district_body`` (`geo.bodyrule`), so that the two lists cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geo.bodyrule import BODY_TOWNSHIP, body_rule
from geo.cases import CLOSED_STATUSES
from geo.catalog import Catalog, CatalogError

POWER_COLUMNS = ("matter_code", "permit", "legal_basis", "approving_department",
                 "penalty_min_yuan", "penalty_max_yuan", "supervising_department",
                 "supervision_days")
#: days from an approval to the deadline of its supervision visit, where powers.csv is silent
DEFAULT_SUPERVISION_DAYS = 30
#: working days (Monday to Friday) a receiving body has to acknowledge a referral (签收)
DEFAULT_ACK_WORKING_DAYS = 3
#: longest text of a powers.csv field, in characters (legal basis: several articles)
MAX_TEXT = {"permit": 200, "legal_basis": 2000, "approving_department": 100,
            "supervising_department": 100}


# ------------------------------------------------------------------------- the powers
def _fail(path: str, row: int, field: str, message: str):
    raise CatalogError(f"{path}, row {row + 2}, field {field}: {message}")


def _number(path: str, i: int, field: str, text: str) -> float | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        _fail(path, i, field, f"{text!r} is not a number")
    if not math.isfinite(value) or value < 0:
        _fail(path, i, field, f"{text!r} is not an amount of 0 yuan or more")
    return value


def validate_powers(frame: pd.DataFrame, matters: Iterable[str], path: str = "powers.csv"
                    ) -> pd.DataFrame:
    """Check a powers table row by row against the catalogue's matter codes.

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows of ``powers.csv`` as text (`POWER_COLUMNS`; other columns are dropped).
    matters : iterable of str
        The matter codes of the catalogue.
    path : str
        The file's name for messages.

    Returns
    -------
    pandas.DataFrame
        `POWER_COLUMNS`, text stripped; penalties as float (NaN: not stated) in yuan;
        ``supervision_days`` as int (the default where empty); ``supervising_department``
        the approving department where empty.

    Raises
    ------
    geo.catalog.CatalogError
        On the first problem, naming file, row (CSV line) and field.
    """
    missing = [c for c in POWER_COLUMNS if c not in frame.columns]
    if missing:
        raise CatalogError(f"{path}: missing column(s) {', '.join(missing)}")
    known = set(matters)
    rows, seen = [], {}
    for i, rec in enumerate(frame[list(POWER_COLUMNS)].itertuples(index=False)):
        rec = {k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
               .strip() for k, v in zip(POWER_COLUMNS, rec, strict=True)}
        code = rec["matter_code"]
        if code == "":
            _fail(path, i, "matter_code", "empty")
        if code not in known:
            _fail(path, i, "matter_code", f"unknown matter {code!r} (not in matters.csv)")
        if code in seen:
            _fail(path, i, "matter_code", f"matter {code} is already on row {seen[code] + 2}")
        seen[code] = i
        for name, limit in MAX_TEXT.items():
            if len(rec[name]) > limit:
                _fail(path, i, name, f"longer than {limit} characters")
            if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", rec[name]):
                _fail(path, i, name, "holds control characters")
        low = _number(path, i, "penalty_min_yuan", rec["penalty_min_yuan"])
        high = _number(path, i, "penalty_max_yuan", rec["penalty_max_yuan"])
        if low is not None and high is not None and low > high:
            _fail(path, i, "penalty_max_yuan", f"{high:g} is less than penalty_min_yuan "
                  f"{low:g}")
        days = rec["supervision_days"]
        if days == "":
            days = DEFAULT_SUPERVISION_DAYS
        elif not days.isdigit() or not 0 < int(days) <= 3650:
            _fail(path, i, "supervision_days", f"{days!r} is not a whole number of days "
                  "from 1 to 3650")
        rows.append({**rec, "penalty_min_yuan": np.nan if low is None else low,
                     "penalty_max_yuan": np.nan if high is None else high,
                     "supervising_department": rec["supervising_department"]
                     or rec["approving_department"],
                     "supervision_days": int(days)})
    return pd.DataFrame(rows, columns=list(POWER_COLUMNS))


def read_powers(folder: Path, matters: Iterable[str]) -> pd.DataFrame | None:
    """``powers.csv`` of a catalogue folder, validated (`validate_powers`); None where the
    folder has none."""
    path = Path(folder) / "powers.csv"
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: not a readable UTF-8 CSV ({exc})") from exc
    return validate_powers(frame, matters, str(path))


def template_powers(matters: pd.DataFrame, powers: pd.DataFrame | None = None
                    ) -> pd.DataFrame:
    """``powers.csv`` to fill in: one row per matter, with what ``powers`` already says
    (else empty fields and the default supervision days); loads back as written."""
    base = pd.DataFrame({"matter_code": list(matters["code"])})
    if powers is not None and len(powers):
        base = base.merge(powers, on="matter_code", how="left")
    out = base.reindex(columns=list(POWER_COLUMNS))
    for col in ("penalty_min_yuan", "penalty_max_yuan"):
        out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{float(v):g}")
    out["supervision_days"] = out["supervision_days"].map(
        lambda v: str(DEFAULT_SUPERVISION_DAYS) if pd.isna(v) else str(int(v)))
    return out.astype(object).where(out.notna(), "").astype(str)


def twin_list(catalog: Catalog, powers: pd.DataFrame | None, township_code: str,
              day: dt.date) -> pd.DataFrame:
    """两单融合: the power list and the responsibility list of every matter, joined, for one
    township on one day.

    Parameters
    ----------
    catalog : geo.catalog.Catalog
        Matters, bodies and the empowerment list (which says who enforces).
    powers : pandas.DataFrame or None
        The validated powers (`validate_powers`); None or empty: no power list loaded
        (its columns are empty, the supervision days the default).
    township_code : str
        The township (12-digit code).
    day : datetime.date
        The day (the district's calendar) the responsibility list is read for.

    Returns
    -------
    pandas.DataFrame
        One row per matter, in catalogue order: ``matter_code, matter_name, domain``, the
        columns of `POWER_COLUMNS`, ``body_code`` (the enforcing body on ``day``),
        ``township_enforces`` (bool: the township's center, by empowerment) and ``since``
        (the day that empowerment took effect; None where the district team enforces).
    """
    rule = body_rule(catalog, np.array([township_code], dtype=object))
    matters = catalog.matters
    base = pd.DataFrame({"matter_code": matters["code"].to_numpy(),
                         "matter_name": matters["name"].to_numpy(),
                         "domain": matters["domain"].to_numpy()})
    if powers is None or powers.empty:
        powers = pd.DataFrame(columns=list(POWER_COLUMNS))
    out = base.merge(powers[list(POWER_COLUMNS)], on="matter_code", how="left")
    for col in ("permit", "legal_basis", "approving_department", "supervising_department"):
        out[col] = out[col].fillna("")
    out["supervision_days"] = out["supervision_days"].fillna(
        DEFAULT_SUPERVISION_DAYS).astype(int)
    bodies, township, since = [], [], []
    for code in out["matter_code"]:
        body, why, start = rule.one(0, True, code, day)
        bodies.append(body)
        township.append(why == BODY_TOWNSHIP)
        since.append(start)
    out["body_code"], out["township_enforces"], out["since"] = bodies, township, since
    return out


# ------------------------------------------------------------------------ approvals
#: the fields of an approval event (CSV columns, JSON keys); ``site_id`` or ``credit_code``
APPROVAL_FIELDS = ("id", "site_id", "credit_code", "matter", "permit", "department",
                   "granted_on")
_ID = re.compile(r"^[!-~]{1,100}$")  # printable ASCII without spaces, as alert ids
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LIMITS = {"site_id": 40, "credit_code": 18, "matter": 40, "permit": 200, "department": 100}


@dataclass(frozen=True)
class ApprovalReject:
    """A refused approval: its row (CSV line, or index + 1 in a batch), field, value
    excerpt and reason."""

    row: int
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, field {self.field}: {self.reason}"


def check_approvals(records: list[dict], rows: list[int], powers: pd.DataFrame | None,
                    matters: Iterable[str], sites: pd.DataFrame, today: dt.date,
                    earliest: dt.date) -> tuple[list[dict], list[ApprovalReject]]:
    """Check approval events and resolve what each opens: the site, its township, the
    supervising department and the deadline.

    Parameters
    ----------
    records : list of dict
        Approval events with the keys of `APPROVAL_FIELDS` (text; missing keys are empty).
    rows : list of int
        The row number of each record for messages (CSV line, or position in a batch).
    powers : pandas.DataFrame or None
        The validated powers (`validate_powers`).
    matters : iterable of str
        The catalogue's matter codes.
    sites : pandas.DataFrame
        The site registry: ``site_id, credit_code, township_code``.
    today, earliest : datetime.date
        The district's today, and the earliest day accepted: ``granted_on`` lies between.

    Returns
    -------
    tuple
        The good events, as dicts with ``external_id, site_id, township_code, matter_code,
        permit, approving_department, supervising_department, granted_on, due_on``, and a
        reject per bad one (its first problem), in row order.
    """
    known = set(matters)
    by_matter = ({} if powers is None or powers.empty
                 else powers.set_index("matter_code").to_dict("index"))
    site_town = dict(zip(sites["site_id"], sites["township_code"], strict=True))
    by_credit: dict[str, list[str]] = {}
    for sid, code in zip(sites["site_id"], sites["credit_code"], strict=True):
        if isinstance(code, str) and code:
            by_credit.setdefault(code, []).append(sid)
    good, rejects, first_row = [], [], {}
    for rec, row in zip(records, rows, strict=True):
        value = {f: _text(rec.get(f)) for f in APPROVAL_FIELDS}

        def no(field: str, reason: str, row: int = row, value: dict = value) -> None:
            rejects.append(ApprovalReject(row, field, value[field][:40], reason))

        ext = value["id"]
        if not _ID.match(ext):
            no("id", "must be 1 to 100 printable ASCII characters without spaces")
            continue
        if ext in first_row:
            no("id", f"repeats row {first_row[ext]}")
            continue
        first_row[ext] = row
        bad = next((f for f in value if _CONTROL.search(value[f])), None)
        if bad:
            no(bad, "holds control characters")
            continue
        long = next((f for f, n in _LIMITS.items() if len(value[f]) > n), None)
        if long:
            no(long, f"longer than {_LIMITS[long]} characters")
            continue
        site = value["site_id"]
        if site:
            if site not in site_town:
                no("site_id", f"unknown site {site!r} (not in the site registry)")
                continue
            if value["credit_code"] and site not in by_credit.get(value["credit_code"], []):
                no("credit_code", f"is not the credit code of site {site}")
                continue
        elif value["credit_code"]:
            found = by_credit.get(value["credit_code"], [])
            if len(found) != 1:
                no("credit_code", "no site has this credit code" if not found else
                   f"several sites have this credit code ({', '.join(sorted(found)[:3])}): "
                   "give site_id")
                continue
            site = found[0]
        else:
            no("site_id", "give site_id or credit_code")
            continue
        matter = value["matter"]
        if not matter:
            no("matter", "required: the matter whose supervision the permit starts")
            continue
        if matter not in known:
            no("matter", f"unknown matter {matter!r} (not in matters.csv)")
            continue
        try:
            granted = dt.date.fromisoformat(value["granted_on"])
        except ValueError:
            no("granted_on", "required: an ISO date (YYYY-MM-DD)" if not value["granted_on"]
               else "not an ISO date (YYYY-MM-DD)")
            continue
        if granted > today:
            no("granted_on", f"after today ({today:%Y-%m-%d})")
            continue
        if granted < earliest:
            no("granted_on", f"before {earliest:%Y-%m-%d}, the earliest day accepted")
            continue
        power = by_matter.get(matter, {})
        approving = value["department"] or power.get("approving_department", "")
        supervising = power.get("supervising_department") or approving
        if not supervising:
            no("department", f"required: powers.csv names no department for matter {matter}")
            continue
        days = int(power.get("supervision_days") or DEFAULT_SUPERVISION_DAYS)
        town = site_town[site]
        good.append({"external_id": ext, "site_id": site,
                     "township_code": town if isinstance(town, str) and town else None,
                     "matter_code": matter, "permit": value["permit"] or power.get("permit", ""),
                     "approving_department": approving, "supervising_department": supervising,
                     "granted_on": granted, "due_on": granted + dt.timedelta(days=days)})
    return good, rejects


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


# ------------------------------------------------------------------ supervision tasks
#: what a supervision task is at: not yet visited (open, overdue), visited and passed,
#: a problem under rectification, every problem fixed, a problem escalated to a case still
#: open, or every escalated case closed (the approving department notified)
TASK_STATES = ("open", "overdue", "passed", "rectifying", "fixed", "escalated", "closed")


def escalated_inspection(external_id: str) -> tuple[int, str] | None:
    """(inspection id, item code) of the alert that `geo.escalation` made of an unfixed
    problem (external id ``INSP-<inspection>-<item>``), else None.

    Examples
    --------
    >>> escalated_inspection("INSP-12-SHO-03")
    (12, 'SHO-03')
    >>> escalated_inspection("12345-00002") is None
    True
    """
    found = re.match(r"^INSP-(\d+)-(.+)$", external_id or "")
    return (int(found[1]), found[2]) if found else None


def task_states(tasks: pd.DataFrame, findings: pd.DataFrame, reinspections: pd.DataFrame,
                cases: pd.DataFrame, today: dt.date) -> pd.Series:
    """The state (`TASK_STATES`) of each supervision task.

    Parameters
    ----------
    tasks : pandas.DataFrame
        ``inspection_id`` (None: not visited yet) and ``due_on`` (date).
    findings, reinspections : pandas.DataFrame
        As `geo.store.inspecting.inspection_tables` gives them (``inspection_id,
        item_code, result`` and ``inspection_id, item_code, day, fixed``).
    cases : pandas.DataFrame
        The cases escalated from inspections: ``inspection_id, item_code, status``.
    today : datetime.date
        The district's today.

    Returns
    -------
    pandas.Series
        Text, on the index of ``tasks``.
    """
    latest = (reinspections.sort_values("day", kind="stable")
              .drop_duplicates(["inspection_id", "item_code"], keep="last")
              .set_index(["inspection_id", "item_code"])["fixed"].to_dict())
    problems = findings[findings["result"] == "problem"].groupby("inspection_id")[
        "item_code"].apply(list).to_dict()
    case_state = {(int(i), c): s for i, c, s in zip(cases["inspection_id"], cases["item_code"],
                                                   cases["status"], strict=True)}
    out = []
    for iid, due in zip(tasks["inspection_id"], tasks["due_on"], strict=True):
        if iid is None or pd.isna(iid):
            out.append("overdue" if pd.Timestamp(due).date() < today else "open")
            continue
        items = problems.get(int(iid), [])
        if not items:
            out.append("passed")
            continue
        escalated = [case_state[int(iid), c] for c in items if (int(iid), c) in case_state]
        unfixed = [c for c in items if (int(iid), c) not in case_state
                   and not latest.get((int(iid), c), False)]
        if any(s not in CLOSED_STATUSES for s in escalated):
            out.append("escalated")
        elif unfixed:
            out.append("rectifying")
        else:
            out.append("closed" if escalated else "fixed")
    return pd.Series(out, index=tasks.index, dtype=object)


# ---------------------------------------------------------------------------- referrals
#: what a referral is at: waiting for its acknowledgement, acknowledged (签收), past its
#: deadline unacknowledged, escalated to the command center, or moot (the case has left
#: the receiving body, or is closed, before it was acknowledged)
REFERRAL_STATES = ("pending", "acknowledged", "overdue", "escalated", "superseded")


def ack_due(referred_at: dt.datetime, tz: ZoneInfo, working_days: int = DEFAULT_ACK_WORKING_DAYS,
            holidays: Iterable[dt.date] = ()) -> dt.datetime:
    """When a referral made at ``referred_at`` must be acknowledged by: the end of the
    ``working_days``-th working day (Monday to Friday, less ``holidays``) after the local
    day of the referral (one made on a day off counts from the next working day).

    Parameters
    ----------
    referred_at : datetime.datetime
        Naive UTC.
    tz : zoneinfo.ZoneInfo
        The district's time zone.
    working_days : int
        Working days allowed (> 0).
    holidays : iterable of datetime.date
        Days off besides weekends.

    Returns
    -------
    datetime.datetime
        Naive UTC: local midnight at the end of the due day.

    Examples
    --------
    >>> tz = ZoneInfo("Asia/Shanghai")
    >>> ack_due(dt.datetime(2026, 11, 27, 2), tz)  # Friday 10:00 local -> Wednesday 24:00
    datetime.datetime(2026, 12, 2, 16, 0)
    """
    if working_days <= 0:
        raise ValueError("working days to acknowledge a referral must be 1 or more")
    local = referred_at.replace(tzinfo=dt.UTC).astimezone(tz).date()
    off = np.array(sorted(holidays), dtype="datetime64[D]")
    due = np.busday_offset(np.datetime64(local, "D"), working_days, roll="forward",
                           holidays=off).astype(object)
    end = dt.datetime.combine(due + dt.timedelta(days=1), dt.time(), tz)
    return end.astimezone(dt.UTC).replace(tzinfo=None)


def referral_states(referrals: pd.DataFrame, now: dt.datetime) -> pd.Series:
    """The state (`REFERRAL_STATES`) of each referral at ``now`` (naive UTC).

    Parameters
    ----------
    referrals : pandas.DataFrame
        ``to_body, due_at, acknowledged_at, escalated_at`` (naive UTC, NaT: not yet) and
        the case's ``case_body`` and ``case_status`` now.

    Returns
    -------
    pandas.Series
        Text, on the index of ``referrals``.
    """
    acked = referrals["acknowledged_at"].notna()
    moot = (referrals["case_body"] != referrals["to_body"]) | referrals["case_status"].isin(
        CLOSED_STATUSES)
    state = np.where(acked, "acknowledged", np.where(
        moot, "superseded", np.where(referrals["escalated_at"].notna(), "escalated", np.where(
            pd.to_datetime(referrals["due_at"]) < pd.Timestamp(now), "overdue", "pending"))))
    return pd.Series(state, index=referrals.index, dtype=object)


def may_acknowledge(role: str, own_bodies: Iterable[str], to_body: str) -> bool:
    """Whether a caller may acknowledge a referral to ``to_body``: the receiving body's own
    staff (a dispatcher of it, the staff of the township whose center it is: ``own_bodies``)
    or the command center and the administrator on its behalf.

    Examples
    --------
    >>> may_acknowledge("dispatcher", {"DT-SC"}, "DT-SC")
    True
    >>> may_acknowledge("township", {"TC-A"}, "DT-SC")
    False
    """
    return role in ("command", "admin") or (
        role in ("dispatcher", "township") and to_body in set(own_bodies))
