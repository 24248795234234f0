"""Sources → articles.

Reads plain-text newspaper pages (.txt), JSON Lines exports (.jsonl), SQuAD-style
JSON (.json), saved web pages (.html), feeds (.rss/.atom/.xml, JSON Feed .json),
folders of them, and http(s) URLs of pages and feeds. A bad file, line, page or
feed item does not stop the run: it becomes a `SourceProblem` naming the file,
URL or item, and reading goes on.
"""

import codecs
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from newsqa.index.fetch import Fetcher, FetchError, is_url
from newsqa.index.newspaper import split_page
from newsqa.index.types import Article, content_id

logger = logging.getLogger(__name__)

HTML_SUFFIXES = (".html", ".htm")
FEED_SUFFIXES = (".rss", ".atom", ".xml")
SUPPORTED_SUFFIXES = (".txt", ".jsonl", ".json", *HTML_SUFFIXES, *FEED_SUFFIXES)


@dataclass(frozen=True)
class SourceProblem:
    """Something in a source that could not be read; it was skipped."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class SourceDefaults:
    """Metadata for sources that carry none of their own."""

    source: str | None = None
    published: str | None = None
    url: str | None = None


class _LazyFetcher:
    """One Fetcher for a whole read, made on first use only (most sources are local files)."""

    def __init__(self, fetcher: Fetcher | None) -> None:
        self._given = fetcher
        self._made: Fetcher | None = None

    def get(self) -> Fetcher:
        if self._given is not None:
            return self._given
        if self._made is None:
            self._made = Fetcher()
        return self._made

    def close(self) -> None:
        if self._made is not None:
            self._made.close()


def read_sources(
    paths: Iterable[str | Path], defaults: SourceDefaults = SourceDefaults(), fetcher: Fetcher | None = None
) -> Iterator[Article | SourceProblem]:
    """Yield every article found under `paths` (files, folders, http(s) URLs of pages or feeds),
    and a problem for each thing skipped.

    Args:
        fetcher: fetches URLs and the pages of summary-only feed items; by default one with
            the default policy is made when first needed.
    """
    lazy = _LazyFetcher(fetcher)
    try:
        for raw in paths:
            if isinstance(raw, str) and is_url(raw):
                yield from read_url(raw, defaults, lazy.get())
                continue
            path = Path(raw)
            if path.is_dir():
                files = sorted(
                    p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                )
                if not files:
                    yield SourceProblem(str(path), f"no {', '.join(SUPPORTED_SUFFIXES)} files in this folder")
                for file in files:
                    yield from read_file(file, defaults, lazy)
            elif path.exists():
                yield from read_file(path, defaults, lazy)
            else:
                yield SourceProblem(str(path), "no such file or folder")
    finally:
        lazy.close()


def read_url(url: str, defaults: SourceDefaults, fetcher: Fetcher) -> Iterator[Article | SourceProblem]:
    """The article on a web page, or every item of a feed, at `url`."""
    from newsqa.index.feeds import looks_like_feed

    try:
        fetched = fetcher.get(url)
    except FetchError as exc:
        yield SourceProblem(exc.url, exc.reason)
        return
    if looks_like_feed(fetched.content, fetched.content_type):
        yield from _read_feed(url, fetched.content, defaults, fetcher)
    else:
        yield _read_html(url, fetched.content, defaults, page_url=fetched.final_url, charset=fetched.charset)


def read_file(
    path: Path, defaults: SourceDefaults = SourceDefaults(), fetcher: "_LazyFetcher | None" = None
) -> Iterator[Article | SourceProblem]:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        yield SourceProblem(
            str(path),
            f"unsupported file type {suffix or '(none)'}: use {', '.join(SUPPORTED_SUFFIXES)}",
        )
        return
    lazy = fetcher or _LazyFetcher(None)
    if suffix in HTML_SUFFIXES or suffix in FEED_SUFFIXES or suffix == ".json":
        try:
            data = path.read_bytes()
        except OSError as exc:
            yield SourceProblem(str(path), f"cannot read the file: {exc.strerror or exc}")
            return
        if suffix in HTML_SUFFIXES:
            yield _read_html(str(path), data, defaults)
            return
        from newsqa.index.feeds import looks_like_feed

        if suffix in FEED_SUFFIXES or looks_like_feed(data):
            try:
                yield from _read_feed(str(path), data, defaults, lazy.get())
            finally:
                if fetcher is None:
                    lazy.close()
            return
    if suffix == ".jsonl":
        # Read a line at a time: an export of any size is never held in memory whole.
        yield from _read_jsonl(path, defaults)
        return
    text = _read_text(path)
    if isinstance(text, SourceProblem):
        yield text
        return
    if not text.strip():
        yield SourceProblem(str(path), "the file is empty")
        return
    if suffix == ".txt":
        yield from _read_page(path, text, defaults)
    else:
        yield from _read_json(path, text, defaults)


BINARY = "binary data, not text: give a UTF-8 or GB18030 text file"
ENCODINGS = ("utf-8", "gb18030")


def _read_html(
    where: str,
    data: bytes,
    defaults: SourceDefaults,
    *,
    page_url: str | None = None,
    charset: str | None = None,
) -> Article | SourceProblem:
    from newsqa.index.html import NotAnArticle, PageMeta, decode_html, extract_article

    if not data.strip():
        return SourceProblem(where, "the page is empty")
    try:
        article = extract_article(
            decode_html(data, charset),
            where,
            meta=PageMeta(url=page_url, charset=charset),
            default_source=defaults.source,
            default_published=defaults.published,
        )
    except NotAnArticle as exc:
        return SourceProblem(where, str(exc))
    return replace(article, url=article.url or defaults.url)


def _read_feed(
    where: str, data: bytes, defaults: SourceDefaults, fetcher: Fetcher | None
) -> Iterator[Article | SourceProblem]:
    from newsqa.index.feeds import FeedError, ItemSkipped, item_article, parse_feed

    try:
        feed = parse_feed(data, where)
    except FeedError as exc:
        yield SourceProblem(where, str(exc))
        return
    if not feed.items and not feed.broken:
        yield SourceProblem(where, "the feed has no items")
    for line in feed.broken:
        yield SourceProblem(where, line)
    for item in feed.items:
        try:
            yield item_article(
                item, feed, fetcher, default_source=defaults.source, default_published=defaults.published
            )
        except ItemSkipped as exc:
            yield SourceProblem(where, str(exc))


def _read_text(path: Path) -> str | SourceProblem:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return SourceProblem(str(path), f"cannot read the file: {exc.strerror or exc}")
    if b"\x00" in data[:8192]:
        return SourceProblem(str(path), BINARY)
    text = _decode(data.removeprefix(codecs.BOM_UTF8))
    if text is None:
        return SourceProblem(str(path), "not valid UTF-8 or GB18030 text: convert the file to UTF-8")
    return text


def _decode(data: bytes) -> str | None:
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _article(
    title: str,
    text: str,
    defaults: SourceDefaults,
    *,
    id: str | None = None,
    url: str | None = None,
    published: str | None = None,
    source: str | None = None,
    **extra: Any,
) -> Article:
    return Article(
        id=id or content_id(title, text),
        title=title,
        text=text,
        url=url or defaults.url,
        published=published or defaults.published,
        source=source or defaults.source,
        **extra,
    )


def _read_page(path: Path, text: str, defaults: SourceDefaults) -> Iterator[Article | SourceProblem]:
    try:
        page = split_page(text)
    except ValueError as exc:
        yield SourceProblem(str(path), str(exc))
        return
    for item in page:
        yield _article(
            item.title,
            item.text,
            defaults,
            subtitles=tuple(item.subtitles),
            byline=item.byline,
            captions=tuple(item.captions),
            continued=item.continued,
        )


def as_text(value: Any, what: str) -> str | None:
    """A JSON value as text, the way a person reads it: a string as it is, a number as its
    digits (`180` → "180", `1.5` → "1.5"); None for null. ValueError names `what` otherwise.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{what} must be text, got {str(value).lower()}")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{what} must be text, got {value}")
        try:
            return str(value)
        except ValueError as exc:  # an integer too long to print (Python's digit limit)
            raise ValueError(f"{what} is a number too long to use") from exc
    kind = (
        "a list"
        if isinstance(value, list)
        else "an object"
        if isinstance(value, dict)
        else type(value).__name__
    )
    raise ValueError(f"{what} must be text, got {kind}")


def _optional_str(record: dict[str, Any], key: str) -> str | None:
    return as_text(record.get(key), f'"{key}"') or None


def _from_record(record: Any, defaults: SourceDefaults) -> Article:
    """One article from a JSON object; ValueError says what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    text = as_text(record.get("text"), '"text"')
    if not text or not text.strip():
        raise ValueError('no "text" (a non-empty string is required)')
    title = as_text(record.get("title"), '"title"')
    title = (title or "").strip() or text.strip().splitlines()[0][:40]
    return _article(
        title,
        text,
        defaults,
        id=_optional_str(record, "id"),
        url=_optional_str(record, "url"),
        published=_optional_str(record, "published"),
        source=_optional_str(record, "source"),
    )


def _read_jsonl(path: Path, defaults: SourceDefaults) -> Iterator[Article | SourceProblem]:
    empty = True
    try:
        with open(path, "rb") as fh:
            if b"\x00" in fh.read(8192):
                yield SourceProblem(str(path), BINARY)
                return
            fh.seek(0)
            for number, raw in enumerate(fh, start=1):
                line = _decode(raw.removeprefix(codecs.BOM_UTF8) if number == 1 else raw)
                if line is None:
                    yield SourceProblem(str(path), "not valid UTF-8 or GB18030 text", number)
                    continue
                if line.strip():
                    empty = False
                    yield from _jsonl_line(path, line, number, defaults)
    except OSError as exc:
        yield SourceProblem(str(path), f"cannot read the file: {exc.strerror or exc}")
        return
    if empty:
        yield SourceProblem(str(path), "the file is empty")


def _jsonl_line(
    path: Path, line: str, number: int, defaults: SourceDefaults
) -> Iterator[Article | SourceProblem]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        yield SourceProblem(str(path), f"not valid JSON ({exc.msg} at column {exc.colno})", number)
        return
    except (ValueError, RecursionError) as exc:  # a number too long, or nesting too deep
        yield SourceProblem(str(path), f"not usable JSON ({_first_line(exc)})", number)
        return
    try:
        yield _from_record(record, defaults)
    except ValueError as exc:
        yield SourceProblem(str(path), str(exc), number)


def _read_json(path: Path, text: str, defaults: SourceDefaults) -> Iterator[Article | SourceProblem]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield SourceProblem(str(path), f"not valid JSON ({exc.msg})", exc.lineno)
        return
    except (ValueError, RecursionError) as exc:
        yield SourceProblem(str(path), f"not usable JSON ({_first_line(exc)})")
        return
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        yield from _read_squad(path, data["data"], defaults)
    elif isinstance(data, list):
        for number, record in enumerate(data):
            try:
                yield _from_record(record, defaults)
            except ValueError as exc:
                yield SourceProblem(str(path), f"item {number}: {exc}")
    else:
        yield SourceProblem(
            str(path), 'expected SQuAD-style {"data": [...]} or a list of {"title", "text"} objects'
        )


def _first_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:120]


def squad_title(entry: dict[str, Any]) -> str:
    """An entry's title as text ("" when it has none or it is not text)."""
    try:
        return (as_text(entry.get("title"), "title") or "").strip()
    except ValueError:
        return ""


def squad_articles(
    entries: list[Any], on_problem: Callable[[str], None] | None = None
) -> list[tuple[str, str]]:
    """(title, text) per title of a SQuAD-style `data` list, paragraphs joined by newlines.

    What cannot be read is skipped; `on_problem` gets one line for each, naming the item.
    """
    problem = on_problem or (lambda _: None)
    grouped: dict[str, list[str]] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problem(f"data[{i}]: expected an object, got {type(entry).__name__}")
            continue
        try:
            as_text(entry.get("title"), "title")
        except ValueError as exc:
            problem(f"data[{i}]: {exc}; the entry is read without a title")
        title = squad_title(entry)
        paragraphs = entry.get("paragraphs")
        if paragraphs is None:
            paragraphs = []
        if not isinstance(paragraphs, list):
            problem(f'data[{i}]: "paragraphs" must be a list, got {type(paragraphs).__name__}')
            continue
        for j, paragraph in enumerate(paragraphs):
            where = f"data[{i}].paragraphs[{j}]"
            if not isinstance(paragraph, dict):
                problem(f"{where}: expected an object, got {type(paragraph).__name__}")
                continue
            try:
                context = as_text(paragraph.get("context"), '"context"')
            except ValueError as exc:
                problem(f"{where}: {exc}")
                continue
            if context and context.strip():
                grouped.setdefault(title, []).append(context.strip())
    return [(title, "\n".join(contexts)) for title, contexts in grouped.items()]


def _read_squad(
    path: Path, entries: list[Any], defaults: SourceDefaults
) -> Iterator[Article | SourceProblem]:
    problems: list[str] = []
    articles = squad_articles(entries, problems.append)
    for message in problems:
        yield SourceProblem(str(path), message)
    if not articles:
        yield SourceProblem(str(path), "SQuAD-style file with no paragraph contexts")
    for title, text in articles:
        yield _article(title or text[:40], text, defaults)
