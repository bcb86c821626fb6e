"""总览: townships with their open cases, and the routed cases with their reasons."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from geo import store
from geo.app.labels import LANGUAGES, t
from geo.settings import Settings


@st.cache_resource
def _engine(url: str):
    engine = store.connect(url)
    store.create_schema(engine)
    return engine


def render() -> None:
    lang = st.sidebar.selectbox(t("language"), list(LANGUAGES), format_func=LANGUAGES.get,
                                key="lang")
    st.title(t("app_title", lang))
    settings = Settings.from_env()
    engine = _engine(settings.database_url)
    if not store.has_reference(engine):
        st.warning(t("no_data", lang))
        return
    layers = store.load_layers(engine)
    with store.sessions(engine)() as s:
        cases = store.query_cases(s)
    frame = pd.DataFrame([{
        t("case_id", lang): c.id, t("opened_at", lang): c.opened_at,
        t("status", lang): c.status, t("township", lang): c.township_name,
        t("unit", lang): c.unit_code, t("body", lang): c.body_code,
        t("matter", lang): c.matter_code, t("flags", lang): c.flags,
        t("reasons", lang): "；".join(c.reasons), "_code": c.township_code,
    } for c in cases])
    townships = layers.townships[["code", "name"]].copy()
    counts = frame["_code"].value_counts() if len(frame) else pd.Series(dtype=int)
    townships[t("open_cases", lang)] = townships["code"].map(counts).fillna(0).astype(int)
    st.subheader(t("townships", lang))
    st.dataframe(townships.rename(columns={"code": t("code", lang), "name": t("name", lang)}),
                 hide_index=True)
    st.subheader(t("cases", lang))
    names = dict(zip(townships["code"], townships["name"], strict=True))
    choice = st.selectbox(t("filter_township", lang), ["", *names],
                          format_func=lambda c: names.get(c, t("all", lang)))
    if choice and len(frame):
        frame = frame[frame["_code"] == choice]
    st.caption(f"{len(frame)} {t('cases', lang)}")
    st.dataframe(frame.drop(columns="_code") if len(frame) else frame, hide_index=True)
    st.caption(f"{t('layers_source', lang)}: {store.get_meta(engine).get('layers_source', '-')}")
