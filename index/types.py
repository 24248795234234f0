"""The records that flow through indexing: articles and their passages."""

import hashlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any


def content_id(*parts: str) -> str:
    """A stable id from content, so that a rebuild gives the same ids."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class Article:
    """One news article, its body verbatim as the source printed it.

    `subtitles`, `byline`, `captions` and `continued` come from newspaper pages:
    sub-headlines, the reporter line, photo captions, and a jump line such as
    "(下转二版)" saying the article goes on elsewhere.
    """

    id: str
    title: str
    text: str
    url: str | None = None
    published: str | None = None
    source: str | None = None
    subtitles: tuple[str, ...] = ()
    byline: str | None = None
    captions: tuple[str, ...] = ()
    continued: str | None = None

    def __repr__(self) -> str:
        return f"Article(id={self.id!r}, title={self.title[:30]!r}, chars={len(self.text)})"

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything stored about the article changes."""
        # The fields read directly (as asdict would give them, without its deep copy: a check of
        # a large index computes this for every article).
        return content_id(*(str(getattr(self, f.name)) for f in fields(self)))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["subtitles"] = list(self.subtitles)
        data["captions"] = list(self.captions)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Article":
        return cls(
            id=data["id"],
            title=data["title"],
            text=data["text"],
            url=data.get("url"),
            published=data.get("published"),
            source=data.get("source"),
            subtitles=tuple(data.get("subtitles") or ()),
            byline=data.get("byline"),
            captions=tuple(data.get("captions") or ()),
            continued=data.get("continued"),
        )


@dataclass(frozen=True)
class ArticleRef:
    """What a citation needs to know about an article (what answers and hits carry)."""

    id: str
    title: str
    url: str | None
    published: str | None
    source: str | None
    also_in: tuple[str, ...] = ()
    """Other sources that printed the same story (wire copies folded into this article)."""


@dataclass(frozen=True)
class Passage:
    """A bounded stretch of an article: `article.text[start:end] == text`."""

    id: str
    article_id: str
    ordinal: int
    text: str
    start: int
    end: int
    row: int = field(default=-1, compare=False)
    """Position in the vector and BM25 indexes; -1 until stored."""

    def __repr__(self) -> str:
        return f"Passage(id={self.id!r}, start={self.start}, end={self.end})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "article_id": self.article_id,
            "ordinal": self.ordinal,
            "text": self.text,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class StoredPassage:
    """A passage as a store returns it, with what a citation needs about its article."""

    passage: Passage
    article: ArticleRef


PassageKey = int | str
"""How a store names a passage in its search results: a row (local) or a passage id (milvus).
Opaque outside the store that gave it."""

Ranked = list[tuple[PassageKey, float]]
"""Search results: (passage key, score), best first."""
