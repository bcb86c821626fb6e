"""What the rules and the audit log say, in the user's language: refusals (from their code
and parameters), conflicts, and a case's audit entries as sentences with names.

Everything returned here is Markdown that shows outside text (names, reasons, actors)
literally (`geo.app.safe.md`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pandas as pd

from geo.access import SYSTEM, AccessDeniedError, OutsideScopeError
from geo.app.labels import LABELS, source_name, t
from geo.app.safe import md
from geo.calls import CallError
from geo.cases import IllegalTransitionError
from geo.evidence import FORMATS, EvidenceError
from geo.jointops import JointOpError, quantity_text, yuan_text


def local_time(value: object, tz, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time (naive UTC; a datetime, Timestamp or ISO text) as local time in ``tz``
    (``fmt``); ``-`` for none."""
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return "-"
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return stamp.tz_convert(tz).strftime(fmt)

@dataclass(frozen=True)
class Names:
    """Display names by code: bodies, townships and teams (a code without one shows as
    itself)."""

    bodies: dict[str, str] = field(default_factory=dict)
    townships: dict[str, str] = field(default_factory=dict)
    teams: dict[str, str] = field(default_factory=dict)

    def body(self, code: object) -> str:
        """The body's name, as Markdown."""
        return md(self.bodies.get(str(code), code))

    def township(self, code: object) -> str:
        """The township's name, as Markdown."""
        return md(self.townships.get(str(code), code))

    units: dict[str, str] = field(default_factory=dict)
    sites: dict[str, str] = field(default_factory=dict)
    #: username -> display name (`geo.store.accounts.user_names`)
    users: dict[str, str] = field(default_factory=dict)

    def user(self, username: object, lang: str = "zh") -> str:
        """Who did something, as Markdown: the user's display name, 系统 (``actor_system``)
        for the system (`geo.access.SYSTEM`), else the login name as it is."""
        if username == SYSTEM.actor:
            return t("actor_system", lang)
        return md(self.users.get(str(username), username))

    def team(self, team_id: object) -> str:
        """The team's name and id, e.g. ``织里镇执法中队1（TC-1）``, as Markdown."""
        name = self.teams.get(str(team_id))
        return f"{md(name)}（{md(team_id)}）" if name else md(team_id)

    def unit(self, code: object) -> str:
        """The unit's name, as Markdown (``-`` for none)."""
        return md(self.units.get(str(code), code))

    def site(self, site_id: object) -> str:
        """The site's name and id, e.g. ``湖州某五金有限公司（S004050）``, as Markdown."""
        name = self.sites.get(str(site_id))
        return f"{md(name)}（{md(site_id)}）" if name else md(site_id)


def state(status: str | None, lang: str) -> str:
    """A case state's name (``-`` for none)."""
    return t("status_" + status, lang) if status else "-"


def _states(states, lang: str, prefix: str = "status_") -> str:
    return "、".join(t(prefix + s, lang) for s in states) if lang == "zh" else ", ".join(
        t(prefix + s, lang) for s in states)


def error_text(exc: Exception, lang: str, names: Names | None = None) -> str:
    """A refused action, in ``lang``: the rules' refusals from their code and parameters,
    a role's refusal, something out of scope or gone, a conflict; anything else as the
    generic refusal followed by its (escaped) message.

    Parameters
    ----------
    exc : Exception
        What the rules or the store raised.
    lang : str
        The user's language.
    names : Names, optional
        Names for the teams an error names.

    Returns
    -------
    str
        Markdown.
    """
    from geo.store.dispatching import ConflictError

    names = names or Names()
    if isinstance(exc, IllegalTransitionError):
        p, code = exc.params, exc.code
        if code == "not_allowed":
            allowed = _states(p.get("allowed", ()), lang) or t("err_final", lang)
            return t("err_not_allowed", lang).format(current=state(p["current"], lang),
                                                     target=state(p["target"], lang),
                                                     allowed=allowed)
        if code == "verify_first":
            return t("err_verify_first", lang).format(source=source_name(p["source"], lang))
        if code == "needs_reason":
            return t("err_needs_reason", lang).format(target=state(p["target"], lang))
        if code == "unknown_state":
            return t("err_unknown_state", lang).format(state=md(p["state"]))
        if code == "team_not_allowed":
            return t("err_team_not_allowed", lang).format(
                current=t(f"team_{p['current']}", lang), target=t(f"team_{p['target']}", lang))
        if code == "lacks_skill":
            return t("err_lacks_skill", lang).format(team=names.team(p["team"]),
                                                     domain=md(p["domain"]))
        if code == "dispatch_by_assigning":
            return t("err_dispatch_by_assigning", lang)
    if isinstance(exc, CallError):
        return call_error_text(exc, lang)
    if isinstance(exc, JointOpError):  # issue 14: joint operation
        return jointop_error_text(exc, lang, names)
    if isinstance(exc, OutsideScopeError):
        got = exc.params.get("got")
        return t("err_outside_scope", lang).format(
            got=names.township(got) if got else t("flag_outside", lang),
            own=names.township(exc.params.get("own")))
    if isinstance(exc, EvidenceError):
        return _evidence_error(exc, lang)
    if isinstance(exc, AccessDeniedError):
        return t("err_denied", lang)
    if isinstance(exc, LookupError):
        return t("err_missing", lang)
    if isinstance(exc, ConflictError):
        return t("err_conflict", lang)
    return f"{t('not_allowed', lang)} {md(exc)}"


def call_error_text(exc: CallError, lang: str) -> str:
    """A refused phone report or search (`geo.calls.CallError`) in ``lang``, as Markdown."""
    from geo.crs import COORDINATE_PROBLEMS

    p = {k: md(v) for k, v in exc.params.items()}
    if "field" in exc.params:
        key = f"field_{exc.params['field']}"
        p["field"] = t(key, lang) if key in LABELS else md(exc.params["field"])
    if exc.code == "coordinates":
        en, zh = COORDINATE_PROBLEMS.get(exc.params["problem"], (exc.params["problem"],) * 2)
        p["problem"] = zh if lang == "zh" else en
    return t(f"err_{exc.code}", lang).format(**p)
def file_size(size: int) -> str:
    """A size in bytes for people: ``KB`` below a megabyte, else ``MB`` with one decimal
    (2**10 and 2**20 bytes), e.g. ``56 KB``, ``20.0 MB``."""
    if size < 1024 * 1024:
        return f"{max(size / 1024, 1):.0f} KB" if size else "0 KB"
    return f"{size / 1024 / 1024:.1f} MB"


def duration(minutes: float | None, lang: str) -> str:
    """A duration in minutes for people, e.g. ``35 分钟``, ``3 小时 20 分``, ``2 天 4 小时``
    (``35 min``, ``3 h 20 min``, ``2 d 4 h``); ``-`` where unknown. A table shows this
    rather than a number column, whose unknown cells Streamlit would print as ``None``."""
    if minutes is None or minutes != minutes:
        return "-"
    m = max(0, round(float(minutes)))
    zh = lang == "zh"
    if m < 60:
        return f"{m} 分钟" if zh else f"{m} min"
    if m < 24 * 60:
        h, m = divmod(m, 60)
        return (f"{h} 小时 {m} 分" if zh else f"{h} h {m} min") if m else (
            f"{h} 小时" if zh else f"{h} h")
    d, h = divmod(m // 60, 24)
    return (f"{d} 天 {h} 小时" if zh else f"{d} d {h} h") if h else (f"{d} 天" if zh
                                                                     else f"{d} d")


def _evidence_error(exc: EvidenceError, lang: str) -> str:
    """Why a file was refused as evidence, in ``lang``."""
    p = exc.params
    if exc.code == "too_big":
        return t("err_ev_too_big", lang).format(size=file_size(p["size"]),
                                                limit=file_size(p["limit"]))
    if exc.code == "bad_type":
        kinds = [FORMATS.get(c, c) for c in p.get("allowed", FORMATS)]
        return t("err_ev_bad_type", lang).format(allowed=md("、".join(kinds) if lang == "zh"
                                                               else ", ".join(kinds)))
    if exc.code == "too_many_pixels":
        limit = p["limit"] / (1e4 if lang == "zh" else 1e6)
        return t("err_ev_too_many_pixels", lang).format(limit=f"{limit:g}")
    return t(f"err_ev_{exc.code}", lang)


#: audit details written before they were JSON objects (`transition_case`, `_back_to_queue`)
_LEGACY = (
    (re.compile(r"^re-routed to (\S+)$"), "body"),
    (re.compile(r"^duplicate of case (\d+)$"), "into"),
    (re.compile(r"^team (\S+) recalled$"), "team"),
)


def _detail(raw: str | None) -> dict:
    """An audit entry's detail as a mapping: a JSON object as it is, older plain text as
    its reason (or what it says, for the texts the store used to write)."""
    raw = (raw or "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return value
    for pattern, key in _LEGACY:
        found = pattern.match(raw)
        if found:
            return {key: found[1]}
    return {"reason": raw}


#: audit actions of the hand-off (`geo.store.handoff`), each worded by its ``tl_`` label
HANDOFF_ACTIONS = frozenset({"refer", "referral_acknowledged", "referral_escalated",
                             "copy_notice"})


def describe(entry, lang: str, names: Names, actor: bool = True) -> str:
    """One audit entry of a case as a sentence, e.g. ``dispatcher-sc：已分拨 → 已退回，退回
    指挥中心，理由：不属本中心事项``.

    Parameters
    ----------
    entry
        An audit entry (``actor, action, from_state, to_state, detail``).
    lang : str
        The user's language.
    names : Names
        Names of the bodies, townships and teams the entry refers to.
    actor : bool, default True
        Begin with who did it.

    Returns
    -------
    str
        Markdown.
    """
    detail = _detail(entry.detail)
    move = (f"{state(entry.from_state, lang)} → {state(entry.to_state, lang)}"
            if entry.from_state else state(entry.to_state, lang))
    parts = [move] if entry.to_state else []
    if entry.action == "route":
        parts.append(t("tl_route", lang))
    elif entry.action == "assign" and "team" in detail:
        parts.append(t("tl_assign", lang).format(team=names.team(detail["team"])))
        if detail.get("joint"):  # issue 14: a participating body's team (joint operation)
            parts.append(t("tl_joint_team", lang).format(body=names.body(detail["joint"])))
    elif entry.action in ("join", "observer", "seize"):  # issue 14: joint operation
        parts.append(joint_entry(entry.action, detail, lang, names))
    elif entry.action == "recall" and "team" in detail:
        parts.append(t("tl_recall", lang).format(team=names.team(detail["team"])))
    elif entry.action == "evidence" and "file" in detail:
        parts.append(t("tl_evidence", lang).format(file=md(detail["file"])))
    elif entry.action == "acknowledged":
        parts.append(t("tl_acknowledged", lang))
    elif entry.action in HANDOFF_ACTIONS:  # issue 14: referrals (移送) and notices (抄告)
        parts.append(t(f"tl_{entry.action}", lang).format(
            body=names.body(detail.get("body")), department=md(detail.get("department", ""))))
        if detail.get("reason"):
            parts.append(t("tl_reason", lang).format(reason=md(detail["reason"])))
    else:
        if "township" in detail:
            parts.append(t("tl_transfer", lang).format(township=names.township(
                detail["township"])))
        elif "body" in detail:
            key = "tl_return" if entry.to_state == "returned" else "tl_reroute"
            parts.append(t(key, lang).format(body=names.body(detail["body"])))
        if "into" in detail:
            parts.append(t("tl_merge", lang).format(into=md(detail["into"])))
        if "days" in detail:
            parts.append(t("tl_days", lang).format(days=md(detail["days"])))
        if detail.get("reason") and "into" not in detail:
            parts.append(t("tl_reason", lang).format(reason=md(detail["reason"])))
    sentence = t("tl_sep", lang).join(parts)
    if not actor:
        return sentence
    return f"{names.user(entry.actor, lang)}{t('tl_colon', lang)}{sentence}"


# issue 14: joint operation
def joint_entry(action: str, detail: dict, lang: str, names: Names) -> str:
    """A joint operation's audit entry (``join``, ``observer``, ``seize``) in words, as
    Markdown."""
    if action == "join":
        return t("tl_join", lang).format(body=names.body(detail.get("joined")))
    if action == "observer":
        return t("tl_observer", lang).format(name=md(detail.get("observer")))
    try:
        value = yuan_text(round(float(detail.get("value_yuan")) * 100), lang)
        quantity = quantity_text(detail.get("quantity"))
    except (TypeError, ValueError, ArithmeticError):
        value, quantity = md(detail.get("value_yuan")), md(detail.get("quantity"))
    return t("tl_seize", lang).format(item=md(detail.get("item")), quantity=quantity,
                                      unit=md(detail.get("unit")), value=value,
                                      body=names.body(detail.get("by")))


def jointop_error_text(exc: JointOpError, lang: str, names: Names | None = None) -> str:
    """A refusal of `geo.jointops` in ``lang``, naming the row and field, as Markdown."""
    names = names or Names()
    p = exc.params
    key = f"err_jo_{exc.code}"
    said = t(key, lang) if key in LABELS else md(exc)
    said = said.format(status=state(p.get("status"), lang), body=names.body(p.get("body")),
                       limit=md(p.get("limit")), name=md(p.get("name")),
                       places=md(p.get("places")), units="、".join(p.get("allowed", ())))
    field = t(f"jo_{exc.field}", lang) if exc.field and f"jo_{exc.field}" in LABELS else (
        md(exc.field) if exc.field else "")
    where = (t("jo_row", lang).format(row=exc.row) if exc.row is not None else "") + (
        f"{field}{t('tl_colon', lang)}" if field else "")
    return where + said
