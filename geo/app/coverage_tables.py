"""The 覆盖 page's tables as operators read them: names, not codes; headers in the user's
language; shares as percentages; dates as dates; 是/否 for yes and no. The downloads hold
these tables as shown (`geo.app.coverage_page.downloads`)."""

from __future__ import annotations

import h3
import pandas as pd
import streamlit as st

from geo.app.labels import cells, site_kind, t

#: how the share columns are shown (st.dataframe column configuration)
PERCENT = {"format": "percent"}


def _named(codes: pd.Series, names: dict[str, str]) -> pd.Series:
    return codes.map(lambda c: names.get(c, c) if isinstance(c, str) else "-")


def _date(values: pd.Series, missing: str) -> pd.Series:
    return pd.to_datetime(values).dt.strftime("%Y-%m-%d").fillna(missing)


def coverage(table: pd.DataFrame, area_col: str, areas: dict[str, str],
             lang: str) -> pd.DataFrame:
    """`geo.coverage.coverage_by` per unit or township (``area_col``), named."""
    return pd.DataFrame({
        t(area_col, lang): _named(table[area_col], areas),
        t("sites_n", lang): table["sites"],
        t("on_time_n", lang): table["on_time"],
        t("high_overdue", lang): table["high_overdue"],
        t("share_on_time", lang): table["share_on_time"],
    })


def overdue_sites(status: pd.DataFrame, townships: dict[str, str], lang: str) -> pd.DataFrame:
    """Overdue high-risk sites: name, id, kind, township, last inspected, due."""
    return pd.DataFrame({
        t("site", lang): status["name"],
        t("site_id", lang): status["site_id"],
        t("site_kind", lang): status["kind"].map(lambda k: site_kind(k, lang)),
        t("township", lang): _named(status["township_code"], townships),
        t("last_inspected", lang): _date(status["last_inspected"], t("never", lang)),
        t("due", lang): _date(status["due"], t("at_once", lang)),
    })


def hot_spots(spots: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Hot-spot cells by their centre (WGS84) instead of their H3 id."""
    centres = [h3.cell_to_latlng(c) for c in spots["cell"]]
    return pd.DataFrame({
        t("cell_centre", lang): [f"{lat:.4f}, {lon:.4f}" for lat, lon in centres],
        t("cases_n", lang): spots["count"].to_numpy(),
        t("expected_n", lang): spots["expected"].round(1).to_numpy(),
        t("p_value", lang): spots["p"].map(lambda p: f"{p:.1e}").to_numpy(),
    })


def repeat_sites(counts: pd.Series, sites: dict[str, str], lang: str) -> pd.DataFrame:
    """Sites with repeated cases (`geo.coverage.repeat_sites`), named."""
    return pd.DataFrame({
        t("site", lang): [sites.get(s, s) for s in counts.index],
        t("site_id", lang): list(counts.index),
        t("cases_n", lang): counts.to_numpy(),
    })


def evaluation(frame: pd.DataFrame, townships: dict[str, str], matters: dict[str, str],
               lang: str) -> pd.DataFrame:
    """The empowerment evaluation per township and delegated matter, named."""
    said = {True: t("yes", lang), False: t("no", lang)}
    return pd.DataFrame({
        t("township", lang): _named(frame["township_code"], townships),
        t("matter", lang): _named(frame["matter_code"], matters),
        t("handled_n", lang): frame["handled"],
        t("returned_n", lang): frame["returned"],
        t("median_days", lang): frame["median_days_to_close"].round(1),
        t("never_used", lang): frame["never_used"].map(said),
        t("often_returned", lang): frame["often_returned"].map(said),
    })


def show(frame: pd.DataFrame, lang: str, percent: tuple[str, ...] = ()) -> None:
    """The table, with the columns labelled ``percent`` as percentages and missing values
    as ``-`` (`geo.app.labels.cells`)."""
    st.dataframe(cells(frame), hide_index=True, column_config={
        t(key, lang): st.column_config.NumberColumn(**PERCENT) for key in percent})
