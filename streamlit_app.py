"""Entry point of the Streamlit app: page navigation only.

Pages are imported when first shown, so the command center opens without loading the
libraries of the other pages.
"""

import streamlit as st

from geo.app import state
from geo.app.labels import t


def command() -> None:
    from geo.app import command as page

    page.render()


def dispatch() -> None:
    from geo.app import dispatch_page as page

    page.render()


def calltaker() -> None:
    with state.working("calltaker"):  # from the import on: a cold start imports the libraries
        from geo.app import calltaker_page as page

        page.render()


def teams() -> None:
    from geo.app import teams_page as page

    page.render()


def coverage() -> None:
    with state.working("coverage"):  # from the import on: a cold start imports the libraries
        from geo.app import coverage_page as page

        page.render()


def inspections() -> None:
    with state.working("inspections"):  # from the import on: a cold start imports the libraries
        from geo.app import inspections_page as page

        page.render()


def checkups() -> None:  # issue 14: check-ups by appointment (预约体检)
    with state.working("checkups"):
        from geo.app import checkups_page as page

        page.render()


def layers() -> None:
    with state.working("layers"):  # from the import on: a cold start imports the libraries
        from geo.app import layers_page as page

        page.render()


def reform() -> None:
    with state.working("reform"):  # from the import on: a cold start imports the libraries
        from geo.app import reform_page as page

        page.render()


def handoff() -> None:  # issue 14: 两单融合, approvals → supervision → enforcement, 移送
    with state.working("handoff"):
        from geo.app import handoff_page as page

        page.render()


st.set_page_config(page_title=t("app_title"), layout="wide")
# less blank space above the page's title: operators' screens are 768 px high
st.html('<style>[data-testid="stMainBlockContainer"] {padding-top: 2.5rem;}</style>')
lang = state.language_picker()
signed_in = state.sign_in(lang) is not None
# The pages are declared before the sign-in stops the run, so that a link to a page
# (``/dispatch?case=12``) still leads there once the user has signed in.
page = st.navigation([
    st.Page(command, title=t("command", lang), url_path="command", default=True),
    st.Page(dispatch, title=t("dispatch", lang), url_path="dispatch"),
    st.Page(calltaker, title=t("calltaker", lang), url_path="calltaker"),
    st.Page(teams, title=t("teams_page", lang), url_path="teams"),
    st.Page(coverage, title=t("coverage", lang), url_path="coverage"),
    st.Page(inspections, title=t("inspections", lang), url_path="inspections"),
    st.Page(reform, title=t("reform", lang), url_path="reform"),
    st.Page(checkups, title=t("checkups", lang), url_path="checkups"),
    st.Page(layers, title=t("layers_page", lang), url_path="layers"),
    st.Page(handoff, title=t("handoff", lang), url_path="handoff"),
], position="sidebar" if signed_in else "hidden")
if not signed_in:
    st.stop()
page.run()
