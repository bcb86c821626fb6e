"""Sign-in for the app: users of the store with bcrypt passwords (streamlit-authenticator),
or single sign-on through ``st.login`` when an ``[auth]`` section is configured in
``.streamlit/secrets.toml`` (the OIDC account's e-mail must belong to a stored user).

The signed-in username is kept in the (server-side) session; every page reads the user's
scope from it and passes it to the store, which enforces it.
"""

from __future__ import annotations

import secrets

import streamlit as st

from geo.app.labels import t
from geo.app.safe import md
from geo.settings import Settings
from geo.store import accounts

USER_KEY = "onemap_user"
_PROCESS_KEY = secrets.token_hex(32)


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _authenticator(engine, settings: Settings):
    import streamlit_authenticator as stauth

    credentials = {"usernames": {
        u.username: {"name": u.name, "password": u.password_hash, "email": u.email or "",
                     "roles": [u.role]}
        for u in accounts.list_users(engine) if u.active and u.password_hash}}
    return stauth.Authenticate(credentials, "onemap_auth", settings.cookie_key or _PROCESS_KEY,
                               cookie_expiry_days=1, auto_hash=False)


def signed_in_user(engine, settings: Settings, lang: str):
    """The signed-in, active user; else shows the sign-in form and returns None."""
    username = st.session_state.get(USER_KEY)
    if username:
        user = accounts.get_user(engine, username)
        if user is not None:
            return user
        del st.session_state[USER_KEY]  # deactivated or removed meanwhile
    if _oidc_configured():
        if not st.user.is_logged_in:
            st.button(t("sign_in_oidc", lang), on_click=st.login)
            return None
        user = accounts.user_by_email(engine, st.user.get("email") or "")
        if user is None:
            st.error(t("not_registered", lang))
            return None
    else:
        auth = _authenticator(engine, settings)
        auth.login(location="main", fields={
            "Form name": t("sign_in", lang), "Username": t("username", lang),
            "Password": t("password", lang), "Login": t("sign_in", lang)})
        status = st.session_state.get("authentication_status")
        if status is False:
            st.error(t("login_failed", lang))
        if not status:
            return None
        user = accounts.get_user(engine, st.session_state.get("username") or "")
        if user is None:
            return None
    st.session_state[USER_KEY] = user.username
    return user


def sign_out(engine, settings: Settings, lang: str) -> None:
    """Forget the user of this session (and the sign-in cookie or the OIDC session)."""
    st.session_state.pop(USER_KEY, None)
    if _oidc_configured():
        st.logout()
    else:
        _authenticator(engine, settings).logout(location="unrendered")


def sidebar(user, engine, settings: Settings, lang: str) -> None:
    """Who is signed in, in what role and scope, and a sign-out button."""
    scope = accounts.scope_of(user)
    where = scope.township or scope.body or ""
    st.sidebar.caption(f"{t('signed_in_as', lang)}: {md(user.name)} ({md(user.username)}) · "
                       f"{t('role_' + user.role, lang)} {md(where, '')}")
    if st.sidebar.button(t("sign_out", lang), key="sign_out"):
        sign_out(engine, settings, lang)
        st.rerun()

