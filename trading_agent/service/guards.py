"""Request guards of the HTTP service: a request-body size limit and bounded validation errors.

- :class:`BodyLimit` (pure ASGI middleware) answers **413** to a body over ``max_body_bytes``
  without holding it: a declared ``Content-Length`` over the limit is refused before the app
  runs, and a chunked body is counted as it arrives and refused at the first chunk past the
  limit. On a keep-alive connection the 413 goes out at once and uvicorn discards the rest of
  the body as it arrives. On a connection that closes after the response (HTTP/1.0 or
  ``Connection: close``, urllib's default) answering first would close the socket under a
  client still sending, which then sees a broken pipe instead of the 413; there the guard first
  discards the body chunk by chunk (at most ``DRAIN_MAX_BYTES``; memory stays at one chunk),
  unless the client waits for ``Expect: 100-continue``. Cost per request: one scan of the
  header list, a few microseconds.
- :func:`validation_detail` turns pydantic's errors into a 422 body that never echoes more than a
  short excerpt of the input (a bad 60 KiB string comes back as its first characters and its
  length) and is always encodable (NaN, infinities, lone surrogates, huge ints).
"""
from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 64 * 1024
DRAIN_MAX_BYTES = 32 * 1024 * 1024  # the most a refused body is read (and dropped) for a closing connection
EXCERPT_CHARS = 80  # the most of any one input a 422 echoes back
MAX_ERRORS_SHOWN = 20  # a body with 5,000 unknown keys is one line per key, capped here

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxdict, _repr.maxlist, _repr.maxstring, _repr.maxother, _repr.maxlong = 3, 6, 6, 40, 40, 40


def too_large_message(size: int | None, limit: int) -> str:
    what = "request body" if size is None else f"request body of {size:,} bytes"
    return f"{what} exceeds the limit of {limit:,} bytes (the service's --max-body-bytes)"


class BodyLimit:
    """413 for request bodies over ``max_body_bytes`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1, got {max_body_bytes}")
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                # the HTTP parser delivers no more than a valid length says; an invalid one it refuses
                try:
                    size = int(value)
                except ValueError:
                    break
                if size > limit:
                    if _closes_after_response(scope):
                        await _drain(receive, 0)
                    await _send_413(send, too_large_message(size, limit))
                    return
                await self.app(scope, receive, send)
                return
            if name == b"transfer-encoding":
                chunked = True
        if not chunked:  # no body at all (most GETs): nothing to count
            await self.app(scope, receive, send)
            return
        # a chunked body, length unknown: count what arrives
        await self.app(scope, _counting(receive, limit, _closes_after_response(scope)), send)


def _closes_after_response(scope: Scope) -> bool:
    """Whether uvicorn closes this connection right after the response (and the client is
    not waiting for a 100 Continue before sending its body)."""
    closes = scope.get("http_version") == "1.0"
    for name, value in scope["headers"]:
        if name == b"connection" and b"close" in value.lower():
            closes = True
        elif name == b"expect" and value.lower() == b"100-continue":
            return False
    return closes


async def _drain(receive: Receive, received: int) -> None:
    """Read and drop the rest of a request body, up to ``DRAIN_MAX_BYTES`` in all."""
    while received <= DRAIN_MAX_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        received += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _counting(receive: Receive, limit: int, drain: bool) -> Receive:
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                if drain and message.get("more_body", False):
                    await _drain(receive, received)
                # raised inside FastAPI's body read, which passes HTTPException through: a 413
                raise HTTPException(413, too_large_message(None, limit))
        return message

    return counted


async def _send_413(send: Send, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def excerpt(value: Any) -> Any:
    """``value`` as a 422 may echo it: small scalars as they are, anything else as a short,
    encodable text (strings cut to ``EXCERPT_CHARS`` with their length, containers summarised)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN or Infinity
    if isinstance(value, int):
        if value.bit_length() <= 64:
            return value
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, str):
        text = value if len(value) <= EXCERPT_CHARS else f"{value[:EXCERPT_CHARS]}... ({len(value):,} chars)"
        return _encodable(text)
    return _encodable(_cut(_repr.repr(value)))


def _cut(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else f"{text[:EXCERPT_CHARS]}..."


def _encodable(text: str) -> str:
    """``text`` with lone surrogates (valid in a JSON string, not in UTF-8) escaped."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def validation_detail(errors: Iterable[dict]) -> list[dict]:
    """pydantic/FastAPI validation errors as a bounded, encodable 422 detail (see the module docstring)."""
    out: list[dict] = []
    errors = list(errors)
    for e in errors[:MAX_ERRORS_SHOWN]:
        item: dict[str, Any] = {"type": e.get("type"), "loc": [excerpt(p) for p in e.get("loc", ())],
                                "msg": _encodable(_cut(str(e.get("msg", ""))))}
        if "input" in e:
            item["input"] = excerpt(e["input"])
        ctx = e.get("ctx")
        if ctx:
            item["ctx"] = {str(k): excerpt(v if isinstance(v, (int, float, str, bool, type(None))) else str(v))
                           for k, v in ctx.items()}
        out.append(item)
    if len(errors) > MAX_ERRORS_SHOWN:
        out.append({"type": "too_many_errors", "loc": [], "msg": f"{len(errors) - MAX_ERRORS_SHOWN} more errors "
                                                                 "not shown"})
    return out
