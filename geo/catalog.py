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
- ``severities.csv`` (optional): ``word, severity``, the words alerts may give for a
  severity and the severity each means, besides ``low``, ``medium`` and ``high``
  themselves (`SEVERITY_WORDS` when the file is absent).

A district may start with layers alone: `placeholder_catalog` holds only a command center,
which then receives every alert ("no catalogue loaded"), until `template_frames` (written by
``python -m geo catalog template``) is filled in and loaded.
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
#: words for a severity accepted when the catalogue has no ``severities.csv`` (lower case)
SEVERITY_WORDS = {
    **{s: s for s in SEVERITIES}, "normal": "medium", "minor": "low", "major": "high",
    "serious": "high", "urgent": "high", "一般": "low", "较重": "medium", "严重": "high",
    "低": "low", "中": "medium", "高": "high",
}
#: code of the command center of a district that has loaded no catalogue yet
PLACEHOLDER_CENTER = "CC"

COLUMNS = {
    "matters": ("code", "name", "domain", "district_body",
                *(f"deadline_days_{s}" for s in SEVERITIES)),
    "bodies": ("code", "name", "kind", "township_code"),
    "empowerment": ("township_code", "matter_code", "effective_from", "effective_to"),
    "inspection_intervals": ("risk", "days"),
    "severities": ("word", "severity"),
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
    severity_words: dict[str, str] = field(default_factory=lambda: dict(SEVERITY_WORDS))

    @property
    def loaded(self) -> bool:
        """Whether this is a district's catalogue (False: `placeholder_catalog`, no matter)."""
        return not self.matters.empty

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
    severities: pd.DataFrame | None = None,
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
        severity_words=SEVERITY_WORDS if severities is None else _severity_words(severities),
    )


def _severity_words(frame: pd.DataFrame) -> dict[str, str]:
    """The words of ``severities.csv`` over the severities themselves (``low``, ``medium``,
    ``high`` always mean what they say: the default of a post without one, and the
    call-taker's and Open311's words, are those)."""
    words: dict[str, str] = {s: s for s in SEVERITIES}
    for i, (word, severity) in enumerate(zip(frame["word"], frame["severity"], strict=True)):
        if word == "":
            _fail(frame, i, "word", "empty")
        if severity not in SEVERITIES:
            _fail(frame, i, "severity", f"{severity!r} is not one of {', '.join(SEVERITIES)}")
        if words.get(word.lower(), severity) != severity:
            _fail(frame, i, "word", f"{word!r} already means {words[word.lower()]}")
        words[word.lower()] = severity
    return words


def load_catalog(folder: Path) -> Catalog:
    """Read and validate matters.csv, bodies.csv, empowerment.csv and, where they are,
    inspection_intervals.csv and severities.csv from ``folder``."""
    def optional(name: str) -> pd.DataFrame | None:
        return _read(folder, name) if (Path(folder) / f"{name}.csv").is_file() else None

    return validate_catalog(_read(folder, "matters"), _read(folder, "bodies"),
                            _read(folder, "empowerment"),
                            intervals=optional("inspection_intervals"),
                            severities=optional("severities"))


# ---------------------------------------------------------------------------- layers first
def placeholder_catalog() -> Catalog:
    """The catalogue of a district that has loaded none: one command center, no matter,
    no empowerment (`Catalog.loaded` is False; every alert goes to the command center)."""
    bodies = pd.DataFrame({"code": [PLACEHOLDER_CENTER], "name": ["区指挥中心"],
                           "kind": ["command_center"], "township_code": [""]})
    return validate_catalog(pd.DataFrame(columns=list(COLUMNS["matters"]), dtype=str), bodies,
                            pd.DataFrame(columns=list(COLUMNS["empowerment"]), dtype=str))


def catalog_townships(catalog: Catalog) -> set[str]:
    """Every township code the catalogue names (township centers and empowerment)."""
    centers = catalog.bodies.loc[catalog.bodies["kind"] == "township_center", "township_code"]
    return set(centers) | set(catalog.empowerment["township_code"])


def fits_layers(catalog: Catalog, township_codes) -> bool:
    """Whether the catalogue can be of the district of these layers: it names no township
    (a catalogue without centers) or at least one township of the layers. A catalogue
    whose townships are all elsewhere is another district's."""
    named = catalog_townships(catalog)
    return not named or bool(named & set(township_codes))


#: rows named one by one in a catalogue problem before the rest are counted
SHOWN_ROWS = 5


def layer_mismatches(catalog: Catalog, township_codes, folder: str = "",
                     earlier=()) -> list[str]:
    """Rows of the catalogue that name a township neither the layers nor an ``earlier``
    layer generation has (a township merged away keeps its center and empowerment rows,
    for the alerts of its time): one line per file and township, with its rows (CSV lines;
    the first `SHOWN_ROWS`, then a count), the field and what to fix. Empty when the
    catalogue matches the layers."""
    known = set(township_codes) | set(earlier)
    prefix = f"{folder.rstrip('/')}/" if folder else ""
    fix = ("use a code of the townships layer's `code` column, or remove the row")
    out = []
    bodies = catalog.bodies
    for name, codes in (
            ("bodies", bodies["township_code"].where(bodies["kind"] == "township_center", "")),
            ("empowerment", catalog.empowerment["township_code"])):
        wrong: dict[str, list[int]] = {}
        for i, code in enumerate(codes):
            if code and code not in known:
                wrong.setdefault(code, []).append(i + 2)
        for code, rows in wrong.items():
            shown = ", ".join(map(str, rows[:SHOWN_ROWS]))
            more = f" and {len(rows) - SHOWN_ROWS} more" if len(rows) > SHOWN_ROWS else ""
            out.append(f"{prefix}{name}.csv, row{'s' if len(rows) > 1 else ''} {shown}{more}, "
                       f"field township_code: township {code} is not in the townships "
                       f"layer; {fix}")
    return out


def template_frames(townships: pd.DataFrame, base: Catalog | None = None
                    ) -> dict[str, pd.DataFrame]:
    """Catalogue files to fill in for the townships of a layer set (``code``, ``name``).

    ``bodies``: a command center, the district teams ``base`` names for its matters and one
    center per township (``TC-<code>``); ``matters``: those of ``base`` (to adapt), none
    without one; ``empowerment``: the header only; ``severities``: `SEVERITY_WORDS`.
    They load back as they are (`load_catalog`).
    """
    matters = (base.matters if base is not None and base.loaded
               else pd.DataFrame(columns=list(COLUMNS["matters"])))
    teams = base.bodies[base.bodies["kind"] == "district_team"] if base is not None else None
    teams = (teams[teams["code"].isin(set(matters["district_body"]))] if teams is not None
             else pd.DataFrame(columns=list(COLUMNS["bodies"])))
    ordered = townships.sort_values("code")
    bodies = pd.concat([
        pd.DataFrame({"code": [PLACEHOLDER_CENTER], "name": ["区指挥中心"],
                      "kind": ["command_center"], "township_code": [""]}),
        teams[list(COLUMNS["bodies"])].assign(township_code=""),
        pd.DataFrame({"code": [f"TC-{c}" for c in ordered["code"]],
                      "name": [f"{n}综合行政执法中心" for n in ordered["name"]],
                      "kind": "township_center", "township_code": list(ordered["code"])}),
    ], ignore_index=True)
    return {
        "matters": matters[list(COLUMNS["matters"])].reset_index(drop=True),
        "bodies": bodies,
        "empowerment": pd.DataFrame(columns=list(COLUMNS["empowerment"])),
        "severities": pd.DataFrame(sorted(SEVERITY_WORDS.items()),
                                   columns=list(COLUMNS["severities"])),
    }


def write_template(folder: Path, townships: pd.DataFrame, base: Catalog | None = None
                   ) -> list[Path]:
    """Write `template_frames` as UTF-8 CSV files into ``folder``; the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in template_frames(townships, base).items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False, encoding="utf-8")
        paths.append(path)
    return paths
