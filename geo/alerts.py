"""The one definition of a valid alert: bounds shared by every door.

Every door that alerts come through (``geo ingest``, ``geo route``, the intake API, Open311,
the demo feed) and ``teams position`` check their values against the bounds here, so that a
value accepted at one door is accepted at every other, and no accepted value can make date
arithmetic or encoding fail further down. Times are naive UTC once accepted.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from stdnum.cn import uscc

from geo.catalog import SEVERITIES
from geo.crs import COORDINATE_PROBLEMS, WGS84, coordinate_problems, to_wgs84

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

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def excerpt(value: object, limit: int = EXCERPT) -> str:
    """A short, printable, always-encodable excerpt of a rejected value for messages.

    Lone surrogates and control characters are shown escaped; text beyond ``limit``
    characters is cut with an ellipsis and the full length.
    """
    text = value if isinstance(value, str) else repr(value)
    size = len(text)
    text = text[:limit]
    text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text if size <= limit else f"{text}… ({size} characters)"


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
_OFFSET = r"(?:[zZ]|[+-]\d\d(?::?\d\d)?)$"
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
        return f"row {self.row}, field {self.field}: {self.reason} (value {self.value!r})"


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
    """

    crs: str
    tz: ZoneInfo
    now: dt.datetime
    source: str | None = None
    matters: frozenset[str] | None = None
    earliest: dt.datetime = EARLIEST
    keep_bad_coordinates: bool = False


@dataclass
class Checked:
    """The outcome of checking a table of raw alerts.

    ``alerts`` has `ALERT_COLUMNS` (``row`` the row number of each), in input order;
    ``rejects`` is sorted by row; ``warnings`` are summed up per kind.
    """

    alerts: pd.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows: int = 0


class _Verdict:
    """The first problem of each row, column by column (first found wins)."""

    def __init__(self, frame: pd.DataFrame, rows: np.ndarray):
        self.frame = frame
        self.rows = rows
        self.field = np.full(len(frame), None, dtype=object)
        self.reason = np.full(len(frame), None, dtype=object)

    @property
    def ok(self) -> np.ndarray:
        return np.equal(self.field, None)

    def fail(self, mask, name: str, reason) -> None:
        """Mark rows of ``mask`` (not yet failed) bad in field ``name`` for ``reason`` (one
        text, or one per row)."""
        mask = np.asarray(mask, dtype=bool) & self.ok
        if mask.any():
            self.field[mask] = name
            self.reason[mask] = reason if isinstance(reason, str) else np.asarray(
                reason, dtype=object)[mask]

    def rejects(self, shown: dict[str, np.ndarray]) -> list[Reject]:
        bad = np.flatnonzero(~self.ok)
        if not len(bad):
            return []
        records = self.frame.iloc[bad].to_dict("records")
        return [Reject(int(self.rows[i]), self.field[i],
                       excerpt(_shown(shown, self.field[i], i, rec)), self.reason[i],
                       {k: v for k, v in rec.items() if k != _ERROR})
                for i, rec in zip(bad.tolist(), records, strict=True)]


def _shown(shown: dict[str, np.ndarray], name: str, i: int, rec: dict):
    if name in shown:
        return shown[name][i]
    value = rec.get(name)
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _texts(column: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(stripped text, not-a-single-value mask) of a raw column: None -> "", numbers as
    written; lists and objects are flagged."""
    if column is None:
        return np.full(n, "", dtype=object), np.zeros(n, dtype=bool)
    if isinstance(column.dtype, pd.StringDtype):
        return (column.fillna("").str.strip().to_numpy(dtype=object),
                np.zeros(n, dtype=bool))
    values = column.to_numpy(dtype=object)
    out = np.empty(n, dtype=object)
    odd = np.zeros(n, dtype=bool)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v):
            out[i] = ""
        elif isinstance(v, str):
            out[i] = v.strip()
        elif isinstance(v, bool | int | float):
            out[i] = str(v).lower() if isinstance(v, bool) else repr(v)
        else:
            out[i], odd[i] = "", True
    return out, odd


def _numbers(column: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float64 values, missing mask, not-a-number mask) of a raw coordinate column.

    Text is read as a decimal number; booleans, lists and objects are not numbers.
    """
    if column is None:
        return np.full(n, np.nan), np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    if isinstance(column.dtype, pd.StringDtype):
        text = column.fillna("").str.strip()
        missing = (text == "").to_numpy(dtype=bool)
        try:
            values = text.astype("float64").to_numpy()
        except (ValueError, TypeError):
            values = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64")
            nan_text = text.str.lower().isin(["nan", "+nan", "-nan"]).to_numpy(dtype=bool)
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


def parse_times(text: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """ISO 8601 texts -> datetime64[us] naive UTC (NaT where not a date-time or beyond
    what a timestamp holds); a text without an offset is local time in ``tz``."""
    out = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[us]")
    series = pd.Series(text, dtype=object)
    has = series.str.contains(_OFFSET, regex=True, na=False).to_numpy(dtype=bool)
    given = series != ""
    for aware in (True, False):
        pick = (has if aware else ~has) & given.to_numpy(dtype=bool)
        if not pick.any():
            continue
        part = series[pick].str.replace(r"[zZ]$", "+00:00", regex=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = pd.to_datetime(part, format="ISO8601", errors="coerce", utc=aware)
        if not aware:
            try:
                stamps = stamps.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
            except (OverflowError, pd.errors.OutOfBoundsDatetime):
                stamps = pd.Series([_local_one(s, tz) for s in stamps], index=stamps.index)
        try:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        except (OverflowError, pd.errors.OutOfBoundsDatetime):
            stamps = pd.Series([_utc_one(s) for s in stamps], index=stamps.index)
        out[pick] = stamps.to_numpy(dtype="datetime64[us]")
    return out


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


def _rows_note(rows: np.ndarray, what: str) -> str:
    shown = ", ".join(str(r) for r in rows[:WARN_ROWS])
    more = f" and {len(rows) - WARN_ROWS} more" if len(rows) > WARN_ROWS else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}, {what}"


def check(frame: pd.DataFrame, rows: np.ndarray, rules: Rules,
          seen: SeenIds | None = None) -> Checked:
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
        Alerts ids met earlier in the same file (updated): a repeated (source, id) is
        rejected naming its first row.

    Returns
    -------
    Checked
        Every row is either an alert or a reject naming the row, the field and the reason.
    """
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    frame = frame.loc[:, ~frame.columns.duplicated(keep="last")].reset_index(drop=True)
    rows = np.asarray(rows, dtype=np.int64)
    n = len(frame)
    v = _Verdict(frame, rows)
    text, odd = {}, {}
    for name in (*TEXT_FIELDS, "reported_at"):
        text[name], odd[name] = _texts(frame.get(name), n)
    if _ERROR in frame.columns:
        errors = frame[_ERROR].to_numpy(dtype=object)
        v.fail(np.not_equal(errors, None) & (errors == errors), "record", errors)
    for name in ("id", *TEXT_FIELDS[1:], "reported_at"):
        v.fail(odd[name], name, "not a single value (a list or an object)")
    ext = text["id"]
    v.fail(ext == "", "id", "missing alert id")
    src = text["source"]
    if rules.source:
        src = np.where(src == "", _text_default(rules.source), src)
    v.fail(src == "", "source", "no source: give a source column or --source")
    for name, values in (("id", ext), ("source", src), *((f, text[f]) for f in TEXT_FIELDS[2:])):
        v.fail(*_text_problems(values, name))
    v.fail(~_matches(ext, _ID) & (ext != ""), "id",
           "must be printable ASCII without spaces")
    first = (seen or SeenIds()).first_rows(src, ext, rows, v.ok)
    v.fail(first >= 0, "id", np.array([f"same source and id as row {f} of this file"
                                       for f in first], dtype=object) if (first >= 0).any()
           else "")
    lon, lon_missing, lon_bad = _numbers(frame.get("lon"), n)
    lat, lat_missing, lat_bad = _numbers(frame.get("lat"), n)
    if not rules.keep_bad_coordinates:
        v.fail(lon_missing, "lon", "missing")
        v.fail(lon_bad, "lon", "not a number")
        v.fail(lat_missing, "lat", "missing")
        v.fail(lat_bad, "lat", "not a number")
    lon = np.where(lon_bad | lon_missing, np.nan, lon)
    lat = np.where(lat_bad | lat_missing, np.nan, lat)
    severity = np.char.lower(text["severity"].astype(str)).astype(object)
    severity[severity == ""] = "medium"
    v.fail(~np.isin(severity, SEVERITIES), "severity", f"must be one of {', '.join(SEVERITIES)}")
    reported, untimed = _reported(text["reported_at"], rules, v)
    if not rules.keep_bad_coordinates:
        _check_coordinates(lon, lat, rules.crs, v)
    matter = text["matter"]
    credit = text["credit_code"]
    ok = v.ok
    notes = []
    if (untimed & ok).any():
        notes.append(_rows_note(rows[untimed & ok], "field reported_at: missing; using the "
                                "time of receipt"))
    notes += _matter_notes(matter, ok, rows, rules.matters)
    credit_ok = _valid_credit(credit)
    bad_credit = ok & (credit != "") & ~credit_ok
    if bad_credit.any():
        notes.append(_rows_note(rows[bad_credit], "field credit_code: not a valid unified "
                                "social credit code; ignored"))
    if seen is not None:
        seen.add(src[ok], ext[ok], rows[ok])
    keep = np.flatnonzero(ok)
    alerts = pd.DataFrame({
        "row": rows[keep], "source": src[keep], "external_id": ext[keep],
        "lon": lon[keep], "lat": lat[keep], "crs": rules.crs,
        "matter_code": np.where(matter[keep] == "", None, matter[keep]),
        "severity": severity[keep], "reported_at": reported[keep],
        "description": text["description"][keep],
        "credit_code": np.where(credit_ok[keep] & (credit[keep] != ""), credit[keep], None),
        "received_at": np.full(len(keep), np.datetime64(rules.now, "us")),
    }, columns=list(ALERT_COLUMNS))
    shown = {"source": src, "id": ext}
    return Checked(alerts, v.rejects(shown), notes, n)


def _text_default(value: str) -> str:
    return str(value).strip()


def _matches(values: np.ndarray, pattern: re.Pattern) -> np.ndarray:
    return pd.Series(values, dtype=object).str.match(pattern.pattern, na=False).to_numpy(
        dtype=bool)


def _text_problems(values: np.ndarray, name: str) -> tuple[np.ndarray, str, np.ndarray]:
    """Rows whose text in field ``name`` is refused (see `text_problem`), with reasons."""
    s = pd.Series(values, dtype=object)
    limit = MAX_LEN.get(name, 10**9)
    long = (s.str.len() > limit).to_numpy(dtype=bool)
    odd = s.str.contains(f"{_SURROGATE.pattern}|{_CONTROL.pattern}", regex=True,
                         na=False).to_numpy(dtype=bool)
    mask = long | odd
    reasons = np.full(len(values), None, dtype=object)
    for i in np.flatnonzero(mask):
        reasons[i] = text_problem(values[i], name)
    return mask, name, reasons


def _reported(text: np.ndarray, rules: Rules, v: _Verdict) -> tuple[np.ndarray, np.ndarray]:
    """Reported times (naive UTC; the time of receipt where none is given) and where none
    was given."""
    given = text != ""
    times = parse_times(text, rules.tz)
    v.fail(given & np.isnat(times), "reported_at",
           "not an ISO 8601 date-time (e.g. 2026-11-27T09:30:00+08:00)")
    earliest = np.datetime64(rules.earliest, "us")
    latest = np.datetime64(rules.now + FUTURE_SLACK, "us")
    with np.errstate(invalid="ignore"):
        v.fail(given & (times < earliest), "reported_at",
               f"before {rules.earliest:%Y-%m-%d}, the earliest time accepted "
               "(GEO_EARLIEST_ALERT)")
        v.fail(given & (times > latest), "reported_at",
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


def _matter_notes(matter: np.ndarray, ok: np.ndarray, rows: np.ndarray,
                  matters: frozenset[str] | None) -> list[str]:
    if matters is None:
        return []
    unknown = ok & (matter != "") & ~np.isin(matter, list(matters))
    notes = []
    for code in pd.unique(matter[unknown]):
        notes.append(_rows_note(rows[unknown & (matter == code)],
                                f"field matter: unknown matter code {excerpt(code)!r}; "
                                "routed to the command center for triage"))
    return notes


def _valid_credit(credit: np.ndarray) -> np.ndarray:
    """Whether each code is a valid unified social credit code (checked once per value)."""
    out = np.zeros(len(credit), dtype=bool)
    given = credit != ""
    if given.any():
        codes, inverse = np.unique(credit[given].astype(str), return_inverse=True)
        valid = np.array([uscc.is_valid(c) for c in codes], dtype=bool)
        out[given] = valid[inverse]
    return out


class SeenIds:
    """The (source, id) pairs met so far in one file, with the row of each, in flat memory.

    Pairs are kept as 64-bit hashes (sorted runs of numpy arrays, 16 bytes a pair): a
    repeat is found by binary search. Two different pairs sharing a hash (odds about
    n² / 2⁶⁵: one in 3·10⁵ for ten million rows) would be reported as a repeat.
    """

    def __init__(self):
        self._keys: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []

    @staticmethod
    def _hash(src: np.ndarray, ext: np.ndarray) -> np.ndarray:
        joined = pd.Series(src, dtype=object) + "\x1f" + pd.Series(ext, dtype=object)
        return pd.util.hash_array(joined.to_numpy(dtype=object))

    def first_rows(self, src: np.ndarray, ext: np.ndarray, rows: np.ndarray,
                   candidates: np.ndarray) -> np.ndarray:
        """The earlier row of each candidate row's pair (this table or before), else -1."""
        out = np.full(len(src), -1, dtype=np.int64)
        idx = np.flatnonzero(candidates)
        if not len(idx):
            return out
        keys = self._hash(src[idx], ext[idx])
        frame = pd.DataFrame({"k": keys, "r": rows[idx]})
        first = frame.groupby("k", sort=False)["r"].transform("first").to_numpy()
        repeat = first != frame["r"].to_numpy()
        out[idx[repeat]] = first[repeat]
        for run_keys, run_rows in zip(self._keys, self._rows, strict=True):
            pos = np.searchsorted(run_keys, keys)
            pos = np.minimum(pos, len(run_keys) - 1)
            hit = run_keys[pos] == keys
            take = hit & ((out[idx] < 0) | (run_rows[pos] < out[idx]))
            out[idx[take]] = run_rows[pos[take]]
        return out

    def add(self, src: np.ndarray, ext: np.ndarray, rows: np.ndarray) -> None:
        """Remember accepted pairs (merged into fewer, longer runs as they grow)."""
        if not len(src):
            return
        keys = self._hash(src, ext)
        order = np.argsort(keys, kind="stable")
        self._keys.append(keys[order])
        self._rows.append(np.asarray(rows)[order])
        while len(self._keys) > 1 and len(self._keys[-1]) * 2 >= len(self._keys[-2]):
            k2, r2 = self._keys.pop(), self._rows.pop()
            k1, r1 = self._keys.pop(), self._rows.pop()
            k, r = np.concatenate([k1, k2]), np.concatenate([r1, r2])
            order = np.argsort(k, kind="stable")
            self._keys.append(k[order])
            self._rows.append(r[order])


def check_fixes(frame: pd.DataFrame, rows: np.ndarray, rules: Rules,
                teams: set[str]) -> tuple[pd.DataFrame, list[Reject]]:
    """Check team position fixes (``team_id``, ``lon``, ``lat``, ``at``) like alerts.

    Returns the good fixes (``team_id``, ``lon``, ``lat`` WGS84, ``at`` naive UTC) and a
    reject per bad row: unknown team, coordinates, or a time outside the accepted range
    (a fix without a time is taken as received now).
    """
    frame = frame.rename(columns=lambda c: str(c).strip().lower()).reset_index(drop=True)
    rows = np.asarray(rows, dtype=np.int64)
    n = len(frame)
    v = _Verdict(frame, rows)
    if _ERROR in frame.columns:
        errors = frame[_ERROR].to_numpy(dtype=object)
        v.fail(np.not_equal(errors, None) & (errors == errors), "record", errors)
    team, odd = _texts(frame.get("team_id"), n)
    v.fail(odd, "team_id", "not a single value (a list or an object)")
    v.fail(team == "", "team_id", "missing")
    v.fail(~np.isin(team, sorted(teams)), "team_id", "unknown team")
    lon, lon_missing, lon_bad = _numbers(frame.get("lon"), n)
    lat, lat_missing, lat_bad = _numbers(frame.get("lat"), n)
    v.fail(lon_missing | lon_bad, "lon", "missing or not a number")
    v.fail(lat_missing | lat_bad, "lat", "missing or not a number")
    at_text, odd = _texts(frame.get("at"), n)
    v.fail(odd, "at", "not a single value (a list or an object)")
    renamed = _Verdict(frame, rows)  # `_reported` names its field reported_at
    renamed.field, renamed.reason = v.field, v.reason
    at, _ = _reported(at_text, rules, renamed)
    v.field = np.where(v.field == "reported_at", "at", v.field)
    _check_coordinates(lon, lat, rules.crs, v)
    keep = np.flatnonzero(v.ok)
    x, y = lon[keep], lat[keep]
    if rules.crs != WGS84 and len(keep):
        x, y = to_wgs84(x, y, rules.crs)
    fixes = pd.DataFrame({"team_id": team[keep], "lon": x, "lat": y, "at": at[keep]})
    return fixes, v.rejects({"team_id": team})
