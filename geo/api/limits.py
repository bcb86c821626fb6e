"""A limit on the size of request bodies, before anything reads them.

The largest body the API needs is a batch of 1000 alerts of at most 4,000 characters of
description each; a body beyond `MAX_BODY_BYTES` is refused with 413 before the token is
looked up or a byte of JSON is parsed, so that no caller (with a token or without) can
make the server hold hundreds of megabytes.
"""

from __future__ import annotations

import json

#: bytes of a request body: 1000 alerts of 4,000 characters (up to 3 bytes each) and more
MAX_BODY_BYTES = 16 * 1024 * 1024


class _TooLargeError(Exception):
    """The body went past the limit while the app read it."""


class BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes (declared or streamed)."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(send)
        seen = 0
        over = False
        started = False

        async def counted():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:  # never handle a cut-off body: stop the app here
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
                await self._refuse(send)

        try:
            await self.app(scope, counted, sending)
        except _TooLargeError:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = json.dumps({"detail": f"request body over {self.limit // (1024 * 1024)} MB; "
                                     "send at most 1000 alerts a request"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
