"""The one definition of a valid alert: bounds shared by every door.

Every door that alerts come through (``geo ingest``, ``geo route``, the intake API, Open311,
the demo feed) and ``teams position`` check their values against the bounds here, so that a
value accepted at one door is accepted at every other, and no accepted value can make date
arithmetic or encoding fail further down. Times are naive UTC once accepted.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from stdnum.cn import uscc

from geo.catalog import SEVERITY_WORDS
from geo.crs import COORDINATE_PROBLEMS, WGS84, coordinate_problems, to_wgs84
from geo.days import local_day

#: longest text per field, in characters, at every door
MAX_LEN = {"id": 100, "source": 40, "matter": 40, "severity": 10, "description": 4000,
           "credit_code": 18, "team_id": 100}
#: the earliest incident time accepted by default (``GEO_EARLIEST_ALERT``)
EARLIEST = dt.datetime(2000, 1, 1)
#: how far past the time of receipt a reported time may lie (clocks drift)
FUTURE_SLACK = dt.timedelta(minutes=10)
#: time filters in queries (``since``, ``start_date`` …) must fall in this range (UTC)
QUERY_MIN, QUERY_MAX = dt.datetime(1970, 1, 1), dt.datetime(2200, 1, 1)
#: characters of a rejected value echoed back in a message
EXCERPT = 60

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0 and C1 but tab, LF, CR
_SURROGATE = re.compile(r"[\ud800-\udfff]")
#: bytes of a file that were not UTF-8, as Python's ``surrogateescape`` keeps them
_UNDECODED = re.compile(r"[\udc80-\udcff]")
#: why text holding such bytes is refused
NOT_UTF8 = "not UTF-8 text (bytes of another encoding: save the file as UTF-8)"
_CONTROL_RE2 = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{7f}-\x{9f}]"  # `_CONTROL` for pyarrow (RE2)


def excerpt(value: object, limit: int = EXCERPT) -> str:
    """A short, printable, always-encodable excerpt of a rejected value for messages.

    Bytes that were not UTF-8 (kept as ``surrogateescape`` surrogates) are shown as
    ``\\xNN``, other lone surrogates as ``\\uNNNN`` and control characters as ``\\xNN``;
    text beyond ``limit`` characters is cut with an ellipsis and the full length.
    """
    text = value if isinstance(value, str) else repr(value)
    size = len(text)
    text = text[:limit]
    text = _SURROGATE.sub(_escaped_surrogate, text)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text if size <= limit else f"{text}… ({size} characters)"


def _escaped_surrogate(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def text_problem(value: str, field: str) -> str | None:
    """Why a text value is refused (lone surrogates, control characters, too long), or None."""
    if _SURROGATE.search(value):
        return "not valid Unicode text (lone surrogate)"
    limit = MAX_LEN.get(field)
    if limit is not None and len(value) > limit:
        return f"longer than {limit} characters"
    if _CONTROL.search(value):
        return "contains control characters"
    return None


def query_time(value: dt.datetime) -> dt.datetime:
    """A time filter of a query as naive UTC; ValueError outside `QUERY_MIN`..`QUERY_MAX`.

    A naive value is taken as UTC.
    """
    try:
        utc = value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:
        utc = None
    if utc is None or not QUERY_MIN <= utc < QUERY_MAX:
        raise ValueError(f"must lie between {QUERY_MIN:%Y-%m-%d} and {QUERY_MAX:%Y-%m-%d} (UTC)")
    return utc


# ---------------------------------------------------------------------------- the model
FIELDS = ("id", "lon", "lat", "matter", "reported_at", "source", "severity", "description",
          "credit_code")
REQUIRED_COLUMNS = ("id", "lon", "lat")
TEXT_FIELDS = ("id", "source", "matter", "severity", "description", "credit_code")
#: the columns of a checked alert, as the store keeps them (times naive UTC)
ALERT_COLUMNS = ("row", "source", "external_id", "lon", "lat", "crs", "matter_code",
                 "severity", "reported_at", "description", "credit_code", "received_at")
_ID = re.compile(r"^[!-~]+$")  # printable ASCII without spaces, as the API's schema says
_OFFSET = r"[T ]\d.*(?:[zZ]|[+-]\d\d(?::?\d\d)?)$"  # a time, then its offset
_ERROR = "__error__"
#: warnings listed per kind before the rest are counted
WARN_ROWS = 5


@dataclass(frozen=True)
class Reject:
    """A row that was not stored, and why.

    ``row`` is the file line (CSV, JSON lines), the feature number (GeoJSON) or the
    position in a batch (from 1); ``value`` is a short excerpt (`excerpt`).
    """

    row: int
    field: str
    value: str
    reason: str
    record: dict

    def __str__(self) -> str:
        # the excerpt is printable already: quoted, not repr'd (which doubles its escapes)
        return f"row {self.row}, field {self.field}: {self.reason} (value '{self.value}')"


@dataclass(frozen=True)
class Rules:
    """What every row of one run is checked against.

    Parameters
    ----------
    crs
        Normalised CRS key of the coordinates (`geo.crs.parse_crs`).
    tz
        The district's time zone: times without an offset are local.
    now
        The time of receipt, naive UTC; the default reported time, and the upper bound
        (plus `FUTURE_SLACK`) of reported times.
    source
        Source of rows that name none.
    matters
        Known matter codes (an unknown one is warned about and kept), or None.
    earliest
        The earliest reported time accepted, naive UTC.
    keep_bad_coordinates
        Keep rows whose coordinates are unusable (bulk routing flags them ``invalid``)
        instead of rejecting them.
    severity_words
        Words accepted for a severity, lower case, and the severity each means
        (`geo.catalog.Catalog.severity_words`).
    unused
        Fields the command does not use (`ROUTE_UNUSED` for ``route``): a problem in one
        is a warning, and the value is dropped, instead of a rejected row.
    """

    crs: str
    tz: ZoneInfo
    now: dt.datetime
    source: str | None = None
    matters: frozenset[str] | None = None
    earliest: dt.datetime = EARLIEST
    keep_bad_coordinates: bool = False
    severity_words: Mapping[str, str] = field(default_factory=lambda: SEVERITY_WORDS)
    unused: frozenset[str] = frozenset()


#: fields ``route`` does not use: it needs id and coordinates, and reads the matter, the
#: reported time and the credit code where given
ROUTE_UNUSED = frozenset({"severity", "description"})


class Notes:
    """Warnings about kept rows, one per kind, with the first rows of each and a count.

    Notes of the chunks of one file add up to the notes of the whole file, whatever the
    chunks; kinds are listed in the order of their first row.
    """

    def __init__(self):
        self._kinds: dict[str, tuple[list[int], int]] = {}

    def add(self, what: str, rows) -> None:
        rows = [int(r) for r in rows]
        if not rows:
            return
        first, count = self._kinds.get(what, ([], 0))
        self._kinds[what] = (sorted(first + rows[:WARN_ROWS])[:WARN_ROWS], count + len(rows))

    def update(self, other: Notes) -> None:
        for what, (first, count) in other._kinds.items():
            mine, n = self._kinds.get(what, ([], 0))
            self._kinds[what] = (sorted(mine + first)[:WARN_ROWS], n + count)

    def lines(self) -> list[str]:
        out = []
        for what, (first, count) in sorted(self._kinds.items(), key=lambda kv: kv[1][0][0]):
            shown = ", ".join(str(r) for r in first)
            more = f" and {count - len(first)} more" if count > len(first) else ""
            out.append(f"row{'s' if count > 1 else ''} {shown}{more}, {what}")
        return out

    def __len__(self) -> int:
        return len(self._kinds)


@dataclass
class Checked:
    """The outcome of checking a table of raw alerts.

    ``alerts`` has `ALERT_COLUMNS` (``row`` the row number of each), in input order;
    ``rejects`` is sorted by row; ``warnings`` are summed up per kind.
    """

    alerts: pd.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    notes: Notes = field(default_factory=Notes)
    rows: int = 0

    @property
    def warnings(self) -> list[str]:
        return self.notes.lines()


class _Verdict:
    """The first problem of each row, column by column (first found wins)."""

    def __init__(self, frame: pd.DataFrame, rows: np.ndarray, unused=frozenset()):
        self.frame = frame
        self.rows = rows
        self.field = np.full(len(frame), None, dtype=object)
        self.reason = np.full(len(frame), None, dtype=object)
        self.bad = np.zeros(len(frame), dtype=bool)
        self.unused = unused
        #: problems in fields the command does not use: field -> (rows, reasons)
        self.dropped: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def ok(self) -> np.ndarray:
        return ~self.bad

    def fail(self, mask, name: str, reason) -> None:
        """Mark rows of ``mask`` (not yet failed) bad in field ``name`` for ``reason`` (one
        text, or one per row). In a field the command does not use, the rows stay good
        and the problem is kept for a warning (`dropped`)."""
        if name in self.unused:
            mask = np.asarray(mask, dtype=bool)
            seen, why = self.dropped.get(name, (np.zeros(len(mask), bool),
                                                np.full(len(mask), None, dtype=object)))
            new = mask & ~seen
            why[new] = reason if isinstance(reason, str) else np.asarray(
                reason, dtype=object)[new]
            self.dropped[name] = (seen | mask, why)
            return
        mask = np.asarray(mask, dtype=bool) & ~self.bad
        if mask.any():
            self.bad |= mask
            self.field[mask] = name
            self.reason[mask] = reason if isinstance(reason, str) else np.asarray(
                reason, dtype=object)[mask]

    def drop_notes(self, notes: Notes) -> None:
        """One warning per unused field and reason, for the rows kept."""
        for name, (mask, why) in self.dropped.items():
            hit = mask & self.ok
            for reason in dict.fromkeys(why[hit].tolist()):
                notes.add(f"field {name}: {reason}; ignored (not used by this command)",
                          self.rows[hit & (why == reason)])

    def dropped_mask(self, name: str) -> np.ndarray:
        return self.dropped.get(name, (np.zeros(len(self.bad), bool), None))[0]

    def rejects(self, shown: dict[str, np.ndarray]) -> list[Reject]:
        bad = np.flatnonzero(~self.ok)
        if not len(bad):
            return []
        records = self.frame.iloc[bad].to_dict("records")
        return [Reject(int(self.rows[i]), self.field[i],
                       excerpt(_shown(shown, self.field[i], i, rec)), self.reason[i],
                       {k: v for k, v in rec.items() if k != _ERROR})
                for i, rec in zip(bad.tolist(), records, strict=True)]


def _shown(shown: dict[str, pa.Array], name: str, i: int, rec: dict):
    """The value of field ``name`` to show for a rejected row: as checked, or as sent where
    the check could not read it as text (e.g. bytes that were not UTF-8)."""
    value = rec.get(name)
    raw = "" if value is None or (isinstance(value, float) and np.isnan(value)) else value
    if name in shown:
        checked = shown[name][i].as_py()
        return raw if checked == "" and isinstance(raw, str) else checked
    return raw


def _np(mask) -> np.ndarray:
    """A pyarrow boolean array (no nulls) as a numpy bool array."""
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def _arrow(column: pd.Series) -> pa.Array:
    """A text column as one pyarrow string array (no copy where it is one already)."""
    arr = pa.array(column, type=pa.string(), from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _texts(column: pd.Series | None, n: int) -> tuple[pa.Array, np.ndarray]:
    """(stripped text as a pyarrow string array without nulls, problem per row) of a raw
    column: None -> ""; numbers as written; lists and objects, and text that is not valid
    Unicode, are problems (their text is "")."""
    problem = np.full(n, None, dtype=object)
    if column is None:
        return pc.fill_null(pa.nulls(n, pa.string()), ""), problem
    if isinstance(column.dtype, pd.StringDtype | pd.ArrowDtype) or column.dtype == "str":
        return pc.utf8_trim_whitespace(pc.fill_null(_arrow(column), "")), problem
    values = column.to_numpy(dtype=object)
    out = [""] * n
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v):
            continue
        if isinstance(v, str):
            if _SURROGATE.search(v):
                problem[i] = (NOT_UTF8 if _UNDECODED.search(v)
                              else "not valid Unicode text (lone surrogate)")
            else:
                out[i] = v.strip()
        elif isinstance(v, bool):
            out[i] = str(v).lower()
        elif isinstance(v, int | float | np.number):
            out[i] = repr(v)
        else:
            problem[i] = "not a single value (a list or an object)"
    return pa.array(out, type=pa.string()), problem


def _numbers(column: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float64 values, missing mask, not-a-number mask) of a raw coordinate column.

    Text is read as a decimal number; booleans, lists and objects are not numbers.
    """
    if column is None:
        return np.full(n, np.nan), np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    if isinstance(column.dtype, pd.StringDtype | pd.ArrowDtype) or column.dtype == "str":
        text = pc.utf8_trim_whitespace(pc.fill_null(_arrow(column), ""))
        missing = _np(pc.equal(text, ""))
        try:
            values = pc.cast(pc.if_else(missing, "nan", text), pa.float64()).to_numpy(
                zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = pd.to_numeric(pd.Series(text.to_numpy(zero_copy_only=False),
                                             dtype=object), errors="coerce").to_numpy(
                dtype="float64")
            nan_text = _np(pc.is_in(pc.utf8_lower(text), pa.array(["nan", "+nan", "-nan"])))
            return values, missing, np.isnan(values) & ~missing & ~nan_text
        return values, missing, np.zeros(n, dtype=bool)
    raw = column.to_numpy(dtype=object)
    values = np.full(n, np.nan)
    missing = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    for i, v in enumerate(raw):
        if v is None or (isinstance(v, str) and not v.strip()):
            missing[i] = True
        elif isinstance(v, bool):
            bad[i] = True
        elif isinstance(v, int | float | np.number):
            try:
                values[i] = float(v)
            except OverflowError:  # an integer beyond float range
                values[i] = np.inf
        elif isinstance(v, str):
            try:
                values[i] = float(v)
            except ValueError:
                bad[i] = True
        else:
            bad[i] = True
    return values, missing, bad


def parse_times(text: pa.Array, tz: ZoneInfo, with_gaps: bool = False):
    """ISO 8601 texts -> datetime64[us] naive UTC (NaT where not a date-time or beyond
    what a timestamp holds); a text without an offset is local time in ``tz``.

    With ``with_gaps``, also the mask of local times that do not exist or occur twice in
    ``tz`` (a clock change; NaT too).
    """
    text = pa.array(text, type=pa.string()) if not isinstance(text, pa.Array) else text
    n = len(text)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    has = _np(pc.match_substring_regex(text, _OFFSET))
    given = ~_np(pc.equal(text, ""))
    gaps = np.zeros(n, dtype=bool)
    for aware in (True, False):
        pick = (has if aware else ~has) & given
        if not pick.any():
            continue
        stamps = pd.to_datetime(text.filter(pa.array(pick)).to_pandas(),
                                format="ISO8601", errors="coerce", utc=aware)
        try:
            if not aware:
                parsed = stamps.notna().to_numpy(dtype=bool)
                stamps = stamps.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
                gaps[np.flatnonzero(pick)[parsed & stamps.isna().to_numpy(dtype=bool)]] = True
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        except (OverflowError, pd.errors.OutOfBoundsDatetime):
            stamps = pd.Series([_utc_one(s if aware else _local_one(s, tz)) for s in stamps])
        out[pick] = stamps.to_numpy(dtype="datetime64[us]")
    return (out, gaps) if with_gaps else out


def _local_one(stamp, tz: ZoneInfo):
    try:
        return pd.NaT if pd.isna(stamp) else stamp.tz_localize(tz)
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        return pd.NaT


def _utc_one(stamp):
    try:
        return pd.NaT if pd.isna(stamp) else stamp.tz_convert("UTC").tz_localize(None)
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        return pd.NaT


def _column(frame: pd.DataFrame, name: str) -> pd.Series | None:
    return frame[name] if name in frame.columns else None


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Column names stripped and lower-cased (the last of repeated names kept)."""
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    return frame.loc[:, ~frame.columns.duplicated(keep="last")].reset_index(drop=True)


def pairs(frame: pd.DataFrame, source: str | None, texts: dict | None = None
          ) -> tuple[pa.Array, pa.Array]:
    """(source, id) texts of a normalised raw table, as `check` reads them (from
    ``texts``, the table's `_texts` by field, where given)."""
    n = len(frame)
    ext = texts["id"] if texts else _texts(_column(frame, "id"), n)[0]
    src = texts["source"] if texts else _texts(_column(frame, "source"), n)[0]
    if source:
        src = pc.if_else(pc.equal(src, ""), str(source).strip(), src)
    return src, ext


def check(frame: pd.DataFrame, rows: np.ndarray, rules: Rules,
          seen: SeenIds | None = None, repeats: bool = True) -> Checked:
    """Check a table of raw alerts, whole columns at a time.

    Parameters
    ----------
    frame
        Raw values, one column per field (names are matched case-insensitively, surrounding
        spaces dropped); text columns (CSV) or Python values (JSON). A column ``__error__``
        holds a reason the record could not be read at all.
    rows
        Row number of each record, for messages.
    rules
        The bounds of this run.
    seen
        Alerts met earlier in the same file (updated): a repeat of an accepted (source, id)
        pair is rejected naming its first row. A rejected row is no first.
    repeats
        Apply that rule (False: the rows are separate posts, each of which may repeat an
        alert another one sent; storing keeps it once).

    Returns
    -------
    Checked
        Every row is either an alert or a reject naming the row, the field and the reason.
    """
    frame = normalised(frame)
    rows = np.asarray(rows, dtype=np.int64)
    n = len(frame)
    v = _Verdict(frame, rows, rules.unused)
    text, problem = {}, {}
    for name in (*TEXT_FIELDS, "reported_at"):
        text[name], problem[name] = _texts(_column(frame, name), n)
    if _ERROR in frame.columns:
        errors = frame[_ERROR].to_numpy(dtype=object)
        v.fail(pd.notna(errors) & np.not_equal(errors, None), "record", errors)
    for name in ("id", *TEXT_FIELDS[1:], "reported_at"):
        v.fail(np.not_equal(problem[name], None), name, problem[name])
    src, ext = pairs(frame, rules.source, text)
    v.fail(_np(pc.equal(ext, "")), "id", "missing alert id")
    v.fail(_np(pc.equal(src, "")), "source", "no source: give a source column or --source")
    for name, values in (("id", ext), ("source", src), *((f, text[f]) for f in TEXT_FIELDS[2:])):
        v.fail(*_text_problems(values, name))
    v.fail(~_np(pc.match_substring_regex(ext, _ID.pattern)), "id",
           "must be printable ASCII without spaces")
    lon, lon_missing, lon_bad = _numbers(_column(frame, "lon"), n)
    lat, lat_missing, lat_bad = _numbers(_column(frame, "lat"), n)
    if not rules.keep_bad_coordinates:
        v.fail(lon_missing, "lon", "missing")
        v.fail(lon_bad, "lon", "not a number")
        v.fail(lat_missing, "lat", "missing")
        v.fail(lat_bad, "lat", "not a number")
    lon = np.where(lon_bad | lon_missing, np.nan, lon)
    lat = np.where(lat_bad | lat_missing, np.nan, lat)
    severity, unknown = _severities(text["severity"], rules.severity_words)
    v.fail(unknown, "severity",
           f"not a severity word of the catalogue ({', '.join(rules.severity_words)})")
    reported, untimed = _reported(text["reported_at"], rules, v)
    if not rules.keep_bad_coordinates:
        _check_coordinates(lon, lat, rules.crs, v)
    # a repeat of an alert accepted earlier in the file (a rejected row is no first)
    if repeats:
        seen = seen if seen is not None else SeenIds()
        keys = seen.keys(src, ext)
        first = seen.first_rows(keys, rows, v.ok)
        repeat = first >= 0
        if repeat.any():
            v.fail(repeat, "id", np.array([f"same source and id as row {f} of this file"
                                           for f in first], dtype=object))
        seen.add(keys[v.ok], rows[v.ok])
    ok = v.ok
    matter, credit = text["matter"], text["credit_code"]
    notes = Notes()
    notes.add("field reported_at: missing; using the time of receipt", rows[untimed & ok])
    v.drop_notes(notes)
    for name in rules.unused & {"severity", "description"}:
        gone = pa.array(v.dropped_mask(name))
        if name == "severity":
            severity = pc.if_else(gone, None, severity)
        else:
            text[name] = pc.if_else(gone, "", text[name])
    _matter_notes(notes, matter, ok, rows, rules.matters)
    credit_ok = _valid_credit(credit)
    has_credit = ~_np(pc.equal(credit, ""))
    notes.add("field credit_code: not a valid unified social credit code; ignored",
              rows[ok & has_credit & ~credit_ok])
    keep = pa.array(ok)
    matter_kept = matter.filter(keep)
    credit_kept = pc.if_else(pa.array((credit_ok & has_credit)[ok]), credit.filter(keep), None)
    alerts = pd.DataFrame({
        "row": rows[ok], "source": _series(src.filter(keep)),
        "external_id": _series(ext.filter(keep)),
        "lon": lon[ok], "lat": lat[ok], "crs": rules.crs,
        "matter_code": _series(pc.if_else(pc.equal(matter_kept, ""), None, matter_kept)),
        "severity": _series(severity.filter(keep)), "reported_at": reported[ok],
        "description": _series(text["description"].filter(keep)),
        "credit_code": _series(credit_kept),
        "received_at": np.full(int(ok.sum()), np.datetime64(rules.now, "us")),
    }, columns=list(ALERT_COLUMNS))
    return Checked(alerts, v.rejects({"source": src, "id": ext}), notes, n)


def _severities(words: pa.Array, known: Mapping[str, str]) -> tuple[pa.Array, np.ndarray]:
    """Each row's severity (``medium`` where none is given) by the catalogue's words
    (case-insensitive), and where the word is not known (its severity then null)."""
    lower = pc.utf8_lower(words)
    names = pa.array(list(known), type=pa.string())
    index = pc.index_in(lower, value_set=names)
    severity = pc.take(pa.array(list(known.values()), type=pa.string()), index)
    given = ~_np(pc.equal(lower, ""))
    unknown = given & _np(pc.is_null(index))
    return pc.if_else(pa.array(given), severity, "medium"), unknown


def _series(arr: pa.Array) -> pd.Series:
    """A pyarrow string array as a pandas text column, without copying (null: missing)."""
    return pd.Series(pd.arrays.ArrowStringArray(arr))


def _objects(arr: pa.Array) -> np.ndarray:
    """A pyarrow string array as a numpy object array (None for null)."""
    out = arr.to_numpy(zero_copy_only=False)
    return out if out.dtype == object else out.astype(object)


def _text_problems(values: pa.Array, name: str) -> tuple[np.ndarray, str, np.ndarray]:
    """Rows whose text in field ``name`` is refused (see `text_problem`), with reasons."""
    limit = MAX_LEN.get(name, 10**9)
    long = _np(pc.greater(pc.utf8_length(values), limit))
    # printable ASCII (most codes and ids) is quick to tell; the rest goes by the pattern
    other = np.flatnonzero(~_np(pc.ascii_is_printable(values)) & ~_np(pc.equal(values, "")))
    odd = np.zeros(len(values), dtype=bool)
    if len(other):
        odd[other] = _np(pc.match_substring_regex(values.take(pa.array(other)),
                                                  _CONTROL_RE2))
    mask = long | odd
    reasons = np.full(len(values), None, dtype=object)
    for i in np.flatnonzero(mask):
        reasons[i] = text_problem(values[int(i)].as_py(), name)
    return mask, name, reasons


def _reported(text: pa.Array, rules: Rules, v: _Verdict, name: str = "reported_at"
              ) -> tuple[np.ndarray, np.ndarray]:
    """Reported times (naive UTC; the time of receipt where none is given) and where none
    was given."""
    given = ~_np(pc.equal(text, ""))
    times, gap = parse_times(text, rules.tz, with_gaps=True)
    v.fail(given & gap, name,
           f"no such local time in {rules.tz.key}, or one that occurs twice (a clock change): "
           "give its offset (e.g. +01:00)")
    v.fail(given & np.isnat(times), name,
           "not an ISO 8601 date-time (e.g. 2026-11-27T09:30:00+08:00)")
    earliest = np.datetime64(rules.earliest, "us")
    latest = np.datetime64(rules.now + FUTURE_SLACK, "us")
    local = local_day(rules.earliest, rules.tz)
    v.fail(given & (times < earliest), name,
           f"before {local:%Y-%m-%d}, the earliest time accepted (GEO_EARLIEST_ALERT)")
    v.fail(given & (times > latest), name,
           f"in the future (more than {FUTURE_SLACK.seconds // 60} minutes after receipt)")
    return np.where(given, times, np.datetime64(rules.now, "us")), ~given


def _check_coordinates(lon: np.ndarray, lat: np.ndarray, crs: str, v: _Verdict) -> None:
    """Reject unusable coordinates, judged in WGS84 after conversion from ``crs``."""
    ok = v.ok
    if not ok.any():
        return
    x, y = lon[ok], lat[ok]
    if crs != WGS84:
        with np.errstate(invalid="ignore"):
            x, y = to_wgs84(x, y, crs)
    problems = np.full(len(lon), None, dtype=object)
    problems[ok] = coordinate_problems(x, y)
    lon_ok = np.isfinite(lon) & (np.abs(np.nan_to_num(lon, nan=1e9)) <= 180)
    for key, (reason, _) in COORDINATE_PROBLEMS.items():
        hit = problems == key
        v.fail(hit & ((key == "swapped") | lon_ok), "lat", reason)
        v.fail(hit, "lon", reason)


#: unknown matter codes named one by one in the warnings; the rest are counted together
NAMED_CODES = 20


def _matter_notes(notes: Notes, matter: pa.Array, ok: np.ndarray, rows: np.ndarray,
                  matters: frozenset[str] | None) -> None:
    if matters is None:
        return
    unknown = ok & ~_np(pc.equal(matter, "")) & ~_np(pc.is_in(
        matter, pa.array(sorted(matters), type=pa.string())))
    if not unknown.any():
        return
    idx = np.flatnonzero(unknown)
    codes, first, inverse = np.unique(_objects(matter)[idx].astype(str), return_index=True,
                                      return_inverse=True)
    order = np.argsort(first, kind="stable")  # codes in the order they first appear
    for rank, code in enumerate(order):
        if rank == NAMED_CODES:
            notes.add("field matter: other unknown matter codes; routed to the command "
                      "center for triage", rows[idx[np.isin(inverse, order[NAMED_CODES:])]])
            break
        notes.add(f"field matter: unknown matter code {excerpt(codes[code])!r}; routed to "
                  "the command center for triage", rows[idx[inverse == code]])


def _valid_credit(credit: pa.Array) -> np.ndarray:
    """Whether each code is a valid unified social credit code (checked once per value)."""
    given = ~_np(pc.equal(credit, ""))
    out = np.zeros(len(credit), dtype=bool)
    if given.any():
        codes, inverse = np.unique(_objects(credit)[given].astype(str), return_inverse=True)
        valid = np.array([uscc.is_valid(c) for c in codes], dtype=bool)
        out[given] = valid[inverse]
    return out


class SeenIds:
    """The (source, id) pairs met so far in one file, with the row of each, in flat memory.

    Pairs are kept as 64-bit hashes with 32-bit row numbers (64-bit past 2**31 lines; sorted
    runs of numpy arrays, 12 bytes a pair, the only memory of a run that grows with the
    file): a repeat is found by binary search. Two different pairs sharing a hash (odds
    about n² / 2⁶⁵: one in 3·10⁵ for ten million rows) would be reported as a repeat.
    """

    #: pairs a run may grow to by merging: bounds the copy a merge makes (24 MB)
    RUN_CAP = 2_000_000

    def __init__(self):
        self._keys: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._row_type = np.int32

    @staticmethod
    def keys(src: pa.Array, ext: pa.Array) -> np.ndarray:
        """The 64-bit hash of each (source, id) pair."""
        joined = pc.binary_join_element_wise(src, ext, "\x1f")
        return pd.util.hash_array(_objects(joined), categorize=False)

    def first_rows(self, keys: np.ndarray, rows: np.ndarray,
                   candidates: np.ndarray) -> np.ndarray:
        """The earlier accepted row of each candidate row's pair (this table or before),
        else -1."""
        out = np.full(len(keys), -1, dtype=np.int64)
        idx = np.flatnonzero(candidates)
        if not len(idx):
            return out
        k = keys[idx]
        twice = pd.Series(k).duplicated(keep=False).to_numpy()
        if twice.any():  # repeats within this table
            frame = pd.DataFrame({"k": k[twice], "r": rows[idx[twice]]})
            first = frame.groupby("k", sort=False)["r"].transform("first").to_numpy()
            repeat = first != frame["r"].to_numpy()
            out[idx[twice][repeat]] = first[repeat]
        for run_keys, run_rows in zip(self._keys, self._rows, strict=True):
            pos = np.minimum(np.searchsorted(run_keys, k), len(run_keys) - 1)
            hit = run_keys[pos] == k
            take = hit & ((out[idx] < 0) | (run_rows[pos].astype(np.int64) < out[idx]))
            out[idx[take]] = run_rows[pos[take]]
        return out

    def add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Remember accepted pairs (merged into fewer, longer runs as they grow)."""
        if not len(keys):
            return
        rows = np.asarray(rows, dtype=np.int64)
        if self._row_type == np.int32 and len(rows) and rows.max() >= 2**31:
            self._row_type = np.int64  # a file past 2**31 lines: wider row numbers
            self._rows = [r.astype(np.int64) for r in self._rows]
        order = np.argsort(keys, kind="stable")
        self._keys.append(keys[order])
        self._rows.append(rows.astype(self._row_type)[order])
        while (len(self._keys) > 1 and len(self._keys[-1]) * 2 >= len(self._keys[-2])
               and len(self._keys[-1]) + len(self._keys[-2]) <= self.RUN_CAP):
            k2, r2 = self._keys.pop(), self._rows.pop()
            k1, r1 = self._keys.pop(), self._rows.pop()
            at = np.searchsorted(k1, k2, side="right")  # a linear merge of sorted runs
            self._keys.append(np.insert(k1, at, k2))
            self._rows.append(np.insert(r1, at, r2))


def check_fixes(frame: pd.DataFrame, rows: np.ndarray, rules: Rules,
                teams: set[str]) -> tuple[pd.DataFrame, list[Reject]]:
    """Check team position fixes (``team_id``, ``lon``, ``lat``, ``at``) like alerts.

    Returns the good fixes (``team_id``, ``lon``, ``lat`` WGS84, ``at`` naive UTC) and a
    reject per bad row: unknown team, coordinates, or a time outside the accepted range
    (a fix without a time is taken as received now).
    """
    frame = normalised(frame)
    rows = np.asarray(rows, dtype=np.int64)
    n = len(frame)
    v = _Verdict(frame, rows)
    if _ERROR in frame.columns:
        errors = frame[_ERROR].to_numpy(dtype=object)
        v.fail(pd.notna(errors) & np.not_equal(errors, None), "record", errors)
    team, problem = _texts(_column(frame, "team_id"), n)
    v.fail(np.not_equal(problem, None), "team_id", problem)
    v.fail(_np(pc.equal(team, "")), "team_id", "missing")
    v.fail(~_np(pc.is_in(team, pa.array(sorted(teams), type=pa.string()))), "team_id",
           "unknown team")
    lon, lon_missing, lon_bad = _numbers(_column(frame, "lon"), n)
    lat, lat_missing, lat_bad = _numbers(_column(frame, "lat"), n)
    v.fail(lon_missing | lon_bad, "lon", "missing or not a number")
    v.fail(lat_missing | lat_bad, "lat", "missing or not a number")
    at_text, problem = _texts(_column(frame, "at"), n)
    v.fail(np.not_equal(problem, None), "at", problem)
    at, _ = _reported(at_text, rules, v, "at")
    _check_coordinates(lon, lat, rules.crs, v)
    ok = v.ok
    x, y = lon[ok], lat[ok]
    if rules.crs != WGS84 and ok.any():
        x, y = to_wgs84(x, y, rules.crs)
    fixes = pd.DataFrame({"team_id": _objects(team.filter(pa.array(ok))), "lon": x, "lat": y,
                          "at": at[ok]})
    return fixes, v.rejects({"team_id": team})
