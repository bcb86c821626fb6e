"""Sign-in for the app: users of the store with bcrypt passwords, or single sign-on through
``st.login`` when an ``[auth]`` section is configured in ``.streamlit/secrets.toml`` (the
OIDC account's e-mail must belong to a stored user).

A password sign-in is recorded in the store (`geo.store.accounts.open_sign_in`) and its
random value kept in the browser's ``onemap_auth`` cookie, so that a reload or a new tab
stays signed in. The cookie is valid only while the store holds its sign-in: signing out
deletes it there (and the cookie in the browser), as do disabling or deleting the user and
changing their password. Failed sign-ins are throttled per username (`geo.throttle`).

The signed-in username is kept in the (server-side) session; every page reads the user's
scope from it and passes it to the store, which enforces it.
"""

from __future__ import annotations

import datetime as dt
import math
from email.utils import format_datetime

import streamlit as st

from geo.app.labels import t
from geo.app.safe import md
from geo.settings import Settings
from geo.store import accounts
from geo.throttle import SignInThrottle

USER_KEY = "onemap_user"
#: the cookie value of this session's password sign-in (ended at sign-out)
SIGN_IN_KEY = "onemap_sign_in"
#: what the browser's cookie is to become: ("set", value, expires) or ("delete",)
COOKIE_JOB_KEY = "onemap_cookie_job"
COOKIE = "onemap_auth"
#: failed sign-ins of the whole server process, per username
THROTTLE = SignInThrottle()


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _browser_cookie() -> None:
    """Set or delete the sign-in cookie in the browser, as this session last decided.

    Streamlit cannot send a cookie with its answers, so a script in the page writes it:
    an empty HTML element in the sidebar (``st.html`` with its script allowed: the text is
    ours, the cookie value random), whose script runs once the script run's output
    reaches the browser, and which sends nothing back (no rerun, which would disturb the
    page being drawn). It is rendered on every run of the session (the same element again
    changes nothing), so that a rerun right after it cannot lose it.
    """
    job = st.session_state.get(COOKIE_JOB_KEY)
    if job is None:
        return
    import json

    if job[0] == "set":
        expires = format_datetime(job[2], usegmt=True)
        cookie = f"{COOKIE}={job[1]}; Path=/; Expires={expires}; SameSite=Strict"
    else:
        cookie = f"{COOKIE}=; Path=/; Max-Age=0; SameSite=Strict"
    st.sidebar.html(f"<script>document.cookie = {json.dumps(cookie)};</script>",
                    unsafe_allow_javascript=True)


def _cookie_value() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # no browser connection (a bare script run)
        return None
    return value if isinstance(value, str) and value else None


def signed_in_user(engine, settings: Settings, lang: str):
    """The signed-in, active user; else shows the sign-in form and returns None."""
    _browser_cookie()
    if st.session_state.get(USER_KEY):
        user = _session_user(engine)
        if user is not None:
            return user
        _forget()  # signed out elsewhere, disabled, deleted or given a new password
    if _oidc_configured():
        if not st.user.is_logged_in:
            st.button(t("sign_in_oidc", lang), on_click=st.login)
            return None
        user = accounts.user_by_email(engine, st.user.get("email") or "")
        if user is None:
            st.error(t("not_registered", lang))
            return None
        st.session_state[USER_KEY] = user.username
        return user
    value = _cookie_value()
    user = accounts.signed_in_user(engine, value)
    if user is None:
        user = _password_form(engine, lang)
        if user is None:
            return None
        value, expires = accounts.open_sign_in(engine, user.username)
        st.session_state[COOKIE_JOB_KEY] = ("set", value, expires.replace(
            microsecond=0, tzinfo=dt.UTC))
        st.session_state[USER_KEY] = user.username
        st.session_state[SIGN_IN_KEY] = value
        st.rerun()  # the page without the form, the cookie written on the way
    st.session_state[USER_KEY] = user.username
    st.session_state[SIGN_IN_KEY] = value
    return user


def _session_user(engine):
    """This session's user as the store has it now: None when there is none, or when they
    were signed out elsewhere, disabled, deleted or given a new password."""
    username = st.session_state.get(USER_KEY)
    if not username:
        return None
    sign_in = st.session_state.get(SIGN_IN_KEY)
    user = (accounts.signed_in_user(engine, sign_in) if sign_in
            else accounts.get_user(engine, username))
    return user if user is not None and user.username == username else None


def current_scope(engine):
    """The scope of `_session_user` (None without one); shows nothing. For views that
    refresh themselves without a full run of the app."""
    user = _session_user(engine)
    return None if user is None else accounts.scope_of(user)


def _password_form(engine, lang: str):
    """The sign-in form; the user once their password is right, else None (with the reason
    shown when the form was sent)."""
    with st.form("onemap_sign_in_form"):
        st.subheader(t("sign_in", lang))
        username = st.text_input(t("username", lang), autocomplete="username")
        password = st.text_input(t("password", lang), type="password",
                                 autocomplete="current-password")
        sent = st.form_submit_button(t("sign_in", lang))
    if not sent:
        return None
    user, wait = check_sign_in(engine, username, password)
    if user is None:
        st.error(t("sign_in_locked", lang).format(seconds=math.ceil(wait)) if wait
                 else t("login_failed", lang))
    return user


def check_sign_in(engine, username: str, password: str):
    """(the user, 0) when ``password`` is theirs, else (None, seconds the username is now
    locked). The attempt is counted before the password is checked (`SignInThrottle.
    attempt`): sign-ins sent together from many sessions get no more tries than one by
    one."""
    username = username.strip()
    wait = THROTTLE.attempt(username)
    if wait > 0:
        return None, wait
    user = accounts.sign_in_with_password(engine, username, password)
    if user is None:
        return None, THROTTLE.locked_for(username)
    THROTTLE.succeeded(username)
    return user, 0.0


def _forget() -> None:
    for key in (USER_KEY, SIGN_IN_KEY):
        st.session_state.pop(key, None)


def sign_out(engine, settings: Settings, lang: str) -> None:
    """End this session's sign-in: in the store (so that the cookie no longer signs anyone
    in, whatever the browser kept) and in the browser (the cookie is deleted); or the OIDC
    session."""
    values = {st.session_state.get(SIGN_IN_KEY), _cookie_value()} - {None}
    _forget()
    oidc = _oidc_configured()
    if not oidc:
        st.session_state[COOKIE_JOB_KEY] = ("delete",)
    for value in values:
        accounts.close_sign_in(engine, value)
    if oidc:
        st.logout()


def sidebar(user, engine, settings: Settings, lang: str, names=None) -> None:
    """Who is signed in, in what role and scope (their township's or body's name, from
    ``names``: `geo.app.wording.Names`), and a sign-out button."""
    scope = accounts.scope_of(user)
    if scope.township:
        where = names.townships.get(scope.township, scope.township) if names else scope.township
    elif scope.body:
        where = names.bodies.get(scope.body, scope.body) if names else scope.body
    else:
        where = ""
    st.sidebar.caption(f"{t('signed_in_as', lang)}: {md(user.name)} ({md(user.username)}) · "
                       f"{t('role_' + user.role, lang)} {md(where, '')}")
    if st.sidebar.button(t("sign_out", lang), key="sign_out"):
        sign_out(engine, settings, lang)
        st.rerun()
