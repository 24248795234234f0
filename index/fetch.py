"""Fetching web pages and feeds politely: a descriptive User-Agent, robots.txt, a per-host
rate limit, timeouts, retries with backoff, conditional requests (ETag/Last-Modified).

One `Fetcher` serves a whole run (an `index add` or a `watch` process), so robots.txt
is read once per host and the rate limit holds across feeds and pages. Redirects are
followed by hand, so each hop is checked against its own host's robots.txt and rate
limit. Every failure is a `FetchError` with a one-line message naming the URL.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

from newsqa import __version__

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT = f"newsqa/{__version__} (news question answering; indexes articles, follows robots.txt)"
ROBOTS_AGENT = "newsqa"
"""The name robots.txt rules address newsqa by."""
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 5
ROBOTS_TTL = 24 * 3600.0


@dataclass(frozen=True)
class FetchPolicy:
    """How politely and how patiently to fetch."""

    user_agent: str = DEFAULT_USER_AGENT
    timeout: float = 20.0
    """Seconds for connecting and for each read."""
    retries: int = 2
    """Extra tries after a timeout, a connection error, a 429 or a 5xx."""
    backoff: float = 1.0
    """Seconds before the first retry, doubled for each next one (a Retry-After of up to a minute wins)."""
    host_interval: float = 1.0
    """Least seconds between two requests to one host."""
    max_bytes: int = 20_000_000
    robots: bool = True

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")
        if self.retries < 0 or self.backoff < 0 or self.host_interval < 0:
            raise ValueError(
                f"retries, backoff and host_interval must not be negative, got "
                f"{self.retries}, {self.backoff}, {self.host_interval}"
            )


@dataclass(frozen=True)
class Fetched:
    """A response: 200 with its body, or 304 (not modified) with none."""

    url: str
    """The URL asked for."""
    final_url: str
    """Where the content came from, after redirects."""
    status: int
    content: bytes = b""
    content_type: str = ""
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class FetchError(Exception):
    """A URL could not be fetched; the message is one line naming it and saying why."""

    def __init__(self, url: str, reason: str, *, transient: bool = False) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.transient = transient
        """Worth trying again later: a timeout, no connection, a 429 or 5xx, robots.txt unreachable."""


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


class Fetcher:
    """Fetches URLs one at a time under one `FetchPolicy`."""

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import httpx

        self.policy = policy or FetchPolicy()
        self._sleep = sleep
        self._clock = clock
        self._client = httpx.Client(
            headers={"User-Agent": self.policy.user_agent},
            timeout=httpx.Timeout(self.policy.timeout),
            follow_redirects=False,
        )
        self._last_request: dict[str, float] = {}
        self._robots: dict[str, tuple[float, RobotFileParser | None]] = {}
        self.requests = 0
        """How many HTTP requests were sent (robots.txt included): what a watch cycle costs."""

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """GET `url`, following redirects; with `etag`/`last_modified`, a 304 means unchanged.

        Raises:
            FetchError: disallowed by robots.txt, an HTTP error status, too large, timed out or
                unreachable after the retries, or too many redirects.
        """
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            if not is_url(current):
                raise FetchError(url, f"not an http(s) URL: {current}")
            if self.policy.robots and not self.allowed(current):
                site = f"{urlsplit(current).scheme}://{_host(current)}"
                if self._robots.get(site, (0.0, None))[1] is None:
                    raise FetchError(
                        current, f"robots.txt of {_host(current)} is unreachable", transient=True
                    )
                raise FetchError(current, f"robots.txt of {_host(current)} disallows it for {ROBOTS_AGENT}")
            status, response_headers, body = self._request(current, headers)
            if status in (301, 302, 303, 307, 308) and "location" in response_headers:
                current = urljoin(current, response_headers["location"])
                continue
            if status == 304:
                return Fetched(url, current, 304, etag=etag, last_modified=last_modified)
            if status >= 400:
                raise FetchError(
                    current, f"HTTP {status} {_reason(status)}", transient=status in RETRY_STATUS
                )
            content_type = response_headers.get("content-type", "")
            return Fetched(
                url,
                current,
                status,
                body,
                content_type.split(";")[0].strip().lower(),
                _charset(content_type),
                response_headers.get("etag"),
                response_headers.get("last-modified"),
            )
        raise FetchError(url, f"more than {MAX_REDIRECTS} redirects")

    def allowed(self, url: str) -> bool:
        """Whether robots.txt of the URL's host lets newsqa fetch it (read once per host a day).

        As RFC 9309 says: no robots.txt (a 4xx) allows everything; an unreachable one (5xx,
        no connection) disallows everything for now.
        """
        parts = urlsplit(url)
        site = f"{parts.scheme}://{parts.netloc}"
        cached = self._robots.get(site)
        if cached is None or self._clock() - cached[0] > ROBOTS_TTL:
            cached = (self._clock(), self._read_robots(site))
            self._robots[site] = cached
        rules = cached[1]
        if rules is None:
            return False
        return rules.can_fetch(ROBOTS_AGENT, url)

    def _read_robots(self, site: str) -> RobotFileParser | None:
        rules = RobotFileParser(f"{site}/robots.txt")
        try:
            status, _, body = self._request(f"{site}/robots.txt", {}, retries=0)
        except FetchError as exc:
            logger.warning(
                "robots.txt of %s is unreachable (%s): not fetching from it for now", site, exc.reason
            )
            return None
        if status >= 500:
            logger.warning("robots.txt of %s answered %s: not fetching from it for now", site, status)
            return None
        if status >= 400 or status in (301, 302, 303, 307, 308):
            rules.parse([])  # no robots.txt: everything is allowed
        else:
            rules.parse(body.decode("utf-8", errors="replace").splitlines())
        return rules

    def _request(
        self, url: str, headers: dict[str, str], retries: int | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        import httpx

        tries = (self.policy.retries if retries is None else retries) + 1
        for attempt in range(tries):
            self._wait_for_host(url)
            self.requests += 1
            try:
                with self._client.stream("GET", url, headers=headers) as response:
                    if response.status_code in RETRY_STATUS and attempt + 1 < tries:
                        delay = _retry_after(response.headers.get("retry-after"))
                        self._sleep(self.policy.backoff * 2**attempt if delay is None else delay)
                        continue
                    body = b""
                    if response.status_code == 200:
                        body = self._read_body(url, response)
                    return response.status_code, {k.lower(): v for k, v in response.headers.items()}, body
            except httpx.TimeoutException as exc:
                failure = f"timed out after {self.policy.timeout:g}s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                failure = f"cannot connect ({type(exc).__name__}: {exc})"
            if attempt + 1 < tries:
                self._sleep(self.policy.backoff * 2**attempt)
        tried = f", tried {tries} times" if tries > 1 else ""
        raise FetchError(url, failure + tried, transient=True)

    def _read_body(self, url: str, response: object) -> bytes:
        chunks = []
        size = 0
        for chunk in response.iter_bytes():  # type: ignore[attr-defined]
            size += len(chunk)
            if size > self.policy.max_bytes:
                raise FetchError(url, f"larger than {self.policy.max_bytes // 1_000_000} MB")
            chunks.append(chunk)
        return b"".join(chunks)

    def _wait_for_host(self, url: str) -> None:
        host = _host(url)
        last = self._last_request.get(host)
        if last is not None:
            wait = last + self.policy.host_interval - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_request[host] = self._clock()


def _host(url: str) -> str:
    return urlsplit(url).netloc.lower()


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for, capped at a minute; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), 60.0)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
