"""News feeds → articles: RSS 2.0 and Atom through feedparser, JSON Feed read directly.

An item that carries its full text (RSS `content:encoded`, Atom `content`, JSON
Feed `content_html`/`content_text`) becomes an article as it is. An item with
only a summary is fetched: its page goes through the HTML extraction, as a page
given by URL would. A broken item (no link and no text, a page that cannot be
fetched or is not an article) is an `ItemSkipped` naming the item and why; the
other items go on (index/sources.py turns both into one-line problems).
"""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from newsqa.index.fetch import Fetcher, FetchError
from newsqa.index.html import NotAnArticle, PageMeta, decode_html, extract_article, html_fragment_text
from newsqa.index.types import Article, content_id

_FEED_START = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:rss|feed|rdf:RDF)\b", re.DOTALL)
FEED_SUFFIXES = (".rss", ".atom", ".xml")
FEED_CONTENT_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/xml",
    "text/xml",
)


class FeedError(ValueError):
    """The feed as a whole cannot be read (not a feed, or broken before its first item)."""


class ItemSkipped(ValueError):
    """One item gave no article; the message names the item and says why."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        """Its page may be fetched next time (a timeout, a 5xx): `watch` tries it again."""


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed, as the feed gives it."""

    key: str
    """What identifies the item across polls: its guid/id, else its link."""
    position: int
    link: str | None
    title: str
    published: str | None
    author: str | None
    html: str | None = None
    """Its full text as HTML, when the feed carries it."""
    text: str | None = None
    """Its full text as plain text (JSON Feed `content_text`)."""
    summary: str | None = None

    @property
    def fingerprint(self) -> str:
        """Changes when the item changes (a corrected title or text, a new date)."""
        return content_id(
            self.link or "",
            self.title,
            self.published or "",
            self.html or "",
            self.text or "",
            self.summary or "",
        )

    @property
    def full_text(self) -> bool:
        return bool(self.html or self.text)


@dataclass
class Feed:
    """A parsed feed: its title, its items, and the items that could not be read."""

    title: str | None
    link: str | None
    items: list[FeedItem] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    """One line per unreadable item."""


def looks_like_feed(data: bytes, content_type: str = "") -> bool:
    """Whether a response or file is a feed rather than a web page."""
    if content_type in FEED_CONTENT_TYPES or content_type.endswith(("+xml", "+json")):
        return content_type != "application/xhtml+xml"
    head = data[:2048].lstrip(b"\xef\xbb\xbf")
    if _FEED_START.match(head):
        return True
    return head.lstrip().startswith(b"{") and b"jsonfeed.org/version" in data[:4096]


def parse_feed(data: bytes, where: str) -> Feed:
    """Parse RSS, Atom or JSON Feed bytes.

    Raises:
        FeedError: not a feed, or one broken before any item could be read.
    """
    if data[:4096].lstrip(b"\xef\xbb\xbf").lstrip().startswith(b"{"):
        return _parse_json_feed(data, where)
    import feedparser

    parsed = feedparser.parse(data)
    if parsed.bozo and not parsed.entries:
        reason = getattr(parsed.get("bozo_exception"), "getMessage", lambda: None)() or str(
            parsed.get("bozo_exception") or "unknown format"
        )
        raise FeedError(f"not a readable RSS/Atom feed ({reason})")
    if not parsed.version and not parsed.entries:
        raise FeedError("not an RSS, Atom or JSON feed")
    feed = Feed(title=_clean(parsed.feed.get("title")), link=parsed.feed.get("link"))
    for position, entry in enumerate(parsed.entries, start=1):
        content = entry.get("content") or []
        html = next((c.get("value") for c in content if c.get("value")), None)
        link = entry.get("link") or None
        title = _clean(entry.get("title")) or ""
        if not link and not html and not entry.get("summary"):
            feed.broken.append(f"item {position} ({title or 'untitled'}): no link and no text")
            continue
        feed.items.append(
            FeedItem(
                key=entry.get("id") or link or content_id(title, html or entry.get("summary") or ""),
                position=position,
                link=link,
                title=title,
                published=_date(entry.get("published") or entry.get("updated"), entry),
                author=_clean(entry.get("author")),
                html=html,
                summary=entry.get("summary") or None,
            )
        )
    return feed


def _parse_json_feed(data: bytes, where: str) -> Feed:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedError(f"not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        raise FeedError('not a JSON Feed (no "version": "https://jsonfeed.org/version/1.1")')
    feed = Feed(title=_clean(doc.get("title")), link=doc.get("home_page_url"))
    items = doc.get("items")
    if not isinstance(items, list):
        raise FeedError('a JSON Feed needs an "items" list')
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            feed.broken.append(f"item {position}: not a JSON object")
            continue
        link = _str(item.get("url")) or _str(item.get("external_url"))
        html, text, summary = (
            _str(item.get("content_html")),
            _str(item.get("content_text")),
            _str(item.get("summary")),
        )
        title = _clean(_str(item.get("title"))) or ""
        if not link and not html and not text:
            feed.broken.append(f"item {position} ({title or 'untitled'}): no link and no text")
            continue
        authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
        author = next((_str(a.get("name")) for a in authors if isinstance(a, dict) and a.get("name")), None)
        feed.items.append(
            FeedItem(
                key=_str(item.get("id")) or link or content_id(title, html or text or ""),
                position=position,
                link=link,
                title=title,
                published=_date(_str(item.get("date_published")) or _str(item.get("date_modified")), None),
                author=author,
                html=html,
                text=text,
                summary=summary,
            )
        )
    return feed


def item_article(
    item: FeedItem,
    feed: Feed,
    fetcher: "Fetcher | None",
    *,
    default_source: str | None = None,
    default_published: str | None = None,
) -> Article:
    """The article behind one feed item: its own full text, else its page fetched and extracted.

    Raises:
        ItemSkipped: no text and no link, the page could not be fetched, or it is not an article.
    """
    label = f"item {item.position} ({item.title or item.link or 'untitled'})"
    source = default_source or feed.title
    if item.full_text:
        text = (item.text or "").strip() or html_fragment_text(item.html or "")
        if not text.strip():
            raise ItemSkipped(f"{label}: its content holds no text")
        return Article(
            id=content_id(item.link or item.key),
            title=item.title or text.splitlines()[0][:40],
            text=text,
            url=item.link,
            published=item.published or default_published,
            source=source,
            byline=item.author,
        )
    if not item.link:
        raise ItemSkipped(f"{label}: only a summary and no link to the article")
    if fetcher is None:
        raise ItemSkipped(f"{label}: only a summary, and fetching {item.link} is off")
    try:
        page = fetcher.get(item.link)
        article = extract_article(
            decode_html(page.content, page.charset),
            item.link,
            meta=PageMeta(url=page.final_url, charset=page.charset),
            default_source=source,
            default_published=item.published or default_published,
        )
    except FetchError as exc:
        raise ItemSkipped(f"{label}: {exc}", transient=exc.transient) from exc
    except NotAnArticle as exc:
        raise ItemSkipped(f"{label}: {item.link} is {exc}") from exc
    # The feed's title and date are what the publisher says; a page's may be cut or guessed.
    return Article(
        id=article.id,
        title=item.title or article.title,
        text=article.text,
        url=article.url,
        published=item.published or article.published,
        source=default_source or article.source,
        subtitles=article.subtitles,
        byline=article.byline or item.author,
    )


def _date(value: str | None, entry: Any) -> str | None:
    """The date as the publisher wrote it (their own day, not UTC's), as YYYY-MM-DD."""
    if value:
        for parse in (parsedate_to_datetime, datetime.fromisoformat):
            try:
                return parse(value.strip()).date().isoformat()
            except (TypeError, ValueError, IndexError):
                continue
    parsed = entry.get("published_parsed") or entry.get("updated_parsed") if entry is not None else None
    if parsed:
        return f"{parsed.tm_year:04d}-{parsed.tm_mon:02d}-{parsed.tm_mday:02d}"
    return None


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
