"""A limit on the size of request bodies, before anything reads them.

The largest body the API needs is a batch of 1000 alerts of at most 4,000 characters of
description each; a body beyond `MAX_BODY_BYTES` is refused with 413 before the token is
looked up or a byte of JSON is parsed, so that no caller (with a token or without) can
make the server hold hundreds of megabytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

#: bytes of a request body: 1000 alerts of 4,000 characters (up to 3 bytes each) and more
MAX_BODY_BYTES = 16 * 1024 * 1024


class _TooLargeError(Exception):
    """The body went past the limit while the app read it."""


class BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes (declared or streamed).

    Parameters
    ----------
    app
        The ASGI app.
    limit : int, default `MAX_BODY_BYTES`
        Bytes of a request body at most.
    larger : sequence of (str, int), default ()
        Paths (regular expressions) whose bodies may have another limit, e.g. uploads of
        evidence (the first that matches counts).
    """

    def __init__(self, app, limit: int = MAX_BODY_BYTES,
                 larger: Sequence[tuple[str, int]] = ()):
        self.app = app
        self.limit = limit
        self.larger = [(re.compile(path), bytes_) for path, bytes_ in larger]

    def _limit(self, path: str) -> int:
        return next((n for pattern, n in self.larger if pattern.match(path)), self.limit)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self._limit(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await self._refuse(send, limit)
        seen = 0
        over = False
        started = False

        async def counted():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # never handle a cut-off body: stop the app here
                    over = True
                    raise _TooLargeError
            return message

        async def sending(message):
            nonlocal started
            if not over:
                started = started or message["type"] == "http.response.start"
                await send(message)
            elif message["type"] == "http.response.start" and not started:
                started = True  # the app's answer to the error it was raised is replaced
                await self._refuse(send, limit)

        try:
            await self.app(scope, counted, sending)
        except _TooLargeError:
            if not started:
                await self._refuse(send, limit)

    async def _refuse(self, send, limit: int) -> None:
        advice = "" if limit != self.limit else "; send at most 1000 alerts a request"
        body = json.dumps({"detail": f"request body over {limit / (1024 * 1024):.3g} MB"
                                     f"{advice}"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
