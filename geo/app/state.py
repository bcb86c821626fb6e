"""Shared, cached resources of the Streamlit app: settings, database, layers, catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from geo import store
from geo.access import Scope
from geo.app.labels import LANGUAGES, t
from geo.app.safe import md
from geo.crs import metric_crs_of
from geo.roads import RoadGraph
from geo.settings import Settings


def settings() -> Settings:
    return Settings.from_env()


def language() -> str:
    """The UI language chosen in the sidebar (Chinese by default)."""
    return st.session_state.get("lang", "zh")


def working(page: str):
    """The spinner a page shows while it works (``working_<page>`` label, in the user's
    language), as a context manager around its rendering."""
    return st.spinner(t(f"working_{page}", language()))


def language_picker() -> str:
    return st.sidebar.selectbox("语言 / Language", list(LANGUAGES), format_func=LANGUAGES.get,
                                key="lang")


@st.cache_resource(show_spinner=False)
def engine(url: str):
    eng = store.connect(url)
    store.migrate(eng)
    return eng


def reference_version(eng) -> str | None:
    """Changes whenever `python -m geo init` imports reference data again."""
    if not store.has_reference(eng):
        return None
    return store.get_meta(eng).get("imported_at", "")


#: reads the shared reference layers (township and unit boundaries, roads) and catalogues,
#: which every signed-in role may read; never sites, teams or cases
REFERENCE = Scope("planner", actor="app")


@st.cache_resource(max_entries=64, show_spinner=False)
def layers(url: str, version: str, scope: Scope):
    """The layer set as ``scope`` may read it (its own sites and teams), per import."""
    return store.load_layers(engine(url), scope=scope)


@st.cache_resource(max_entries=2, show_spinner=False)
def metric(url: str, version: str) -> str:
    """The district's metric CRS (`geo.crs.metric_crs_of` its townships)."""
    return metric_crs_of(layers(url, version, REFERENCE).townships)


@st.cache_resource(max_entries=2, show_spinner=False)
def roads(url: str, version: str) -> RoadGraph | None:
    """The road graph of the loaded layer set, built once per import (None without roads)."""
    road_layer = layers(url, version, REFERENCE).roads
    return None if road_layer is None else RoadGraph.from_lines(road_layer,
                                                                metric(url, version))


@st.cache_resource(max_entries=2, show_spinner=False)
def catalog(url: str, version: str):
    return store.load_catalog(engine(url), scope=REFERENCE)


@st.cache_resource(max_entries=64, show_spinner=False)
def names(url: str, version: str, scope: Scope):
    """Display names by code of the bodies, townships, units, and the sites and teams
    ``scope`` may read (`geo.app.wording.Names`), per import; shared, never modified.
    Townships of earlier layer generations (merged away since) keep their names: cases
    routed before keep their township's code."""
    from geo.app.wording import Names
    from geo.store.generations import township_names

    mine = layers(url, version, scope)

    def pairs(frame, key: str) -> dict[str, str]:
        return {} if frame is None else dict(zip(frame[key], frame["name"], strict=True))

    towns = {**township_names(engine(url), scope=scope), **pairs(mine.townships, "code")}
    return Names(bodies=catalog(url, version).body_names(),
                 townships=towns, teams=pairs(mine.teams, "team_id"),
                 units=pairs(mine.units, "code"), sites=pairs(mine.sites, "site_id"))


@st.cache_resource(max_entries=2, show_spinner=False)
def routing(url: str, version: str):
    """(router, catalogue) of the loaded layer set, per import (`geo.ingest.stored_routing`)."""
    from geo.ingest import stored_routing

    return stored_routing(engine(url), settings())


@st.cache_resource(max_entries=64, ttl=60, show_spinner=False)
def user_names(url: str, scope: Scope) -> dict[str, str]:
    """Username -> display name of every user (`geo.store.accounts.user_names`), read
    again after a minute (users are added without a new import); shared, never
    modified."""
    from geo.store.accounts import user_names as stored

    return stored(engine(url), scope=scope)


def people(url: str, version: str, scope: Scope):
    """`names` with the users' display names too, for what names who did something (a
    case's timeline)."""
    from dataclasses import replace

    return replace(names(url, version, scope), users=user_names(url, scope))


SCOPE_KEY = "onemap_scope"


def sign_in(lang: str):
    """The signed-in user, whose scope every page then uses; else the sign-in form (or what
    to run first) and None. Warns, on every page, while a demo user's public password
    still signs them in."""
    from geo.app import auth
    from geo.demo.users import demo_passwords_in_use
    from geo.store.accounts import has_users, scope_of

    conf = settings()
    eng = engine(conf.database_url)
    if reference_version(eng) is None:
        st.warning(t("no_data", lang))
        return None
    if not has_users(eng):
        st.warning(t("no_users", lang))
        return None
    weak = demo_passwords_in_use(eng)
    # above the sign-in form; once signed in, in the sidebar, leaving the page its height
    warn = st.empty()
    user = auth.signed_in_user(eng, conf, lang)
    if weak:
        said = t("demo_passwords", lang).format(users=md(", ".join(weak)))
        if user is None:
            warn.warning(said)
        else:  # one line in the sidebar, the whole text on hover: the filters stay in view
            st.sidebar.markdown(":orange-badge[:material/warning: "
                                f"{t('demo_passwords_short', lang).format(n=len(weak))}]",
                                help=said)
    if user is None:
        st.session_state.pop(SCOPE_KEY, None)
        return None
    scope = st.session_state[SCOPE_KEY] = scope_of(user)
    auth.sidebar(user, eng, conf, lang,
                 names(conf.database_url, reference_version(eng), scope))
    return user


@dataclass(frozen=True)
class Page:
    """What every page needs: language, settings, database, reference-data version and the
    signed-in user's scope (which the store enforces)."""

    lang: str
    settings: Settings
    url: str
    engine: object
    version: str
    scope: Scope

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)


def open_page(title_key: str) -> Page | None:
    """Title the page; ``None`` (with a hint to run init) when no layers are loaded."""
    lang, conf = language(), settings()
    eng = engine(conf.database_url)
    st.title(t(title_key, lang))
    version = reference_version(eng)
    if version is None:
        st.warning(t("no_data", lang))
        return None
    scope = st.session_state.get(SCOPE_KEY)
    if scope is None:
        st.warning(t("sign_in_first", lang))
        return None
    if not scope.may_change:
        st.info(t("read_only", lang))
    return Page(lang, conf, conf.database_url, eng, version, scope)


def show_timeline(page: Page, case_id: int) -> None:
    """The audit entries of a case, in local time, as sentences in the user's language
    with the names of the bodies, townships and teams they refer to."""
    from geo.app.wording import describe

    known = people(page.url, page.version, page.scope)
    for e in store.case_timeline(page.engine, int(case_id), scope=page.scope):
        at = pd.Timestamp(e.at).tz_localize("UTC").tz_convert(page.tz)
        st.markdown(f"- {at:%m-%d %H:%M:%S} {describe(e, page.lang, known)}")


def show_notice(notice: tuple | None, section: str) -> None:
    """What a callback just saved in ``section`` (in place and as a toast), or why it was
    not: ``notice`` is ``(section, "success" | "error", message)`` or None."""
    if notice is None or notice[0] != section:
        return
    _, kind, message = notice
    if kind == "success":
        st.success(message)
        st.toast(message, icon=":material/check_circle:")
    else:
        st.error(message)
