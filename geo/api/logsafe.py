"""Logs without secrets: a logging filter that blots out API tokens, and the server's
logging configuration that puts it on every handler.

Open311 clients send their token as ``api_key``, which may be in the query string; the
server's access log writes each request line, query string included. The filter replaces
the value of every ``api_key`` (and ``access_token``, ``token``) parameter and of every
``Bearer`` credential with ``***`` in each record's message and arguments, before any
handler formats it.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

#: what is replaced: the value of a token parameter in a URL or form, a Bearer credential,
#: and anything shaped like one of our tokens (43 URL-safe characters: `new_token`) wherever
#: it is, such as a token pasted into a URL's path
SECRET = re.compile(
    r"(?i)(?P<key>(?:\b|_)(?:api_key|access_token|token)(?:=|%3D))[^&\s\"'#;]+"
    r"|(?P<bearer>\bbearer\s+)[A-Za-z0-9._~+/=-]+"
    r"|(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
HIDDEN = "***"


def redact(text: str) -> str:
    """``text`` with every token value replaced by ``***``."""
    return SECRET.sub(lambda m: (m.group("key") or m.group("bearer") or "") + HIDDEN, text)


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    """Blots out token values in a record's message, arguments and ``color_message``
    (uvicorn's coloured variant); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        colored = record.__dict__.get("color_message")
        if isinstance(colored, str):
            record.color_message = redact(colored)
        return True


def server_log_config() -> dict:
    """uvicorn's logging configuration with `RedactSecrets` on every handler (the access
    log and the server's own), and warnings of every other logger (the application's)
    written through the same filtered handler instead of Python's bare last resort."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": f"{__name__}.RedactSecrets"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_secrets")
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config
