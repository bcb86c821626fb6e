"""The demo's users, one per role, and a demo source. Their passwords are public (README):
for the bundled demo only; a real deployment adds its own with ``python -m geo users add``."""

from __future__ import annotations

from sqlalchemy import Engine

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
        add_user(engine, username, name, role, township=township, body=body,
                 password=password)
    return [u[0] for u in DEMO_USERS]
