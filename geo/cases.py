"""Cases: states, and pure functions over a table of cases (filters and key figures).

A case table is a DataFrame as returned by `geo.store.cases_frame`: one row per case with
``id, status, severity, source, matter_code, domain, township_code, opened_at,
deadline_at`` (naive UTC) among its columns.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geo.catalog import SEVERITIES
from geo.days import local_day, local_days
from geo.inspections import DEFAULT_FIX_DAYS

STATUSES = ("new", "routed", "verified", "dispatched", "handling", "rectification",
            "reinspection", "closed", "returned", "transferred", "merged")
CLOSED_STATUSES = frozenset({"closed", "merged"})
SOURCES = ("bigdata", "12345", "patrol", "grid", "referral", "inspection")
# Sources whose alerts must be checked on site (核查) before a team is dispatched.
UNCONFIRMED_SOURCES = frozenset({"bigdata"})
SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
#: the severities whose new alerts someone must acknowledge: the highest of the catalogue's
#: (`geo.catalog.SEVERITIES`, lowest first), ``high``
ACKNOWLEDGED_SEVERITIES = frozenset(SEVERITIES[-1:])
#: how long a new alert waits for its acknowledgement on the command center's list
ACKNOWLEDGE_WITHIN = dt.timedelta(hours=24)
#: the states of a case nobody has acted on yet: once a team is dispatched (or the case is
#: closed or merged), someone has, and there is nothing left to acknowledge
AWAITING_ACTION = frozenset({"new", "routed", "verified", "returned", "transferred"})

# The case lifecycle: state -> states it may move to.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"routed", "merged"}),
    "routed": frozenset({"verified", "dispatched", "returned", "transferred", "merged"}),
    "verified": frozenset({"dispatched", "closed", "returned", "transferred", "merged"}),
    "dispatched": frozenset({"handling", "returned", "routed"}),  # routed: team recalled
    "handling": frozenset({"rectification", "closed", "returned"}),
    "rectification": frozenset({"reinspection"}),
    "reinspection": frozenset({"closed", "rectification"}),
    "returned": frozenset({"routed"}),
    "transferred": frozenset({"verified", "dispatched", "returned", "merged"}),
    "closed": frozenset(),
    "merged": frozenset(),
}
# Transitions that must say why.
NEEDS_REASON = frozenset({"returned", "transferred", "merged", "closed"})

# Case states that release the teams still assigned to the case.
RELEASES_TEAMS = frozenset({"returned", "transferred", "merged", "closed"})

TEAM_TRANSITIONS: dict[str, frozenset[str]] = {
    "available": frozenset({"dispatched", "off_duty"}),
    "dispatched": frozenset({"en_route", "available", "off_duty"}),
    "en_route": frozenset({"on_scene", "available"}),
    "on_scene": frozenset({"available"}),
    "off_duty": frozenset({"available"}),
}


#: days a case under rectification (整改) is given by default: those of 集成改一次
RECTIFICATION_DAYS = DEFAULT_FIX_DAYS


def rectification_deadline(at: dt.datetime, days: int | None = None) -> dt.datetime:
    """The deadline of a case put under rectification at ``at``: ``days`` later (by default
    `RECTIFICATION_DAYS`, the days 集成改一次 gives a problem).

    Examples
    --------
    >>> rectification_deadline(dt.datetime(2026, 11, 1, 8))
    datetime.datetime(2026, 11, 16, 8, 0)
    """
    return at + dt.timedelta(days=RECTIFICATION_DAYS if days is None else int(days))

#: the step a team on a job takes next (the forward path of `TEAM_TRANSITIONS`): on its way,
#: on scene, back to available (done)
TEAM_NEXT_STEP = {"dispatched": "en_route", "en_route": "on_scene", "on_scene": "available"}


def team_next_step(status: str) -> str | None:
    """The next state of a team on a job in ``status`` (None where it has no job).

    Examples
    --------
    >>> team_next_step("en_route"), team_next_step("available")
    ('on_scene', None)
    """
    return TEAM_NEXT_STEP.get(status)


class IllegalTransitionError(ValueError):
    """A state change the lifecycle does not allow.

    ``str(exc)`` says which and why in English (for logs and the API); ``code`` and
    ``params`` say the same as data, for a user interface to word in the user's language.

    Parameters
    ----------
    message : str
        The English explanation.
    code : str, default "illegal"
        What kind of refusal: ``unknown_state`` (``state``), ``not_allowed`` (``current``,
        ``target``, ``allowed``: a tuple of states), ``verify_first`` (``source``),
        ``needs_reason`` (``target``), ``team_not_allowed`` (``current``, ``target``,
        ``allowed``), ``lacks_skill`` (``team``, ``domain``, ``matter``),
        ``dispatch_by_assigning`` (``team``).
    **params
        The values the explanation names.
    """

    def __init__(self, message: str, code: str = "illegal", **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def check_transition(current: str, target: str, source: str | None = None,
                     reason: str = "") -> None:
    """Raise `IllegalTransitionError` unless a case may move from ``current`` to ``target``.

    Alerts from unconfirmed sources (big-data platform) must be verified before dispatch;
    returning, transferring, merging and closing need a reason.
    """
    if current not in TRANSITIONS:
        raise IllegalTransitionError(f"unknown case state {current!r}", "unknown_state",
                                     state=current)
    if target not in TRANSITIONS[current]:
        allowed = next_states(current)
        raise IllegalTransitionError(
            f"a {current} case cannot become {target}; allowed: "
            f"{', '.join(sorted(allowed)) or 'none (final state)'}", "not_allowed",
            current=current, target=target, allowed=allowed)
    if target == "dispatched" and current != "verified" and source in UNCONFIRMED_SOURCES:
        raise IllegalTransitionError(f"alerts from {source} must be verified (核查) before a "
                                     "team is dispatched", "verify_first", source=source)
    if target in NEEDS_REASON and not (reason or "").strip():
        raise IllegalTransitionError(f"moving a case to {target} needs a reason",
                                     "needs_reason", target=target)


def next_states(current: str) -> tuple[str, ...]:
    """The states a case in ``current`` may move to, in lifecycle order (`STATUSES`)."""
    allowed = TRANSITIONS.get(current, frozenset())
    return tuple(s for s in STATUSES if s in allowed)


def dispatch_refusal(status: str, source: str | None) -> IllegalTransitionError | None:
    """Why a team cannot be dispatched to a case in ``status`` whose alert came from
    ``source`` (None where it can: a routed, verified or transferred case, or one already
    dispatched, which may take another team).

    Examples
    --------
    >>> dispatch_refusal("routed", "12345") is None
    True
    >>> dispatch_refusal("routed", "bigdata").code
    'verify_first'
    >>> dispatch_refusal("handling", "12345").code
    'not_allowed'
    """
    if status == "dispatched":
        return None
    try:
        check_transition(status, "dispatched", source)
    except IllegalTransitionError as exc:
        return exc
    return None


def can_dispatch(status: str, source: str | None) -> bool:
    """Whether a team may be dispatched to a case in ``status`` from ``source``
    (`dispatch_refusal` is None)."""
    return dispatch_refusal(status, source) is None


#: the case actions taken by other means than a step of their own: a team is dispatched by
#: assigning it, a case merged by merging it into its duplicate
_NOT_STEPS = frozenset({"dispatched", "merged"})


def case_steps(status: str) -> tuple[str, ...]:
    """The next states an operator moves a case in ``status`` to with a step of its own
    (one button each), in lifecycle order: those of `TRANSITIONS` less dispatching (by
    assigning a team), merging (into a duplicate) and a dispatched case back to routed
    (its team recalled, by the team's status)."""
    return tuple(s for s in next_states(status) if s not in _NOT_STEPS
                 and not (status == "dispatched" and s == "routed"))


def step_action(target: str) -> str:
    """The action on cases (`geo.access.PERMISSIONS`) a step to ``target`` needs:
    ``reroute`` to send a case to a body (routed), else ``change``."""
    return "reroute" if target == "routed" else "change"


def needs_acknowledgement(cases: pd.DataFrame) -> pd.Series:
    """Whether each case is an alert an operator must acknowledge: nobody has acted on it
    yet (`AWAITING_ACTION`), and of a severity in `ACKNOWLEDGED_SEVERITIES` (whether
    someone already did is the store's record, `geo.store.acknowledging`).

    Parameters
    ----------
    cases : pandas.DataFrame
        A case table (``status``, ``severity``).

    Returns
    -------
    pandas.Series
        Booleans, on the index of ``cases``.

    Examples
    --------
    >>> frame = pd.DataFrame({"status": ["routed", "closed", "routed", "handling"],
    ...                       "severity": ["high", "high", "medium", "high"]})
    >>> needs_acknowledgement(frame).tolist()
    [True, False, False, False]
    """
    return (cases["status"].isin(AWAITING_ACTION)
            & cases["severity"].isin(ACKNOWLEDGED_SEVERITIES))


def acknowledgement_since(now: dt.datetime) -> dt.datetime:
    """The earliest time a case was stored (naive UTC, as ``now``: not the incident's time,
    which a late report puts further back) for it still to wait for an acknowledgement at
    ``now``: `ACKNOWLEDGE_WITHIN` earlier."""
    return now - ACKNOWLEDGE_WITHIN


def check_team_transition(current: str, target: str) -> None:
    """Raise `IllegalTransitionError` unless a team may move from ``current`` to ``target``."""
    if target not in TEAM_TRANSITIONS.get(current, frozenset()):
        allowed = tuple(sorted(TEAM_TRANSITIONS.get(current, ())))
        raise IllegalTransitionError(f"a team that is {current} cannot become {target}; "
                                     f"allowed: {', '.join(allowed) or 'none'}",
                                     "team_not_allowed", current=current, target=target,
                                     allowed=allowed)


def queue(cases: pd.DataFrame, now: dt.datetime) -> pd.DataFrame:
    """Open cases sorted by severity (high first), then deadline (earliest first), with an
    ``overdue`` column."""
    open_ = cases[is_open(cases["status"])].copy()
    open_["overdue"] = overdue(open_, now)
    open_["_rank"] = open_["severity"].map(SEVERITY_RANK).fillna(3)
    return open_.sort_values(["_rank", "deadline_at", "id"], na_position="last").drop(
        columns="_rank")


DUPLICATE_RADIUS_M = 250.0
DUPLICATE_WINDOW = dt.timedelta(hours=72)


def duplicate_candidates(case: pd.Series, cases: pd.DataFrame) -> pd.DataFrame:
    """Open cases of the same matter within 250 m (columns ``x``, ``y`` in metres) and 72
    hours of ``case``: offered for merging, nearest first."""
    others = cases[(cases["id"] != case["id"]) & is_open(cases["status"])
                   & (cases["matter_code"] == case["matter_code"])]
    if others.empty or not case["matter_code"]:
        return others.iloc[0:0]
    dist = np.hypot(others["x"] - case["x"], others["y"] - case["y"])
    close_in_time = (others["opened_at"] - case["opened_at"]).abs() <= DUPLICATE_WINDOW
    found = others[(dist <= DUPLICATE_RADIUS_M) & close_in_time].assign(
        distance_m=dist[(dist <= DUPLICATE_RADIUS_M) & close_in_time])
    return found.sort_values(["distance_m", "id"])


#: the status filter for every open case (not closed, not merged)
OPEN = "open"


def is_open(status: pd.Series) -> pd.Series:
    """Whether each case is still open (not closed, not merged into another)."""
    return ~status.isin(CLOSED_STATUSES)


def filter_cases(
    cases: pd.DataFrame,
    township: str | None = None,
    domain: str | None = None,
    matter: str | None = None,
    source: str | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
) -> pd.DataFrame:
    """Cases matching every filter given (``status``: a state, or `OPEN` for every open
    one; ``since``: opened at or after, naive UTC)."""
    keep = pd.Series(True, index=cases.index)
    if status == OPEN:
        keep &= is_open(cases["status"])
        status = None
    for column, value in (("township_code", township), ("domain", domain),
                          ("matter_code", matter), ("source", source), ("status", status)):
        if value:
            keep &= cases[column] == value
    if since is not None:
        keep &= cases["opened_at"] >= since
    return cases[keep]


def overdue(cases: pd.DataFrame, now: dt.datetime) -> pd.Series:
    """Open cases whose deadline (naive UTC) has passed at ``now`` (naive UTC)."""
    return is_open(cases["status"]) & cases["deadline_at"].notna() & (
        cases["deadline_at"] < now)


def key_figures(cases: pd.DataFrame, now: dt.datetime, tz: ZoneInfo) -> dict:
    """Open, new today (local calendar day of ``tz``), overdue, and open cases by source."""
    open_ = is_open(cases["status"])
    today = np.datetime64(local_day(now, tz), "D")
    return {
        "open": int(open_.sum()),
        "new_today": int((local_days(cases["opened_at"], tz) == today).sum()),
        "overdue": int(overdue(cases, now).sum()),
        "by_source": cases.loc[open_, "source"].value_counts().to_dict(),
    }


def open_by_township(cases: pd.DataFrame) -> dict[str, int]:
    """Number of open cases per township code."""
    return cases.loc[is_open(cases["status"]), "township_code"].value_counts().to_dict()
