"""A small web site on 127.0.0.1 for offline tests and benches of fetching, feeds and `watch`.

It serves the fixture pages under testbed/site/ and whatever a test puts there
(`put`), answers conditional requests with 304 (ETag and Last-Modified, like a
real server), and can be told to redirect, to answer slowly, or to fail.
Every request is logged with its headers, so a test can check the User-Agent,
what was asked conditionally, and how many requests a poll cost.
"""

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from testbed import SITE

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/rss+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass
class Resource:
    body: bytes
    content_type: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (a slow page)."""
    modified: float = field(default_factory=time.time)
    conditional: bool = True
    """Whether ETag/Last-Modified are sent and honoured."""
    failures: int = 0
    """Answer this many requests with 503 (and Retry-After: 0) before answering properly."""

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    status: int


class Website:
    """The site's resources by path, and the log of requests it answered."""

    def __init__(self, root: Path = SITE) -> None:
        self.resources: dict[str, Resource] = {}
        self.log: list[Request] = []
        self.url = ""
        self._lock = threading.Lock()
        for file in sorted(root.rglob("*")):
            if file.is_file() and file.suffix in _TYPES:
                path = "/" + file.relative_to(root).as_posix()
                content_type = _TYPES[file.suffix]
                if file.stem.endswith("-gbk"):
                    content_type = "text/html; charset=gbk"
                self.resources[path] = Resource(file.read_bytes(), content_type)

    def put(
        self,
        path: str,
        body: str | bytes,
        content_type: str | None = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        conditional: bool = True,
        failures: int = 0,
    ) -> str:
        """Serve `body` at `path` (replacing what was there); returns its full URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        kind = content_type or _TYPES.get(Path(path).suffix, "text/html; charset=utf-8")
        with self._lock:
            self.resources[path] = Resource(
                data, kind, status, dict(headers or {}), delay, time.time(), conditional, failures
            )
        return self.url + path

    def redirect(self, path: str, to: str, status: int = 301) -> str:
        return self.put(path, b"", "text/plain", status=status, headers={"Location": to})

    def remove(self, path: str) -> None:
        with self._lock:
            self.resources.pop(path, None)

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.log if r.path == path]

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def answer(self, path: str, headers: dict[str, str]) -> tuple[Resource | None, int]:
        with self._lock:
            resource = self.resources.get(path.split("?", 1)[0])
        status = 404 if resource is None else resource.status
        if resource is not None and resource.failures > 0:
            with self._lock:
                resource.failures -= 1
            with self._lock:
                self.log.append(Request(path, headers, 503))
            return resource, 503
        if resource is not None and resource.status == 200 and resource.conditional:
            if headers.get("if-none-match") == resource.etag:
                status = 304
            elif "if-modified-since" in headers and "if-none-match" not in headers:
                with contextlib.suppress(TypeError, ValueError):
                    since = parsedate_to_datetime(headers["if-modified-since"]).timestamp()
                    if int(resource.modified) <= since:
                        status = 304
        with self._lock:
            self.log.append(Request(path, headers, status))
        return resource, status


def _handler(site: Website) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            headers = {k.lower(): v for k, v in self.headers.items()}
            resource, status = site.answer(self.path, headers)
            if resource is not None and resource.delay:
                time.sleep(resource.delay)
            body = resource.body if resource is not None and status == 200 else b""
            if resource is None:
                body = b"<html><body><h1>404 Not Found</h1></body></html>"
            try:
                self.send_response(status)
                if status == 503:
                    self.send_header("Retry-After", "0")
                elif resource is not None:
                    self.send_header("Content-Type", resource.content_type)
                    for key, value in resource.headers.items():
                        self.send_header(key, value)
                    if resource.conditional and resource.status == 200:
                        self.send_header("ETag", resource.etag)
                        self.send_header("Last-Modified", formatdate(resource.modified, usegmt=True))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@contextlib.contextmanager
def serving(site: Website | None = None) -> Iterator[Website]:
    """Serve `site` (the fixture site by default) on a free port of 127.0.0.1 until the block ends."""
    site = site or Website()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fixture-website", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def rss(title: str, items: list[dict[str, str]]) -> str:
    """An RSS 2.0 document: each item a dict of title, link, guid, pubDate, description, content."""
    from xml.sax.saxutils import escape

    parts = []
    for item in items:
        fields = "".join(
            f"<{tag}>{escape(item[tag])}</{tag}>"
            for tag in ("title", "link", "guid", "pubDate", "description")
            if tag in item
        )
        if "content" in item:
            fields += f"<content:encoded><![CDATA[{item['content']}]]></content:encoded>"
        parts.append(f"<item>{fields}</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{escape(title)}</title><link>http://example.invalid/</link><description>{escape(title)}</description>"
        + "".join(parts)
        + "</channel></rss>"
    )
