"""Joint operations (联合行动) on a case, and the items seized (查扣物品) on it: the rules.

A case may be handled by a joint operation: its responsible body leads (牵头单位) and other
enforcement bodies take part (参与单位), each sending its own teams; organisations that are
not enforcement bodies (the power company, public security …) are recorded by name as
observers (配合单位), with no teams and no access. The items seized on the case are
recorded line by line: what, how many, in which unit, and their estimated value in yuan.

Pure: plain values in, plain values or `JointOpError` out; no database, no Streamlit. The
store (`geo.store.jointops`) applies these rules with the caller's scope.

Rules
-----
- The lead is the case's responsible body; only it (or a role acting on every case) moves
  the case through its lifecycle, closing included (the store's ordinary case scope).
- A body joins a case that is open and may take a team (`geo.cases.dispatch_refusal`: a
  big-data alert is verified on site first) or is being handled: an enforcement body of
  the catalogue (a district team or a township center, not the command center), not the
  lead, not already on it; at most `MAX_PARTICIPANTS`.
- A participating body's team joins once the lead has dispatched (the case is dispatched or
  being handled); it acts under its own body's powers, so no skill for the case's matter is
  asked of it.
- Items are seized while a team is on the case or it is being handled or rectified
  (`SEIZABLE`), by the lead or a participant.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from geo.cases import CLOSED_STATUSES, dispatch_refusal

#: bodies on one operation besides the lead, at most
MAX_PARTICIPANTS = 8
#: named observers (not enforcement bodies) on one operation, at most
MAX_OBSERVERS = 8
#: the kinds of body (`bodies.csv`) that may take part in a joint operation
JOINING_KINDS = frozenset({"district_team", "township_center"})
#: case states in which a participating body's team may be sent (the lead dispatched first)
TEAM_JOINS = frozenset({"dispatched", "handling"})
#: case states in which items may be recorded as seized
SEIZABLE = frozenset({"dispatched", "handling", "rectification", "reinspection"})
#: the units a seized quantity is counted in (台 machines, 个 pieces, 件 items, 套 sets,
#: 箱 boxes, 块 blocks, 只 single items, 辆 vehicles, 张 sheets, 千克 kg, 吨 tonnes, 升 litres,
#: 米 metres, 批 lots)
UNITS = ("台", "个", "件", "套", "箱", "块", "只", "辆", "张", "千克", "吨", "升", "米", "批")
#: characters of an item's name, of a note and of an observer's name at most
MAX_ITEM_CHARS = 100
MAX_NOTE_CHARS = 200
MAX_OBSERVER_CHARS = 60
#: quantity of one line at most (in its unit)
MAX_QUANTITY = Decimal(1_000_000)
#: estimated value of one line at most, in yuan (10 billion)
MAX_VALUE_YUAN = Decimal(10_000_000_000)
#: decimal places of a quantity and of a value in yuan (fen) at most
QUANTITY_PLACES = 3
VALUE_PLACES = 2
#: the fields of a seized item as sent (API body, form), in order
ITEM_FIELDS = ("item", "quantity", "unit", "value_yuan", "note")


class JointOpError(ValueError):
    """A joint operation or seized item the rules refuse.

    ``str(exc)`` says which and why in English (for logs and the API, naming the row and
    field); ``code``, ``field``, ``row`` and ``params`` say the same as data, for a user
    interface to word in the user's language.

    Parameters
    ----------
    message : str
        The English explanation.
    code : str
        ``missing``, ``not_text``, ``bad_text``, ``too_long``, ``not_number``,
        ``not_finite``, ``not_positive``, ``negative``, ``too_large``, ``too_precise``,
        ``bad_unit`` (a field's value), ``case_closed``, ``verify_first``, ``not_joinable``,
        ``lead_first``, ``not_seizable`` (the case's state: ``status``), ``not_a_body``,
        ``not_joining_kind``, ``is_lead``, ``already_on``, ``too_many``, ``not_on``
        (``body``, ``kind``, ``limit``, ``name``).
    field : str, optional
        The field refused (an item's or the observer's ``name``).
    row : int, optional
        The item's row (1-based) where several were sent.
    **params
        The values the explanation names.
    """

    def __init__(self, message: str, code: str, field: str | None = None,
                 row: int | None = None, **params: object) -> None:
        where = (f"row {row}, " if row is not None else "") + (
            f"field {field}: " if field else "")
        super().__init__(where + message)
        self.code, self.field, self.row, self.params = code, field, row, params


@dataclass(frozen=True)
class SeizedItem:
    """One line of seized items, checked: ``quantity`` in ``unit``; ``value_fen`` the
    estimated value of the whole line in fen (1/100 yuan, an exact integer)."""

    item: str
    quantity: Decimal
    unit: str
    value_fen: int
    note: str = ""

    @property
    def value_yuan(self) -> Decimal:
        """The estimated value in yuan (two decimals)."""
        return Decimal(self.value_fen).scaleb(-2)


def clean_text(value: object, field: str, limit: int, *, required: bool = True,
               row: int | None = None) -> str:
    """``value`` as one line of plain text: stripped, inner whitespace runs made one space;
    `JointOpError` where it is not text, holds control or unpaired surrogate characters
    (broken text), is empty though ``required``, or is longer than ``limit`` characters.

    Examples
    --------
    >>> clean_text("  蚂蚁矿机\\tS19 ", "item", 100)
    '蚂蚁矿机 S19'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = ""
    if not isinstance(value, str):
        raise JointOpError("must be text", "not_text", field, row)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise JointOpError("is not valid text (broken characters)", "bad_text", field,
                           row) from None
    value = " ".join(value.split())
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs", "Cn") for c in value):
        raise JointOpError("holds control or unassigned characters", "bad_text", field, row)
    if required and not value:
        raise JointOpError("is required", "missing", field, row)
    if len(value) > limit:
        raise JointOpError(f"is longer than {limit} characters", "too_long", field, row,
                           limit=limit)
    return value


def _number(value: object, field: str, places: int, limit: Decimal, *, positive: bool,
            row: int | None) -> Decimal:
    """``value`` as an exact decimal with at most ``places`` decimals, finite, above zero
    (``positive``) or at least zero, at most ``limit``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise JointOpError("is required", "missing", field, row)
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise JointOpError("must be a number", "not_number", field, row)
    try:
        number = Decimal(value.strip().replace(",", "") if isinstance(value, str)
                         else str(value) if isinstance(value, float) else value)
    except (InvalidOperation, ValueError):
        raise JointOpError("must be a number", "not_number", field, row) from None
    if not number.is_finite():
        raise JointOpError("must be a finite number (not NaN or infinity)", "not_finite",
                           field, row)
    if positive and number <= 0:
        raise JointOpError("must be above zero", "not_positive", field, row)
    if number < 0:
        raise JointOpError("must not be negative", "negative", field, row)
    if number > limit:
        raise JointOpError(f"must be at most {limit:,}", "too_large", field, row,
                           limit=str(limit))
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise JointOpError(f"has more than {places} decimals", "too_precise", field, row,
                           places=places)
    return plain(number)


def plain(number: Decimal) -> Decimal:
    """``number`` without trailing zeros nor an exponent, e.g. ``Decimal('100')`` for
    ``Decimal('100.000')``."""
    number = number.normalize()
    return number.quantize(Decimal(1)) if number.as_tuple().exponent > 0 else number


def check_item(raw: Mapping, row: int | None = None) -> SeizedItem:
    """A seized item as sent (``item, quantity, unit, value_yuan``, optional ``note``),
    checked; `JointOpError` naming the row (where given) and field otherwise.

    Quantities are above zero, at most `MAX_QUANTITY`, with at most `QUANTITY_PLACES`
    decimals; values in yuan at least zero (an item of no market value), at most
    `MAX_VALUE_YUAN`, to the fen. Numbers may come as text (``"3,500,000.00"``); booleans,
    NaN and infinities are refused.

    Examples
    --------
    >>> check_item({"item": "蚂蚁矿机 S19", "quantity": 100, "unit": "台",
    ...             "value_yuan": "2800000"}).value_fen
    280000000
    """
    if not isinstance(raw, Mapping):
        raise JointOpError("an item must be an object of item, quantity, unit, value_yuan",
                           "not_text", None, row)
    item = clean_text(raw.get("item"), "item", MAX_ITEM_CHARS, row=row)
    quantity = _number(raw.get("quantity"), "quantity", QUANTITY_PLACES, MAX_QUANTITY,
                       positive=True, row=row)
    unit = clean_text(raw.get("unit"), "unit", 10, row=row)
    if unit not in UNITS:
        raise JointOpError(f"must be one of {'、'.join(UNITS)}", "bad_unit", "unit", row,
                           allowed=UNITS)
    value = _number(raw.get("value_yuan"), "value_yuan", VALUE_PLACES, MAX_VALUE_YUAN,
                    positive=False, row=row)
    note = clean_text(raw.get("note"), "note", MAX_NOTE_CHARS, required=False, row=row)
    return SeizedItem(item, quantity, unit, int(value.scaleb(2)), note)


def check_items(rows: Iterable[Mapping]) -> list[SeizedItem]:
    """`check_item` of each row (numbered from 1), all or none."""
    return [check_item(r, n) for n, r in enumerate(rows, start=1)]


@dataclass(frozen=True)
class Totals:
    """What was seized on a case in sum: lines, the quantity per unit, and the estimated
    value in fen (exact) and yuan."""

    lines: int
    by_unit: dict[str, Decimal]
    value_fen: int

    @property
    def value_yuan(self) -> Decimal:
        return Decimal(self.value_fen).scaleb(-2)


def totals(items: Iterable[SeizedItem | Mapping]) -> Totals:
    """The totals of seized items (`SeizedItem`, or mappings with ``quantity``, ``unit``,
    ``value_fen``), units in the order of `UNITS`.

    Examples
    --------
    >>> t = totals([SeizedItem("S19", Decimal(100), "台", 280000000),
    ...             SeizedItem("S9", Decimal(32), "台", 70000000)])
    >>> t.lines, t.by_unit, t.value_yuan
    (2, {'台': Decimal('132')}, Decimal('3500000.00'))
    """
    lines, fen, by_unit = 0, 0, {}
    for it in items:
        get = it.get if isinstance(it, Mapping) else lambda k, it=it: getattr(it, k)
        lines += 1
        fen += int(get("value_fen"))
        unit = str(get("unit"))
        by_unit[unit] = by_unit.get(unit, Decimal(0)) + Decimal(str(get("quantity")))
    order = {u: k for k, u in enumerate(UNITS)}
    ranked = sorted(by_unit, key=lambda u: (order.get(u, len(order)), u))
    return Totals(lines, {u: plain(by_unit[u]) for u in ranked}, fen)


def yuan_text(fen: int, lang: str = "zh") -> str:
    """An amount in fen for people: ``350万元（3,500,000.00 元）`` from ten thousand yuan on
    in Chinese, else ``3,500,000.00 元``; ``CNY 3,500,000.00`` in English.

    Examples
    --------
    >>> yuan_text(350000000), yuan_text(12345, "en")
    ('350万元（3,500,000.00 元）', 'CNY 123.45')
    """
    yuan = Decimal(int(fen)).scaleb(-2)
    if lang != "zh":
        return f"CNY {yuan:,.2f}"
    if yuan >= 10_000:
        wan = (yuan / 10_000).quantize(Decimal("0.01")).normalize()
        return f"{wan:f}万元（{yuan:,.2f} 元）"
    return f"{yuan:,.2f} 元"


def quantity_text(quantity: Decimal | float | str) -> str:
    """A quantity without trailing zeros, e.g. ``132``, ``2.5``."""
    return f"{plain(Decimal(str(quantity))):f}"


def check_joinable(status: str, source: str | None) -> None:
    """Raise `JointOpError` unless a case in ``status`` whose alert came from ``source``
    may take part in a joint operation: open, and able to take a team (a big-data alert
    verified first) or being handled."""
    if status in CLOSED_STATUSES:
        raise JointOpError(f"the case is {status}", "case_closed", status=status)
    if status == "handling":
        return
    refusal = dispatch_refusal(status, source)
    if refusal is not None:
        if refusal.code == "verify_first":
            raise JointOpError(f"alerts from {source} must be verified (核查) before a joint "
                               "operation", "verify_first", status=status, source=source)
        raise JointOpError(f"a {status} case cannot take a joint operation", "not_joinable",
                           status=status)


def check_participant(body: str, kind: str | None, lead: str | None,
                      on: Iterable[str]) -> None:
    """Raise `JointOpError` unless ``body`` (of catalogue kind ``kind``; None: no such
    body) may join the operation led by ``lead`` whose participants are ``on``."""
    on = set(on)
    if kind is None:
        raise JointOpError(f"no body {body!r} in the catalogue", "not_a_body", "body_code",
                           body=body)
    if kind not in JOINING_KINDS:
        raise JointOpError(f"a {kind} cannot take part in a joint operation",
                           "not_joining_kind", "body_code", body=body, kind=kind)
    if body == lead:
        raise JointOpError(f"{body} leads this operation", "is_lead", "body_code", body=body)
    if body in on:
        raise JointOpError(f"{body} takes part already", "already_on", "body_code",
                           body=body)
    if len(on) >= MAX_PARTICIPANTS:
        raise JointOpError(f"an operation has at most {MAX_PARTICIPANTS} participating "
                           "bodies", "too_many", "body_code", limit=MAX_PARTICIPANTS)


def check_observer(name: object, on: Iterable[str]) -> str:
    """An observer's name (an organisation that is not an enforcement body), cleaned;
    `JointOpError` where it is not clean text, on the operation already, or one too many."""
    name = clean_text(name, "name", MAX_OBSERVER_CHARS)
    on = list(on)
    if name in on:
        raise JointOpError(f"{name} is on the operation already", "already_on", "name",
                           name=name)
    if len(on) >= MAX_OBSERVERS:
        raise JointOpError(f"an operation has at most {MAX_OBSERVERS} observers", "too_many",
                           "name", limit=MAX_OBSERVERS)
    return name


def check_team_joins(status: str, team_body: str, lead: str | None,
                     participants: Iterable[str]) -> None:
    """Raise `JointOpError` unless a team of ``team_body`` may be sent on the joint
    operation of a case in ``status``: its body takes part (not the lead), and the lead has
    dispatched already (`TEAM_JOINS`). The lead's own teams are dispatched the ordinary way
    (`geo.store.dispatching.assign`, with the skill the matter needs)."""
    if team_body == lead:
        raise JointOpError(f"{team_body} leads this operation: its teams are dispatched from "
                           "the case's recommended teams", "is_lead", "team_id",
                           body=team_body)
    if team_body != lead and team_body not in set(participants):
        raise JointOpError(f"{team_body} does not take part in this operation", "not_on",
                           "team_id", body=team_body)
    if status not in TEAM_JOINS:
        raise JointOpError(f"a {status} case takes participating teams once the lead has "
                           "dispatched", "lead_first", "team_id", status=status)


def check_seizable(status: str) -> None:
    """Raise `JointOpError` unless items may be recorded as seized on a case in
    ``status`` (`SEIZABLE`)."""
    if status not in SEIZABLE:
        raise JointOpError(f"items are seized on a case with a team on it or being handled, "
                           f"not a {status} one", "not_seizable", status=status)
