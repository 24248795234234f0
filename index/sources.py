"""Sources → articles.

Reads plain-text newspaper pages (.txt), JSON Lines exports (.jsonl), SQuAD-style
JSON (.json) and folders of them. A bad file or line does not stop the run: it
becomes a `SourceProblem` naming the file and line, and reading goes on.
"""

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsqa.index.newspaper import split_page
from newsqa.index.types import Article, content_id

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".jsonl", ".json")


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


def read_sources(
    paths: Iterable[str | Path], defaults: SourceDefaults = SourceDefaults()
) -> Iterator[Article | SourceProblem]:
    """Yield every article found under `paths`, and a problem for each thing skipped."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
            )
            if not files:
                yield SourceProblem(str(path), f"no {', '.join(SUPPORTED_SUFFIXES)} files in this folder")
            for file in files:
                yield from read_file(file, defaults)
        elif path.exists():
            yield from read_file(path, defaults)
        else:
            yield SourceProblem(str(path), "no such file or folder")


def read_file(path: Path, defaults: SourceDefaults = SourceDefaults()) -> Iterator[Article | SourceProblem]:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        yield SourceProblem(
            str(path), f"unsupported file type {suffix or '(none)'}: use .txt, .jsonl or .json"
        )
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
    elif suffix == ".jsonl":
        yield from _read_jsonl(path, text, defaults)
    else:
        yield from _read_json(path, text, defaults)


def _read_text(path: Path) -> str | SourceProblem:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return SourceProblem(str(path), f"cannot read the file: {exc.strerror or exc}")
    if b"\x00" in data[:8192]:
        return SourceProblem(str(path), "binary data, not text: give a UTF-8 or GB18030 text file")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return SourceProblem(str(path), "not valid UTF-8 or GB18030 text: convert the file to UTF-8")


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


def _optional_str(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and key == "id":
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f'"{key}" must be a string, got {type(value).__name__}')
    return value


def _from_record(record: Any, defaults: SourceDefaults) -> Article:
    """One article from a JSON object; ValueError says what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError('no "text" (a non-empty string is required)')
    title = record.get("title")
    if title is not None and not isinstance(title, str):
        raise ValueError(f'"title" must be a string, got {type(title).__name__}')
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


def _read_jsonl(path: Path, text: str, defaults: SourceDefaults) -> Iterator[Article | SourceProblem]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield SourceProblem(str(path), f"not valid JSON ({exc.msg} at column {exc.colno})", number)
            continue
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


def squad_articles(entries: list[Any]) -> list[tuple[str, str]]:
    """(title, text) per title of a SQuAD-style `data` list, paragraphs joined by newlines."""
    grouped: dict[str, list[str]] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        title = str(entry.get("title") or "").strip()
        for paragraph in entry.get("paragraphs") or []:
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            if isinstance(context, str) and context.strip():
                grouped.setdefault(title, []).append(context.strip())
    return [(title, "\n".join(contexts)) for title, contexts in grouped.items()]


def _read_squad(
    path: Path, entries: list[Any], defaults: SourceDefaults
) -> Iterator[Article | SourceProblem]:
    articles = squad_articles(entries)
    if not articles:
        yield SourceProblem(str(path), "SQuAD-style file with no paragraph contexts")
    for title, text in articles:
        yield _article(title or text[:40], text, defaults)
