"""The demo's users, one per role, and a demo source. Their passwords are public (README):
for the bundled demo database only; a real deployment adds its own with ``python -m geo
users add``, and the app warns on every page while a demo password still signs someone in.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from geo.access import SYSTEM

DEMO_USERS = (
    # username, name, role, township, body, password
    ("command", "指挥中心值班员", "command", None, None, "command-demo"),
    ("dispatcher-sc", "市场监管派遣员", "dispatcher", None, "DT-SC", "dispatcher-demo"),
    ("zhili", "织里镇执法中心", "township", "330502100000", None, "zhili-demo"),
    ("yuehe", "月河街道执法中心", "township", "330502001000", None, "yuehe-demo"),
    ("planner", "法制规划科", "planner", None, None, "planner-demo"),
    ("admin", "系统管理员", "admin", None, None, "admin-demo"),
)


def add_demo_users(engine: Engine) -> list[str]:
    """Create (or reset) the demo users; returns their usernames."""
    from geo.store.accounts import add_user

    for username, name, role, township, body, password in DEMO_USERS:
        user = add_user(engine, username, name, role, township=township, body=body,
                        password=password, scope=SYSTEM)
        _known[(user.password_hash, password)] = True  # spares this process the bcrypt
    return [u[0] for u in DEMO_USERS]


def is_demo_database(url: str) -> bool:
    """Whether ``url`` is the bundled SQLite demo database (the default
    ``data/onemap.sqlite``), the one place the demo users belong without asking."""
    from geo.settings import Settings

    demo = make_url(Settings().database_url)
    try:
        given = make_url(url)
    except Exception:  # not a database URL at all
        return False
    if given.get_backend_name() != "sqlite" or not given.database:
        return False
    return Path(given.database).resolve() == Path(demo.database).resolve()


def demo_passwords_in_use(engine: Engine) -> list[str]:
    """The active users who still sign in with their public demo password, by username.

    Each (password hash, demo password) pair is checked once per process (bcrypt is slow
    on purpose): a changed password has a new hash, so the answer is never stale.
    """
    from geo.store.accounts import list_users

    public = {u[0]: u[5] for u in DEMO_USERS}
    return [u.username for u in list_users(engine, scope=SYSTEM)
            if u.active and u.username in public and u.password_hash
            and _matches(u.password_hash, public[u.username])]


#: (password hash, demo password) -> whether they match, once per process
_known: dict[tuple[str, str], bool] = {}


def _matches(hashed: str, password: str) -> bool:
    from geo.store.accounts import check_password

    key = (hashed, password)
    if key not in _known:
        if len(_known) > 1000:
            _known.clear()
        _known[key] = check_password(password, hashed)
    return _known[key]
