"""Users (roles, scopes, passwords, API tokens), alert sources (tokens, rate limits) and
the app's sign-ins.

Passwords are bcrypt hashes. API tokens are 256-bit random strings shown once and stored as
SHA-256 hashes: a fast hash suffices for random tokens and keeps the API quick. A token is
looked up in the store on every request (`token_holder`), so a disabled, deleted or renewed
token stops working on the very next request, in every process.

A sign-in to the app is a random value in the browser's cookie whose hash is a row of
``sign_ins`` (`open_sign_in`, `signed_in_user`, `close_sign_in`): signing out deletes the
row, and disabling or deleting a user or changing their password deletes all of theirs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import bcrypt
from limits import parse as parse_rate_limit
from sqlalchemy import Engine, bindparam, delete, literal_column, null, select, union_all
from sqlalchemy.engine import Compiled

from geo.access import Scope
from geo.crs import CRSInputError, parse_crs
from geo.store import audit, sessions
from geo.store.models import Body, SignIn, Source, Township, User, utcnow

#: days a sign-in to the app lasts (its cookie expires with it)
SIGN_IN_DAYS = 1.0


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    if len(password) < 8 or len(password.encode()) > 72:
        raise ValueError("a password needs 8 to 72 bytes")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


#: compared against when a username is unknown, so that the answer takes as long
_NO_ONE = bcrypt.hashpw(b"no such user", bcrypt.gensalt()).decode()


def check_password(password: str, hashed: str | None) -> bool:
    """Whether ``password`` matches the bcrypt hash ``hashed`` (False without a hash; as
    slow either way, so that timing tells nothing)."""
    if len(password.encode()) > 72:  # bcrypt refuses longer; no stored password is
        return False
    ok = bcrypt.checkpw(password.encode(), (hashed or _NO_ONE).encode())
    return ok and bool(hashed)


def scope_of(user: User) -> Scope:
    """The scope of a stored user."""
    return Scope(user.role, township=user.township_code, body=user.body_code,
                 actor=user.username)


def add_user(engine: Engine, username: str, name: str, role: str, *,
             township: str | None = None, body: str | None = None,
             password: str | None = None, email: str | None = None,
             scope: Scope) -> User:
    """Create or update a user (an administrator's change, audited); the role's scope must
    name a loaded township or body.

    Raises ValueError naming the field at fault.
    """
    scope.require("accounts", "change")
    if not username or not username.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"username {username!r}: letters, digits, - and _ only")
    Scope(role, township=township, body=body)  # validates role and its scope
    with sessions(engine).begin() as s:
        if township and s.get(Township, township) is None:
            raise ValueError(f"township {township!r} is not a loaded township code")
        if body and s.get(Body, body) is None:
            raise ValueError(f"body {body!r} is not a loaded body code")
        user = s.get(User, username)
        if user is None:  # a new user is active; an existing one keeps its state
            user = User(username=username, active=True)
        user.name, user.role, user.email = name, role, email
        user.township_code = township if role == "township" else None
        user.body_code = body if role == "dispatcher" else None
        if password is not None:
            user.password_hash = hash_password(password)
            _end_sign_ins(s, username)
        s.add(user)
        audit(s, scope.actor, "user", username, "put", detail=role)
    return user


def _user(s, username: str) -> User:
    user = s.get(User, username)
    if user is None:
        raise LookupError(f"no user {username!r} (see `python -m geo users list`)")
    return user


def _end_sign_ins(s, username: str) -> None:
    s.execute(delete(SignIn).where(SignIn.username == username))


def set_password(engine: Engine, username: str, password: str, *, scope: Scope) -> None:
    """Change a user's password; their sign-ins to the app end.

    Raises LookupError for an unknown user, ValueError for a password that is too short
    or too long.
    """
    scope.require("accounts", "change")
    hashed = hash_password(password)
    with sessions(engine).begin() as s:
        _user(s, username).password_hash = hashed
        _end_sign_ins(s, username)
        audit(s, scope.actor, "user", username, "password")


def set_user_active(engine: Engine, username: str, active: bool, *, scope: Scope) -> None:
    """Enable or disable a user. A disabled user's API token is refused from the next
    request on and their sign-ins to the app end; enabling brings back the same password
    and token. Raises LookupError for an unknown user."""
    scope.require("accounts", "change")
    with sessions(engine).begin() as s:
        _user(s, username).active = active
        if not active:
            _end_sign_ins(s, username)
        audit(s, scope.actor, "user", username, "enable" if active else "disable")


def delete_user(engine: Engine, username: str, *, scope: Scope) -> None:
    """Delete a user with their password, token and sign-ins (what they did stays in the
    cases' history under their name). Raises LookupError for an unknown user."""
    scope.require("accounts", "change")
    with sessions(engine).begin() as s:
        user = _user(s, username)
        _end_sign_ins(s, username)
        s.delete(user)
        audit(s, scope.actor, "user", username, "delete")


def issue_user_token(engine: Engine, username: str, *, scope: Scope) -> str:
    """A new API token for a user (the old one stops working); shown once."""
    scope.require("accounts", "change")
    token = new_token()
    with sessions(engine).begin() as s:
        user = s.get(User, username)
        if user is None:
            raise LookupError(f"no user {username!r}")
        user.token_hash = hash_token(token)
        audit(s, scope.actor, "user", username, "token")
    return token


def add_source(engine: Engine, code: str, name: str, rate_limit: str = "20/second",
               crs: str = "EPSG:4326", *, scope: Scope) -> str:
    """Create a source, or give an existing one a new token; returns the token (shown once).

    ``rate_limit`` is a `limits` expression such as ``20/second`` or ``1000/minute``;
    ``crs`` is the CRS its coordinates are in (``gcj02`` for phone map apps).
    """
    scope.require("accounts", "change")
    if not code or len(code) > 40:
        raise ValueError(f"source code {code!r}: 1 to 40 characters")
    try:
        parse_rate_limit(rate_limit)
    except ValueError:
        raise ValueError(f"rate limit {rate_limit!r} is not like 20/second") from None
    try:
        crs_text = parse_crs(crs)
    except CRSInputError as exc:
        raise ValueError(f"crs: {exc}") from None
    token = new_token()
    with sessions(engine).begin() as s:
        source = s.get(Source, code) or Source(code=code)
        source.name, source.rate_limit, source.crs = name, rate_limit, crs_text
        source.token_hash, source.active = hash_token(token), True
        s.add(source)
        audit(s, scope.actor, "source", code, "put", detail=f"{rate_limit} {crs_text}")
    return token


def _source(s, code: str) -> Source:
    source = s.get(Source, code)
    if source is None:
        raise LookupError(f"no source {code!r}")
    return source


def set_source_active(engine: Engine, code: str, active: bool, *, scope: Scope) -> None:
    """Enable or disable a source: a disabled source's token is refused from the next
    request on (`add_source` gives it a new token and enables it again). Raises
    LookupError for an unknown source."""
    scope.require("accounts", "change")
    with sessions(engine).begin() as s:
        _source(s, code).active = active
        audit(s, scope.actor, "source", code, "enable" if active else "disable")


def delete_source(engine: Engine, code: str, *, scope: Scope) -> None:
    """Delete a source and its token; the alerts it posted stay, under its code. Raises
    LookupError for an unknown source."""
    scope.require("accounts", "change")
    with sessions(engine).begin() as s:
        s.delete(_source(s, code))
        audit(s, scope.actor, "source", code, "delete")


@dataclass(frozen=True)
class TokenHolder:
    """Who holds an API token: an active user (``scope``) or an active source (``source``
    with its ``crs`` and ``rate_limit``)."""

    scope: Scope | None = None
    source: str | None = None
    crs: str = "EPSG:4326"
    rate_limit: str = ""


_HOLDER = union_all(
    select(literal_column("'user'").label("kind"), User.username.label("name"), User.role,
           User.township_code, User.body_code, literal_column("''").label("crs"),
           literal_column("''").label("rate_limit"))
    .where(User.token_hash == bindparam("hashed"), User.active.is_(True)),
    select(literal_column("'source'"), Source.code, literal_column("''"), null(), null(),
           Source.crs, Source.rate_limit)
    .where(Source.token_hash == bindparam("hashed"), Source.active.is_(True)))
#: `_HOLDER` compiled for each dialect, once
_COMPILED: dict[str, Compiled] = {}


def token_holder(engine: Engine, token: str) -> TokenHolder | None:
    """The active user or source whose API token is ``token``, else None.

    One indexed query over users and sources, run on every request: a disabled, deleted
    or renewed token is refused from the next request on, in every process. It goes to a
    pooled driver connection directly, the statement compiled once per dialect: a quarter
    of the time through a SQLAlchemy connection (about 50 instead of 200 µs on SQLite).
    """
    compiled = _COMPILED.get(engine.dialect.name)
    if compiled is None:
        compiled = _COMPILED[engine.dialect.name] = _HOLDER.compile(dialect=engine.dialect)
    params = compiled.construct_params({"hashed": hash_token(token)})
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    conn = engine.raw_connection()
    try:
        cursor = conn.cursor()
        cursor.execute(str(compiled), params)
        row = cursor.fetchone()
        cursor.close()
    finally:
        conn.close()  # back to the pool, rolled back
    if row is None:
        return None
    kind, name, role, township, body, crs, rate_limit = row
    if kind == "user":
        return TokenHolder(Scope(role, township=township, body=body, actor=name))
    return TokenHolder(None, name, crs, rate_limit)


def user_by_token(engine: Engine, token: str) -> User | None:
    with sessions(engine)() as s:
        return s.scalar(select(User).where(User.token_hash == hash_token(token),
                                           User.active.is_(True)))


def source_by_token(engine: Engine, token: str) -> Source | None:
    with sessions(engine)() as s:
        return s.scalar(select(Source).where(Source.token_hash == hash_token(token),
                                             Source.active.is_(True)))


def find_user(engine: Engine, username: str) -> User | None:
    """The user ``username``, enabled or not."""
    with sessions(engine)() as s:
        return s.get(User, username)


def get_user(engine: Engine, username: str) -> User | None:
    with sessions(engine)() as s:
        user = s.get(User, username)
        return user if user is not None and user.active else None


def list_users(engine: Engine, *, scope: Scope) -> list[User]:
    """Every user, by username (an administrator's read)."""
    scope.require("accounts", "read")
    with sessions(engine)() as s:
        return list(s.scalars(select(User).order_by(User.username)))


def user_names(engine: Engine, *, scope: Scope) -> dict[str, str]:
    """Username -> display name of every user (enabled or not): who acted on a case, as
    its timeline names them. For whoever may read cases.

    Raises
    ------
    AccessDeniedError
        Where ``scope``'s role may not read cases.
    """
    scope.require("cases", "read")
    with sessions(engine)() as s:
        return {username: name for username, name in s.execute(
            select(User.username, User.name))}


def has_users(engine: Engine) -> bool:
    """Whether any user is stored (asked before anyone has signed in)."""
    with sessions(engine)() as s:
        return s.scalar(select(User.username).limit(1)) is not None


def list_sources(engine: Engine, *, scope: Scope) -> list[Source]:
    """Every source, by code (an administrator's read)."""
    scope.require("accounts", "read")
    with sessions(engine)() as s:
        return list(s.scalars(select(Source).order_by(Source.code)))


def sign_in_with_password(engine: Engine, username: str, password: str) -> User | None:
    """The active user ``username`` if ``password`` is theirs, else None (as slow for an
    unknown user as for a wrong password)."""
    user = get_user(engine, username) if username else None
    ok = check_password(password, user.password_hash if user is not None else None)
    return user if ok else None


def open_sign_in(engine: Engine, username: str, days: float = SIGN_IN_DAYS
                 ) -> tuple[str, dt.datetime]:
    """Record a sign-in of ``username`` to the app; returns the value for the browser's
    cookie (random, shown only to that browser) and when it expires (naive UTC).

    Expired sign-ins of every user are removed on the way.
    """
    value = new_token()
    now = utcnow()
    expires = now + dt.timedelta(days=days)
    with sessions(engine).begin() as s:
        _user(s, username)
        s.execute(delete(SignIn).where(SignIn.expires_at < now))
        s.add(SignIn(id_hash=hash_token(value), username=username, created_at=now,
                     expires_at=expires))
    return value, expires


def signed_in_user(engine: Engine, value: str | None) -> User | None:
    """The active user of an unexpired sign-in whose cookie holds ``value``, else None."""
    if not value:
        return None
    with sessions(engine)() as s:
        return s.scalar(select(User).join(SignIn, SignIn.username == User.username).where(
            SignIn.id_hash == hash_token(value), SignIn.expires_at > utcnow(),
            User.active.is_(True)))


def close_sign_in(engine: Engine, value: str | None) -> None:
    """End the sign-in whose cookie holds ``value`` (nothing if there is none)."""
    if value:
        with sessions(engine).begin() as s:
            s.execute(delete(SignIn).where(SignIn.id_hash == hash_token(value)))


def user_by_email(engine: Engine, email: str) -> User | None:
    """The active user with this e-mail (an OIDC sign-in), if any."""
    if not email:
        return None
    with sessions(engine)() as s:
        return s.scalar(select(User).where(User.email == email, User.active.is_(True)))
