"""Who may see and do what: the permission model, one table, and the scope of one caller.

`PERMISSIONS` says which roles may take an action on a kind of object; `Scope.match` says
which objects of that kind are the caller's (township staff: their township's; a
dispatcher: their body's). The store turns both into SQL filters for every read and checks
them before every write (`geo.store.scoping`); pages and the API only pass the signed-in
caller's scope through. Outside its match an object is as if it did not exist
(`LookupError`); an action the role may not take is `AccessDeniedError`.

======================  =======  ==========  ========  =======  =====  ======
object, action          command  dispatcher  township  planner  admin  source
======================  =======  ==========  ========  =======  =====  ======
cases: read             all      own body    own twp   all      all    own
cases: change           all      own body    own twp   -        all    -
cases: reroute          all      -           -         -        all    -
cases: open             all      all         own twp   -        all    -
alerts: post            -        -           -         -        -      yes
teams: read             all      own body    own twp   all      all    -
teams: change           all      own body    own twp   -        all    -
sites: read             all      all         own twp   all      all    -
sites: change           -        -           -         -        all    -
inspections: read       all      all         own twp   all      all    -
inspections: change     all      all         own twp   -        all    -
readouts: read          all      own body    own twp   all      all    -
layers: read            all      all         all       all      all    -
layers: change          -        -           -         -        all    -
catalogues: read        all      all         all       all      all    -
catalogues: change      -        -           -         -        all    -
accounts: read, change  -        -           -         -        all    -
figures: read           all      -           own twp   all      all    -
approvals: post         -        -           -         -        yes    yes
supervision: read       all      all         own twp   all      all    -
supervision: change     all      all         own twp   -        all    -
referrals: read         all      own body    own twp   all      all    -
referrals: escalate     all      -           -         -        all    -
======================  =======  ==========  ========  =======  =====  ======

"own twp": objects of the caller's township (a team by its body's township, an inspection
by its site's); "own body": of the caller's body; "own" (a source): the cases of its own
alerts. Opening a case (a call taken on the 接警 page) is checked on where the report
routes: township staff open cases only in their own township; a dispatcher takes a call
wherever it routes (the case goes to the body the routing rule names). Teams' changes are
their status and positions; readouts are coverage and the empowerment evaluation, computed
from what the caller may read; so are the figures, the reform's figures (改革成效) and the
evaluation's decision paper, which a dispatcher does not read. Layers (township and unit
boundaries, roads) and catalogues are read by everyone signed in; their sites and teams
follow their own rows. Evidence (photos, documents) follows the case or the finding's
inspection it is attached to: read to list and download it, change to attach it; an
administrator sweeps the evidence folder of files no attachment has. The command line and the intake
act as `SYSTEM`, explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: role -> what the role is
ROLES: dict[str, str] = {
    "command": "command center: every case, may act on all",
    "dispatcher": "dispatcher of one body: that body's cases and teams",
    "township": "township center staff: that township's cases, teams, sites, inspections",
    "planner": "planner: reads everything, changes nothing",
    "admin": "administrator: everything, and layers, catalogues, users and sources",
    "source": "an alert source: posts alerts, reads the cases of its own alerts",
}

#: the roles a user account may have (a source's role comes with its token)
USER_ROLES = tuple(r for r in ROLES if r != "source")
STAFF = frozenset({"command", "dispatcher", "township", "planner", "admin"})
ACTING = frozenset({"command", "dispatcher", "township", "admin"})
ADMIN = frozenset({"admin"})

#: (object, action) -> the roles that may take it
PERMISSIONS: dict[tuple[str, str], frozenset[str]] = {
    ("cases", "read"): STAFF | {"source"},
    ("cases", "change"): ACTING,
    ("cases", "reroute"): frozenset({"command", "admin"}),
    ("cases", "open"): ACTING,
    ("alerts", "post"): frozenset({"source"}),
    ("teams", "read"): STAFF,
    ("teams", "change"): ACTING,
    ("sites", "read"): STAFF,
    ("sites", "change"): ADMIN,
    ("inspections", "read"): STAFF,
    ("inspections", "change"): ACTING,
    ("readouts", "read"): STAFF,
    ("layers", "read"): STAFF,
    ("layers", "change"): ADMIN,
    ("catalogues", "read"): STAFF,
    ("catalogues", "change"): ADMIN,
    ("accounts", "read"): ADMIN,
    ("accounts", "change"): ADMIN,
    ("evidence", "sweep"): ADMIN,
    # issue 14: reform figures (the reform's figures and the empowerment evaluation)
    ("figures", "read"): frozenset({"command", "township", "planner", "admin"}),
    # issue 14: 两单融合 and the 审批—监管—执法 hand-off, referrals (移送)
    ("approvals", "post"): frozenset({"source", "admin"}),
    ("supervision", "read"): STAFF,
    ("supervision", "change"): ACTING,
    ("referrals", "read"): STAFF,
    ("referrals", "escalate"): frozenset({"command", "admin"}),
    # issue 14: check-ups by appointment (预约体检) and joint visits (综合查一次): a site's
    # request is booked by staff or by a source (a business portal), read by staff and by
    # the source that booked it; visits are scheduled and done by acting staff
    ("checkups", "read"): STAFF | {"source"},
    ("checkups", "open"): ACTING | {"source"},
    ("checkups", "change"): ACTING,
    ("visits", "read"): STAFF,
    ("visits", "change"): ACTING,
    # issue 14: joint operation (participants, observers, participating teams, seized
    # items of a case: read with the case; changed by the lead, or by a participating body
    # for its own teams and seizures, `geo.store.jointops`)
    ("jointops", "read"): STAFF,
    ("jointops", "change"): ACTING,
}

OBJECTS = tuple(dict.fromkeys(obj for obj, _ in PERMISSIONS))

#: object -> the field of that object that a role's scope is matched against, per role:
#: township staff by township code, a dispatcher by body code, a source by its code
_MATCH: dict[str, dict[str, str]] = {
    "township": {"cases": "township_code", "teams": "township_code",
                 "sites": "township_code", "inspections": "township_code",
                 "readouts": "township_code", "figures": "township_code",
                 "supervision": "township_code"},  # issue 14: hand-off
    "dispatcher": {"cases": "body_code", "teams": "body_code", "readouts": "body_code"},
    "source": {"cases": "source"},
}
# issue 14: check-ups by appointment: township staff have their township's requests and
# visits; a source the requests it booked
_MATCH["township"].update({"checkups": "township_code", "visits": "township_code"})
_MATCH["source"].update({"checkups": "source"})


#: (object, action) -> the roles that take the action on any object of that kind, though
#: they read only their own: a dispatcher opens a case wherever the call routes it
_ANYWHERE: dict[tuple[str, str], frozenset[str]] = {("cases", "open"): frozenset({"dispatcher"})}

#: field of `Scope.match` -> how the documentation names the part of the objects it keeps
_OWN = {"township_code": "own township", "body_code": "own body", "source": "own"}


def who_may(obj: str, action: str) -> str:
    """The roles that may take ``action`` on objects of kind ``obj``, each with the part of
    them that is its own, e.g. ``"command, dispatcher (own body), township (own township),
    admin"``: `PERMISSIONS` and the scope rules in words, for documentation (so that it
    cannot drift from what is enforced).

    Raises
    ------
    ValueError
        Where no permission rule exists for ``action`` on ``obj``.
    """
    if (obj, action) not in PERMISSIONS:
        raise ValueError(f"no permission rule for {action} on {obj}")
    parts = []
    for role in ROLES:
        if role in PERMISSIONS[obj, action]:
            field = (None if role in _ANYWHERE.get((obj, action), ())
                     else _MATCH.get(role, {}).get(obj))
            parts.append(f"{role} ({_OWN[field]})" if field else role)
    return ", ".join(parts) or "no role"


class AccessDeniedError(PermissionError):
    """The caller's role may not do this."""


class OutsideScopeError(AccessDeniedError):
    """A new object would fall outside the caller's own (e.g. township staff opening a case
    that routes to another township).

    ``code`` is ``outside_scope``; ``params`` name the object kind (``obj``), the field
    (``field``), the caller's own value (``own``) and the new object's (``got``, None where
    it has none), for a user interface to word in the user's language.
    """

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message)
        self.code = "outside_scope"
        self.params = params


@dataclass(frozen=True)
class Scope:
    """What one caller may see and do.

    Parameters
    ----------
    role : str
        One of `ROLES`.
    township : str, optional
        The township code of township staff (required for that role).
    body : str, optional
        The body code of a dispatcher (required for that role).
    actor : str
        The name written to the audit log.
    source : str, optional
        The source code of a source's token (required for that role).
    """

    role: str
    township: str | None = None
    body: str | None = None
    actor: str = "system"
    source: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; roles: {', '.join(ROLES)}")
        if self.role == "township" and not self.township:
            raise ValueError("township staff need a township code")
        if self.role == "dispatcher" and not self.body:
            raise ValueError("a dispatcher needs a body code")
        if self.role == "source" and not self.source:
            raise ValueError("a source's scope needs its source code")

    def allows(self, obj: str, action: str) -> bool:
        """Whether the role may take ``action`` on objects of kind ``obj`` at all."""
        if (obj, action) not in PERMISSIONS:
            raise ValueError(f"no permission rule for {action} on {obj}")
        return self.role in PERMISSIONS[obj, action]

    def require(self, obj: str, action: str) -> None:
        """Raise `AccessDeniedError` unless the role may take ``action`` on ``obj``."""
        if not self.allows(obj, action):
            raise AccessDeniedError(f"{self.actor} ({self.role}) may not {action} {obj}")

    def match(self, obj: str) -> dict[str, str]:
        """Fields of an ``obj`` and the values they must have to be the caller's (empty:
        every one)."""
        value = {"township": self.township, "dispatcher": self.body,
                 "source": self.source}.get(self.role)
        field = _MATCH.get(self.role, {}).get(obj)
        return {field: value} if field else {}

    @property
    def case_match(self) -> dict[str, str]:
        """Case fields and the values they must have to be in scope (empty: every case)."""
        return self.match("cases")

    @property
    def may_change(self) -> bool:
        """Whether the role may change cases at all."""
        return self.allows("cases", "change")

    def covers(self, row: Mapping, obj: str = "cases") -> bool:
        """Whether an object (a mapping holding the fields of `match`) is the caller's."""
        return all(row.get(field) == value for field, value in self.match(obj).items())

    def rows(self, frame, obj: str):
        """The rows of a table (a pandas DataFrame of ``obj`` rows, e.g. a readout) that
        are the caller's; none where the table lacks a field of `match` (fails closed)."""
        self.require(obj, "read")
        keep = None
        for field, value in self.match(obj).items():
            if field not in frame.columns:
                return frame.iloc[0:0]
            keep = (frame[field] == value) if keep is None else keep & (frame[field] == value)
        return frame if keep is None else frame[keep.to_numpy()]

    def check(self, obj: str, action: str, row: Mapping, name: str) -> None:
        """Raise `LookupError` for an object out of scope (as if it did not exist, with
        ``name`` in the message), else `AccessDeniedError` where the role may not take
        ``action`` on it."""
        if not self.allows(obj, "read") or not self.covers(row, obj):
            raise LookupError(f"no {name}")
        self.require(obj, action)

    def check_new(self, obj: str, row: Mapping) -> None:
        """Raise `AccessDeniedError` unless the role may open objects of kind ``obj``, and
        `OutsideScopeError` where the new one (a mapping with the fields of `match`, as it
        would be stored) falls outside the caller's own; roles of `_ANYWHERE` open them
        anywhere."""
        self.require(obj, "open")
        if self.role in _ANYWHERE.get((obj, "open"), ()):
            return
        for field, own in self.match(obj).items():
            if row.get(field) != own:
                raise OutsideScopeError(
                    f"{self.actor} ({self.role}) may open {obj} only where {field} is {own}, "
                    f"not {row.get(field)}", obj=obj, field=field, own=own, got=row.get(field))

    def check_change(self, case: Mapping) -> None:
        """`check` of a change to a case (a mapping with ``id``, ``township_code``,
        ``body_code``)."""
        self.check("cases", "change", case, f"case {case.get('id')}")


#: the system itself: command-line tools, the demo feed, the intake of alerts
SYSTEM = Scope("admin", actor="system")
