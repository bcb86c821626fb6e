"""Users (roles, scopes, passwords, API tokens) and alert sources (tokens, rate limits).

Passwords are bcrypt hashes. API tokens are 256-bit random strings shown once and stored as
SHA-256 hashes: a fast hash suffices for random tokens and keeps the API quick.
"""

from __future__ import annotations

import hashlib
import secrets

import bcrypt
from limits import parse as parse_rate_limit
from sqlalchemy import Engine, select

from geo.access import Scope
from geo.crs import CRSInputError, parse_crs
from geo.store import sessions
from geo.store.models import Body, Source, Township, User


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    if len(password) < 8 or len(password.encode()) > 72:
        raise ValueError("a password needs 8 to 72 bytes")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def check_password(password: str, hashed: str | None) -> bool:
    return bool(hashed) and bcrypt.checkpw(password.encode(), hashed.encode())


def scope_of(user: User) -> Scope:
    """The scope of a stored user."""
    return Scope(user.role, township=user.township_code, body=user.body_code,
                 actor=user.username)


def add_user(engine: Engine, username: str, name: str, role: str, *,
             township: str | None = None, body: str | None = None,
             password: str | None = None, email: str | None = None) -> User:
    """Create or update a user; the role's scope must name a loaded township or body.

    Raises ValueError naming the field at fault.
    """
    if not username or not username.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"username {username!r}: letters, digits, - and _ only")
    Scope(role, township=township, body=body)  # validates role and its scope
    with sessions(engine).begin() as s:
        if township and s.get(Township, township) is None:
            raise ValueError(f"township {township!r} is not a loaded township code")
        if body and s.get(Body, body) is None:
            raise ValueError(f"body {body!r} is not a loaded body code")
        user = s.get(User, username) or User(username=username)
        user.name, user.role, user.email = name, role, email
        user.township_code = township if role == "township" else None
        user.body_code = body if role == "dispatcher" else None
        if password is not None:
            user.password_hash = hash_password(password)
        user.active = True
        s.add(user)
    return user


def issue_user_token(engine: Engine, username: str) -> str:
    """A new API token for a user (the old one stops working); shown once."""
    token = new_token()
    with sessions(engine).begin() as s:
        user = s.get(User, username)
        if user is None:
            raise LookupError(f"no user {username!r}")
        user.token_hash = hash_token(token)
    return token


def add_source(engine: Engine, code: str, name: str, rate_limit: str = "20/second",
               crs: str = "EPSG:4326") -> str:
    """Create a source, or give an existing one a new token; returns the token (shown once).

    ``rate_limit`` is a `limits` expression such as ``20/second`` or ``1000/minute``;
    ``crs`` is the CRS its coordinates are in (``gcj02`` for phone map apps).
    """
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
    return token


def user_by_token(engine: Engine, token: str) -> User | None:
    with sessions(engine)() as s:
        return s.scalar(select(User).where(User.token_hash == hash_token(token),
                                           User.active.is_(True)))


def source_by_token(engine: Engine, token: str) -> Source | None:
    with sessions(engine)() as s:
        return s.scalar(select(Source).where(Source.token_hash == hash_token(token),
                                             Source.active.is_(True)))


def get_user(engine: Engine, username: str) -> User | None:
    with sessions(engine)() as s:
        user = s.get(User, username)
        return user if user is not None and user.active else None


def list_users(engine: Engine) -> list[User]:
    with sessions(engine)() as s:
        return list(s.scalars(select(User).order_by(User.username)))




def user_by_email(engine: Engine, email: str) -> User | None:
    """The active user with this e-mail (an OIDC sign-in), if any."""
    if not email:
        return None
    with sessions(engine)() as s:
        return s.scalar(select(User).where(User.email == email, User.active.is_(True)))
