"""What every request passes before it reaches a route, as one ASGI middleware.

- Size: request heads over `max_header_bytes` get 431, bodies over
  `max_body_bytes` get 413 (the body is read, up to the limit, before the app
  sees any of it).
- Text: a path, query string or form/JSON body that is not valid UTF-8 gets a
  400 naming the byte, instead of being decoded into replacement characters.
- Rate: with `rate_limit_per_minute` set, a client (by address) that asks more
  often gets 429 with `Retry-After`. Each worker process counts on its own.
- Headers: every response gets `X-Content-Type-Options: nosniff`; HTML pages
  also get the CSP and the other page headers (see `pages.PAGE_HEADERS`).
"""

import math
import threading
import time
from collections import OrderedDict
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsqa.config import Settings
from newsqa.web.errors import error_response
from newsqa.web.pages import PAGE_HEADERS

# The requests that ask a question (and cost a retrieval and a read).
ASKING = {("GET", "/ask"), ("POST", "/ask"), ("POST", "/"), ("POST", "/chat/turn")}
TEXT_BODIES = ("application/json", "application/x-www-form-urlencoded", "text/")
_PAGE_HEADERS = [(k.lower().encode(), v.encode()) for k, v in PAGE_HEADERS.items()]
_NOSNIFF = [(b"x-content-type-options", b"nosniff")]


class RateLimiter:
    """A token bucket per client: `per_minute` questions a minute, in bursts of up to that many."""

    MAX_CLIENTS = 10_000

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait_s(self, client: str, now: float | None = None) -> float:
        """0 when `client` may ask now (and the question is counted), else seconds to wait."""
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.pop(client, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[client] = (tokens, now)
                wait = (1.0 - tokens) / rate
            while len(self._buckets) > self.MAX_CLIENTS:
                self._buckets.popitem(last=False)  # the client seen longest ago
        return wait


def undecodable(raw: bytes, what: str, *, percent_encoded: bool) -> str | None:
    """Why `raw` is not UTF-8 text (one line naming the byte), or None when it is."""
    data = unquote_to_bytes(raw.replace(b"+", b" ")) if percent_encoded else raw
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = data[exc.start]
        return f"{what} is not valid UTF-8 (byte 0x{byte:02X} at offset {exc.start}): send UTF-8 text"
    return None


class Guards:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_limit_per_minute) if settings.rate_limit_per_minute else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        problem = self._check_head(scope)
        if problem is None and self.limiter is not None and (scope["method"], scope["path"]) in ASKING:
            client = scope.get("client")
            wait = self.limiter.wait_s(client[0] if client else "unknown")
            if wait > 0:
                seconds = math.ceil(wait)
                problem = (
                    429,
                    f"too many questions: this server takes {self.settings.rate_limit_per_minute} a "
                    f"minute from one client; try again in {seconds} s",
                    {"Retry-After": str(seconds)},
                    f"提问太频繁了，请 {seconds} 秒后再试。",
                )
        if problem is None and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            body, problem = await self._read_body(scope, receive)
            if problem is None:
                receive = _replay(body, receive)
        if problem is not None:
            status, message, headers, zh = problem
            response = error_response(Request(scope), status, message, headers, zh)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check_head(self, scope: Scope) -> tuple[int, str, dict[str, str] | None, str | None] | None:
        size = sum(len(k) + len(v) + 4 for k, v in scope["headers"]) + len(scope.get("raw_path") or b"")
        if size > self.settings.max_header_bytes:
            limit = self.settings.max_header_bytes
            return 431, f"the request head is {size} bytes; the limit is {limit}", None, None
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        why = undecodable(raw_path, "the path", percent_encoded=True) or undecodable(
            scope.get("query_string", b""), "the query string", percent_encoded=True
        )
        return (400, why, None, "网址里有无法识别的字符，请检查后再试。") if why else None

    async def _read_body(
        self, scope: Scope, receive: Receive
    ) -> tuple[bytes, tuple[int, str, dict[str, str] | None, str | None] | None]:
        limit = self.settings.max_body_bytes
        too_big = (413, f"the request body is larger than {limit} bytes", None, "问题太长了。")
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return b"", too_big
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"", too_big
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        kind = headers.get(b"content-type", b"").decode("latin-1").lower()
        if body and kind.startswith(TEXT_BODIES):
            why = undecodable(
                body, "the request body", percent_encoded=kind.startswith("application/x-www-form-urlencoded")
            )
            if why:
                return body, (400, why, None, "提交的内容里有无法识别的字符，请检查后再试。")
        return body, None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then passes on (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_headers(send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {k.lower() for k, _ in headers}
            content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
            extra = _PAGE_HEADERS if content_type.startswith(b"text/html") else _NOSNIFF
            headers += [(k, v) for k, v in extra if k not in names]
            message = {**message, "headers": headers}
        await send(message)

    return send_with_headers
