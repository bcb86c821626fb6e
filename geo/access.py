"""Who may see and change what: roles and the scope of one user.

The rule is one mapping, `Scope.case_match`: the case fields a user's cases must have. The
store turns it into SQL filters for every read and checks it before every write; the pure
`Scope.covers` applies it to one case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: role -> (what the role is, whether it may change cases)
ROLES: dict[str, tuple[str, bool]] = {
    "command": ("command center: every case, may act on all", True),
    "dispatcher": ("dispatcher of one body: that body's cases", True),
    "township": ("township center staff: that township's cases", True),
    "planner": ("planner: every case, read-only", False),
    "admin": ("administrator: everything, and users and sources", True),
}


class AccessDeniedError(PermissionError):
    """The user's role may not do this."""


@dataclass(frozen=True)
class Scope:
    """The cases one user may see and change.

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
    """

    role: str
    township: str | None = None
    body: str | None = None
    actor: str = "system"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; roles: {', '.join(ROLES)}")
        if self.role == "township" and not self.township:
            raise ValueError("township staff need a township code")
        if self.role == "dispatcher" and not self.body:
            raise ValueError("a dispatcher needs a body code")

    @property
    def case_match(self) -> dict[str, str]:
        """Case fields and the values they must have to be in scope (empty: every case)."""
        if self.role == "township":
            return {"township_code": self.township}
        if self.role == "dispatcher":
            return {"body_code": self.body}
        return {}

    @property
    def may_change(self) -> bool:
        return ROLES[self.role][1]

    def covers(self, case: Mapping) -> bool:
        """Whether a case (a mapping with ``township_code`` and ``body_code``) is in scope."""
        return all(case.get(field) == value for field, value in self.case_match.items())

    def check_change(self, case: Mapping) -> None:
        """Raise `LookupError` for a case out of scope (as if it did not exist) and
        `AccessDeniedError` where the role may not change cases."""
        if not self.covers(case):
            raise LookupError(f"no case {case.get('id')}")
        if not self.may_change:
            raise AccessDeniedError(f"{self.actor} ({self.role}) may not change cases")


#: the system itself: command-line tools, the demo feed, the intake of alerts
SYSTEM = Scope("admin", actor="system")
