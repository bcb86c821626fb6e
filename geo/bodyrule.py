"""The body rule (DESIGN.md, routing rule 4) as array lookups.

Which enforcement body handles an alert depends on its township, its matter and the local
calendar day of the incident. `BodyRule` turns the catalogue into dense tables so that a
million alerts are decided by a few numpy takes, and one live alert by a few scalar
lookups, with the same answers:

- invalid coordinates -> no body (`BODY_NONE`);
- no catalogue loaded yet (`geo.catalog.placeholder_catalog`) -> the command center
  (`BODY_NO_CATALOG`), whatever the matter;
- no matter named -> the command center (`BODY_NO_MATTER`);
- a matter not in the catalogue -> the command center, for triage (`BODY_TRIAGE`);
- outside every township -> the command center, as a referral (`BODY_REFERRAL`);
- the matter empowered to the township on that day, and the township has a center -> the
  township's center (`BODY_TOWNSHIP`), "empowered since" the latest start among the
  empowerment periods covering the day;
- otherwise -> the matter's district team (`BODY_DISTRICT`).

A period covers a day when ``effective_from <= day < effective_to`` (no end: still in
force). The sorted distinct period bounds cut time into epochs in which every period either
covers every day or none, so ``since[township, matter, epoch]`` holds the whole rule.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass

import numpy as np

from geo.catalog import Catalog

# why a body was chosen
(BODY_NONE, BODY_TOWNSHIP, BODY_DISTRICT, BODY_TRIAGE, BODY_REFERRAL, BODY_NO_MATTER,
 BODY_NO_CATALOG) = range(7)

NO_MATTER = -2  # matter index of an alert that names no matter
UNKNOWN_MATTER = -1  # matter index of a code the catalogue does not hold

_NAT = np.datetime64("NaT", "D")


@dataclass(frozen=True)
class BodyRule:
    """The catalogue as dense tables over the router's townships.

    Attributes
    ----------
    matter_codes
        Catalogue matter codes (object array), in catalogue order: the matter index.
    body_codes
        Every body code the rule can return (object array): the body index.
    command
        Body index of the command center.
    district
        Body index of each matter's district team (int16, by matter index).
    center
        Body index of each township's enforcement center, -1 where it has none (int16,
        by township index of the router).
    breaks
        Sorted distinct ``effective_from`` / ``effective_to`` dates (datetime64[D]).
    since
        "Empowered since" (datetime64[D], NaT: not empowered), shape (townships, matters,
        len(breaks) + 1); epoch e >= 1 covers days in [breaks[e - 1], breaks[e]).
    loaded
        Whether a district catalogue is loaded (False: every valid alert goes to the
        command center, `BODY_NO_CATALOG`).
    """

    matter_codes: np.ndarray
    matter_index: dict[str, int]
    matter_names: dict[str, str]
    body_codes: np.ndarray
    body_names: dict[str, str]
    command: int
    district: np.ndarray
    center: np.ndarray
    breaks: np.ndarray
    since: np.ndarray
    break_days: tuple[dt.date, ...]
    loaded: bool = True

    @property
    def command_center(self) -> str:
        return self.body_codes[self.command]

    # ------------------------------------------------------------------ one alert
    def one(self, township: int, valid: bool, matter: str | None, day: dt.date
            ) -> tuple[str | None, int, dt.date | None]:
        """The rule for one alert: (body code, why, empowered since).

        ``township`` is the router's township index (-1: none), ``valid`` whether the
        coordinates were usable, ``day`` the local incident day.
        """
        if not valid:
            return None, BODY_NONE, None
        if not self.loaded:
            return self.command_center, BODY_NO_CATALOG, None
        if not matter:
            return self.command_center, BODY_NO_MATTER, None
        m = self.matter_index.get(matter)
        if m is None:
            return self.command_center, BODY_TRIAGE, None
        if township < 0:
            return self.command_center, BODY_REFERRAL, None
        since = self.since[township, m, bisect.bisect_right(self.break_days, day)]
        if not np.isnat(since) and self.center[township] >= 0:
            return self.body_codes[self.center[township]], BODY_TOWNSHIP, since.item()
        return self.body_codes[self.district[m]], BODY_DISTRICT, None

    # ------------------------------------------------------------------ many alerts
    def matter_index_of(self, values: np.ndarray) -> np.ndarray:
        """Matter index (int32) of each distinct matter text (`UNKNOWN_MATTER` if absent)."""
        return np.array([self.matter_index.get(v, UNKNOWN_MATTER) for v in values],
                        dtype=np.int32)

    def many(self, township: np.ndarray, valid: np.ndarray, matter: np.ndarray,
             days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rule for arrays of alerts.

        Parameters
        ----------
        township
            Township index per alert (-1: none).
        valid
            Whether each alert's coordinates were usable (bool).
        matter
            Matter index per alert: catalogue index, `UNKNOWN_MATTER` or `NO_MATTER`.
        days
            Local incident day per alert (datetime64[D], no NaT).

        Returns
        -------
        body index (int16, -1: none), why (int8, ``BODY_*``) and empowered since
        (datetime64[D], NaT unless the township's center was chosen).
        """
        t = np.maximum(township, 0)
        m = np.maximum(matter, 0)
        epoch = np.searchsorted(self.breaks, days.astype("datetime64[D]"), side="right")
        since = self.since[t, m, epoch] if len(self.matter_codes) else np.full(len(t), _NAT)
        body = self.district[m] if len(self.matter_codes) else np.zeros(len(t), np.int16)
        how = np.full(len(t), BODY_DISTRICT, dtype=np.int8)
        center = self.center[t]
        empowered = ~np.isnat(since) & (center >= 0)
        how[empowered] = BODY_TOWNSHIP
        body = np.where(empowered, center, body).astype(np.int16)
        for mask, why in ((township < 0, BODY_REFERRAL), (matter == UNKNOWN_MATTER, BODY_TRIAGE),
                          (matter == NO_MATTER, BODY_NO_MATTER),
                          (np.full(len(t), not self.loaded), BODY_NO_CATALOG)):
            how[mask] = why
            body[mask] = self.command
        invalid = ~valid
        how[invalid] = BODY_NONE
        body[invalid] = -1
        since[how != BODY_TOWNSHIP] = _NAT
        return body, how, since


def body_rule(catalog: Catalog, township_codes: np.ndarray) -> BodyRule:
    """Build the `BodyRule` of a catalogue for the router's townships (by code, in order).

    Empowerment rows of townships that are not in the layers are skipped: no alert can be
    routed there.
    """
    matter_codes = catalog.matters["code"].to_numpy(dtype=object)
    matter_index = {c: i for i, c in enumerate(matter_codes)}
    bodies: dict[str, int] = {catalog.command_center: 0}

    def body(code: str) -> int:
        return bodies.setdefault(code, len(bodies))

    district = np.array([body(c) for c in catalog.matters["district_body"]], dtype=np.int16)
    centers = catalog.township_bodies()
    center = np.array([body(centers[c]) if centers.get(c) else -1 for c in township_codes],
                      dtype=np.int16)
    breaks, since = _since_table(catalog, township_codes, matter_index)
    return BodyRule(
        matter_codes=matter_codes,
        matter_index=matter_index,
        matter_names=dict(zip(catalog.matters["code"], catalog.matters["name"], strict=True)),
        body_codes=np.array(list(bodies), dtype=object),
        body_names=catalog.body_names(),
        command=0,
        district=district,
        center=center,
        breaks=breaks,
        since=since,
        break_days=tuple(breaks.astype(object).tolist()),
        loaded=catalog.loaded,
    )


def _since_table(catalog: Catalog, township_codes: np.ndarray, matter_index: dict[str, int]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Epoch breaks and the (townships, matters, epochs) "empowered since" table."""
    emp = catalog.empowerment
    t_index = {c: i for i, c in enumerate(township_codes)}
    ti = np.array([t_index.get(c, -1) for c in emp["township_code"]], dtype=np.int64)
    mi = np.array([matter_index.get(c, -1) for c in emp["matter_code"]], dtype=np.int64)
    keep = (ti >= 0) & (mi >= 0)
    start = np.array(list(emp["effective_from"]), dtype="datetime64[D]").reshape(-1)[keep]
    end = np.array(list(emp["effective_to"]), dtype="datetime64[D]").reshape(-1)[keep]
    ti, mi = ti[keep], mi[keep]
    open_ended = np.isnat(end)
    breaks = np.unique(np.concatenate([start, end[~open_ended]]))
    since = np.full((len(township_codes), len(matter_index), len(breaks) + 1), _NAT)
    # epoch e >= 1 starts on breaks[e - 1]; a period covers the epoch iff it covers that day
    covers = (start[:, None] <= breaks[None, :]) & (
        open_ended[:, None] | (breaks[None, :] < end[:, None]))
    row, epoch = np.nonzero(covers)
    latest = since.view(np.int64)  # NaT is the smallest int64: the latest start wins
    np.maximum.at(latest, (ti[row], mi[row], epoch + 1), start.view(np.int64)[row])
    return breaks, since
