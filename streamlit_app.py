"""Entry point of the Streamlit app: page navigation only."""

import streamlit as st

from geo.app import overview
from geo.app.labels import t

st.set_page_config(page_title=t("app_title"), layout="wide")
st.navigation([st.Page(overview.render, title=t("overview"), url_path="overview",
                       default=True)]).run()
