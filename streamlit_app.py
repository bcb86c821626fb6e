"""Entry point of the Streamlit app: page navigation only."""

import streamlit as st

from geo.app import (
    command,
    coverage_page,
    dispatch_page,
    inspections_page,
    layers_page,
    state,
)
from geo.app.labels import t

st.set_page_config(page_title=t("app_title"), layout="wide")
lang = state.language_picker()
st.navigation([
    st.Page(command.render, title=t("command", lang), url_path="command", default=True),
    st.Page(dispatch_page.render, title=t("dispatch", lang), url_path="dispatch"),
    st.Page(coverage_page.render, title=t("coverage", lang), url_path="coverage"),
    st.Page(inspections_page.render, title=t("inspections", lang), url_path="inspections"),
    st.Page(layers_page.render, title=t("layers_page", lang), url_path="layers"),
]).run()
