"""Keeping the index current with feeds: one poll of every feed, adding only what is new or changed.

Each feed is asked conditionally (If-None-Match / If-Modified-Since with what it
answered last time); a 304 costs one request and nothing else. A feed that did
change is parsed, and only items whose fingerprint (link, title, date, text)
differs from the last poll are turned into articles, fetching their pages when
the feed carries only a summary. All new articles of one poll go to the index
in one `add`, i.e. one new generation, which a running `newsqa serve` picks up
by itself.

What was seen is kept in `watch-state.json` beside the index's generations, and
written only after the index write succeeded: a poll that fails halfway (a feed
down, a page timing out, the process killed) leaves the index as it was and
tries the same items again next time. An item whose page failed for a reason
that may pass (a timeout, a 5xx) is not marked seen, and its feed's ETag is not
kept, so the next poll asks again.
"""

import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from newsqa.index.backend import StoreWriter
from newsqa.index.feeds import FeedError, ItemSkipped, item_article, parse_feed
from newsqa.index.fetch import Fetcher, FetchError
from newsqa.index.sources import SourceDefaults, SourceProblem
from newsqa.index.types import Article
from newsqa.index.upsert import WriteReport

logger = logging.getLogger(__name__)

STATE_FILE = "watch-state.json"


@dataclass
class FeedState:
    """What a feed answered last time: its validators, and the fingerprint of each item seen."""

    etag: str | None = None
    last_modified: str | None = None
    items: dict[str, str] = field(default_factory=dict)
    checked_at: str | None = None


@dataclass
class WatchState:
    feeds: dict[str, FeedState] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "WatchState":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, json.JSONDecodeError) as exc:
            logger.warning("cannot read %s (%s): starting afresh, every item counts as new", path, exc)
            return cls()
        feeds = data.get("feeds") if isinstance(data, dict) else None
        return cls(
            {url: FeedState(**value) for url, value in (feeds or {}).items() if isinstance(value, dict)}
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        tmp.write_text(
            json.dumps(
                {"feeds": {u: asdict(s) for u, s in self.feeds.items()}}, ensure_ascii=False, indent=1
            ),
            encoding="utf-8",
        )
        os.replace(tmp, path)


@dataclass
class CycleReport:
    """What one poll did and cost."""

    feeds: int = 0
    failed_feeds: int = 0
    """Feeds that could not be fetched or read at all this time."""
    not_modified: int = 0
    items: int = 0
    new_items: int = 0
    problems: list[SourceProblem] = field(default_factory=list)
    requests: int = 0
    write: WriteReport | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        line = (
            f"{self.feeds} feeds ({self.not_modified} unchanged), {self.items} items, {self.new_items} new or "
            f"changed; {self.requests} requests"
        )
        if self.write is not None:
            line += f"; {self.write.summary()}"
        elif self.new_items == 0:
            line += "; index unchanged"
        if self.problems:
            line += f"; {len(self.problems)} skipped"
        return line + f" ({self.seconds:.1f}s)"


class FeedWatcher:
    """Polls `feeds` into the index that `writer` writes; what was seen is kept at `state_path`
    (default: STATE_FILE in a local index's directory)."""

    def __init__(
        self,
        writer: StoreWriter,
        feeds: list[str],
        fetcher: Fetcher,
        *,
        state_path: Path | None = None,
        defaults: SourceDefaults | None = None,
        on_problem: Callable[[SourceProblem], None] | None = None,
    ) -> None:
        if not feeds:
            raise ValueError("give at least one feed URL")
        self.writer = writer
        self.feeds = list(dict.fromkeys(feeds))
        self.fetcher = fetcher
        self.defaults = defaults or SourceDefaults()
        self.on_problem = on_problem or (lambda p: logger.warning("%s", p))
        if state_path is None:
            from newsqa.index.builder import IndexWriter

            if not isinstance(writer, IndexWriter):
                raise ValueError("a writer without an index directory needs a state_path")
            state_path = writer.layout.root / STATE_FILE
        self.state_path = state_path

    def cycle(self) -> CycleReport:
        """Poll every feed once and add what is new; the state is saved only if the index write succeeds."""
        started = time.perf_counter()
        requests_before = self.fetcher.requests
        state = WatchState.load(self.state_path)
        report = CycleReport(feeds=len(self.feeds))
        articles: list[Article] = []
        for url in self.feeds:
            seen = state.feeds.get(url, FeedState())
            polled = self._poll(url, seen, articles, report)
            if polled is not None:
                state.feeds[url] = polled
        if articles:
            report.write = self.writer.add(articles)
        state.save(self.state_path)
        report.requests = self.fetcher.requests - requests_before
        report.seconds = time.perf_counter() - started
        return report

    def _problem(self, report: CycleReport, problem: SourceProblem) -> None:
        report.problems.append(problem)
        self.on_problem(problem)

    def _poll(
        self, url: str, seen: FeedState, articles: list[Article], report: CycleReport
    ) -> FeedState | None:
        """New and changed items of one feed into `articles`; the feed's new state, or None to keep the old."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            fetched = self.fetcher.get(url, etag=seen.etag, last_modified=seen.last_modified)
        except FetchError as exc:
            report.failed_feeds += 1
            self._problem(report, SourceProblem(url, exc.reason))
            return None
        if fetched.not_modified:
            report.not_modified += 1
            return FeedState(seen.etag, seen.last_modified, seen.items, now)
        try:
            feed = parse_feed(fetched.content, url)
        except FeedError as exc:
            report.failed_feeds += 1
            self._problem(report, SourceProblem(url, str(exc)))
            return None
        for line in feed.broken:
            self._problem(report, SourceProblem(url, line))
        items: dict[str, str] = {}
        complete = True
        report.items += len(feed.items)
        for item in feed.items:
            if seen.items.get(item.key) == item.fingerprint:
                items[item.key] = item.fingerprint
                continue
            report.new_items += 1
            try:
                articles.append(
                    item_article(
                        item,
                        feed,
                        self.fetcher,
                        default_source=self.defaults.source,
                        default_published=self.defaults.published,
                    )
                )
            except ItemSkipped as exc:
                self._problem(report, SourceProblem(url, str(exc)))
                if exc.transient:
                    complete = False  # ask again next time
                    continue
            items[item.key] = item.fingerprint
        if complete:
            return FeedState(fetched.etag, fetched.last_modified, items, now)
        # Keep what was seen, but no validators: the next poll must get the feed again to retry.
        return FeedState(None, None, items, now)
