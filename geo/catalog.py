"""Catalogues: enforcement matters, enforcement bodies, empowerment lists, deadlines and
inspection intervals.

CSV files in one folder (``data/`` for the demo):

- ``matters.csv``: ``code, name, domain, district_body, deadline_days_low,
  deadline_days_medium, deadline_days_high``;
- ``bodies.csv``: ``code, name, kind`` (``township_center``, ``district_team`` or
  ``command_center``), ``township_code`` (township centers only);
- ``empowerment.csv``: ``township_code, matter_code, effective_from, effective_to``
  (ISO dates; ``effective_to`` empty while in force);
- ``inspection_intervals.csv`` (optional): ``risk, days``, the days allowed between two
  inspections of a site of that risk level; a level it leaves out keeps its default
  (`DEFAULT_INSPECTION_INTERVALS`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

SEVERITIES = ("low", "medium", "high")
#: days between inspections by site risk level where ``inspection_intervals.csv`` is silent
DEFAULT_INSPECTION_INTERVALS = {"high": 30, "medium": 90, "low": 365}
BODY_KINDS = ("township_center", "district_team", "command_center")

COLUMNS = {
    "matters": ("code", "name", "domain", "district_body",
                *(f"deadline_days_{s}" for s in SEVERITIES)),
    "bodies": ("code", "name", "kind", "township_code"),
    "empowerment": ("township_code", "matter_code", "effective_from", "effective_to"),
    "inspection_intervals": ("risk", "days"),
}


class CatalogError(ValueError):
    """A catalogue file is missing, malformed or inconsistent; the message names file,
    row and field."""


@dataclass(frozen=True)
class Catalog:
    """Validated catalogues as DataFrames of text columns (dates as `datetime.date`)."""

    matters: pd.DataFrame
    bodies: pd.DataFrame
    empowerment: pd.DataFrame
    #: site risk level -> days allowed between two inspections
    inspection_intervals: dict[str, int] = field(
        default_factory=lambda: dict(DEFAULT_INSPECTION_INTERVALS))

    @property
    def command_center(self) -> str:
        """Code of the command center, which triages what no rule assigns."""
        return str(self.bodies.loc[self.bodies["kind"] == "command_center", "code"].iloc[0])

    def township_bodies(self) -> dict[str, str]:
        """Map township code -> code of its enforcement center."""
        centers = self.bodies[self.bodies["kind"] == "township_center"]
        return dict(zip(centers["township_code"], centers["code"], strict=True))

    def body_names(self) -> dict[str, str]:
        return dict(zip(self.bodies["code"], self.bodies["name"], strict=True))

    def matter(self, code: str) -> pd.Series | None:
        rows = self.matters[self.matters["code"] == code]
        return None if rows.empty else rows.iloc[0]

    @cached_property
    def _deadlines(self) -> dict[tuple[str, str], dt.timedelta]:
        return {(code, severity): dt.timedelta(days=float(days))
                for severity in SEVERITIES
                for code, days in zip(self.matters["code"],
                                      self.matters[f"deadline_days_{severity}"], strict=True)}

    def deadline(self, matter_code: str, severity: str) -> dt.timedelta | None:
        """Time allowed to close a case of this matter and severity (``None`` if unknown)."""
        return self._deadlines.get((matter_code, severity))


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = Path(folder) / f"{name}.csv"
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError as exc:
        raise CatalogError(f"{path}: file not found") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: not a readable UTF-8 CSV ({exc})") from exc
    missing = [c for c in COLUMNS[name] if c not in frame.columns]
    if missing:
        raise CatalogError(f"{path}: missing column(s) {', '.join(missing)}")
    frame = frame.apply(lambda s: s.str.strip())
    frame.attrs["path"] = str(path)
    return frame


def _fail(frame: pd.DataFrame, row: int, field: str, message: str):
    raise CatalogError(f"{frame.attrs.get('path', '?')}, row {row + 2}, field {field}: {message}")


def _date(frame: pd.DataFrame, row: int, field: str, value: str) -> dt.date | None:
    if value == "":
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(frame, row, field, f"{value!r} is not an ISO date (YYYY-MM-DD)")


def _intervals(frame: pd.DataFrame | None) -> dict[str, int]:
    """Inspection intervals from a ``risk, days`` table over the defaults."""
    out = dict(DEFAULT_INSPECTION_INTERVALS)
    if frame is None:
        return out
    for i, (risk, days) in enumerate(zip(frame["risk"], frame["days"], strict=True)):
        if risk not in out:
            _fail(frame, i, "risk", f"{risk!r} is not one of {', '.join(out)}")
        if risk in frame["risk"].iloc[:i].tolist():
            _fail(frame, i, "risk", f"duplicate risk level {risk}")
        if not str(days).isdigit() or int(days) <= 0:
            _fail(frame, i, "days", f"{days!r} is not a positive whole number of days")
        out[risk] = int(days)
    return out


def validate_catalog(
    matters: pd.DataFrame, bodies: pd.DataFrame, empowerment: pd.DataFrame,
    intervals: pd.DataFrame | None = None,
) -> Catalog:
    """Check the tables against each other and return a `Catalog`.

    ``intervals`` (``risk, days``, optional) gives the inspection intervals.

    Raises `CatalogError` on the first problem, naming file, row (CSV line) and field.
    """
    for frame, key in ((matters, "code"), (bodies, "code")):
        for i, value in enumerate(frame[key]):
            if value == "":
                _fail(frame, i, key, "empty")
        dup = frame[key].duplicated()
        if dup.any():
            i = int(dup.to_numpy().argmax())
            _fail(frame, i, key, f"duplicate code {frame[key].iloc[i]}")
    for i, kind in enumerate(bodies["kind"]):
        if kind not in BODY_KINDS:
            _fail(bodies, i, "kind", f"{kind!r} is not one of {', '.join(BODY_KINDS)}")
        if kind == "township_center" and bodies["township_code"].iloc[i] == "":
            _fail(bodies, i, "township_code", "a township center needs its township code")
    if (bodies["kind"] == "command_center").sum() != 1:
        raise CatalogError(f"{bodies.attrs.get('path', 'bodies')}: exactly one body of kind "
                           "command_center is required")
    district = set(bodies.loc[bodies["kind"] == "district_team", "code"])
    for i, body in enumerate(matters["district_body"]):
        if body not in district:
            _fail(matters, i, "district_body", f"{body!r} is not a district team in bodies.csv")
    for severity in SEVERITIES:
        col = f"deadline_days_{severity}"
        values = pd.to_numeric(matters[col], errors="coerce")
        for i in values.index[values.isna() | (values <= 0)]:
            _fail(matters, int(i), col, f"{matters[col].iloc[i]!r} is not a positive number")
    known_matters = set(matters["code"])
    centers = set(bodies.loc[bodies["kind"] == "township_center", "township_code"])
    emp = empowerment.copy()
    starts, ends = [], []
    for i, row in enumerate(empowerment.itertuples(index=False)):
        if row.matter_code not in known_matters:
            _fail(empowerment, i, "matter_code", f"unknown matter {row.matter_code!r}")
        if row.township_code not in centers:
            _fail(empowerment, i, "township_code",
                  f"{row.township_code!r} has no township center in bodies.csv")
        start = _date(empowerment, i, "effective_from", row.effective_from)
        if start is None:
            _fail(empowerment, i, "effective_from", "empty")
        end = _date(empowerment, i, "effective_to", row.effective_to)
        if end is not None and end <= start:
            _fail(empowerment, i, "effective_to", "must be after effective_from")
        starts.append(start)
        ends.append(end)
    emp["effective_from"] = pd.Series(starts, index=emp.index, dtype=object)
    emp["effective_to"] = pd.Series(ends, index=emp.index, dtype=object)
    return Catalog(
        matters=matters.reset_index(drop=True),
        bodies=bodies.reset_index(drop=True),
        empowerment=emp.reset_index(drop=True),
        inspection_intervals=_intervals(intervals),
    )


def load_catalog(folder: Path) -> Catalog:
    """Read and validate matters.csv, bodies.csv, empowerment.csv and (where there is
    one) inspection_intervals.csv from ``folder``."""
    optional = Path(folder) / "inspection_intervals.csv"
    return validate_catalog(_read(folder, "matters"), _read(folder, "bodies"),
                            _read(folder, "empowerment"),
                            _read(folder, "inspection_intervals") if optional.is_file()
                            else None)
