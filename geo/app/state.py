"""Shared, cached resources of the Streamlit app: settings, database, layers, catalogue."""

from __future__ import annotations

import streamlit as st

from geo import store
from geo.app.labels import LANGUAGES
from geo.settings import Settings


def settings() -> Settings:
    return Settings.from_env()


def language() -> str:
    """The UI language chosen in the sidebar (Chinese by default)."""
    return st.session_state.get("lang", "zh")


def language_picker() -> str:
    return st.sidebar.selectbox("语言 / Language", list(LANGUAGES), format_func=LANGUAGES.get,
                                key="lang")


@st.cache_resource
def engine(url: str):
    eng = store.connect(url)
    store.create_schema(eng)
    return eng


def reference_version(eng) -> str | None:
    """Changes whenever `python -m geo init` imports reference data again."""
    if not store.has_reference(eng):
        return None
    return store.get_meta(eng).get("imported_at", "")


@st.cache_resource(max_entries=2)
def layers(url: str, version: str):
    return store.load_layers(engine(url))


@st.cache_resource(max_entries=2)
def catalog(url: str, version: str):
    return store.load_catalog(engine(url))
