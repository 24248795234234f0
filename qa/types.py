"""What answering returns: retrieved passages, the extracted answer, the whole result."""

from dataclasses import dataclass, field
from typing import Any

from newsqa.index.store import ArticleRef
from newsqa.index.types import Passage


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its fused score and the scores it was fused from."""

    passage: Passage
    article: ArticleRef
    score: float
    lexical: float = 0.0
    dense: float = 0.0

    def __repr__(self) -> str:
        return f"Hit({self.passage.id!r}, score={self.score:.3f})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "passage_id": self.passage.id,
            "article_id": self.article.id,
            "title": self.article.title,
            "url": self.article.url,
            "published": self.article.published,
            "source": self.article.source,
            "text": self.passage.text,
            "score": round(self.score, 4),
            "start": self.passage.start,
            "end": self.passage.end,
        }


@dataclass(frozen=True)
class Answer:
    """An extracted answer: `text` is taken verbatim from `passage`, inside `sentence`.

    `start` and `end` are offsets in the article text; `sentence_start` and
    `sentence_end` locate the supporting sentence the same way.
    """

    text: str
    sentence: str
    confidence: float
    passage: Passage
    article: ArticleRef
    start: int
    end: int
    sentence_start: int
    sentence_end: int

    def __repr__(self) -> str:
        return f"Answer({self.text!r}, confidence={self.confidence:.2f}, article={self.article.id!r})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "sentence": self.sentence,
            "confidence": round(self.confidence, 4),
            "article_id": self.article.id,
            "passage_id": self.passage.id,
            "title": self.article.title,
            "url": self.article.url,
            "published": self.article.published,
            "source": self.article.source,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class AskResult:
    """The answer to one question (None when newsqa abstains) and the passages behind it."""

    question: str
    answer: Answer | None
    hits: list[Hit] = field(default_factory=list)
    took_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer.to_dict() if self.answer else None,
            "passages": [h.to_dict() for h in self.hits],
            "took_ms": round(self.took_ms, 1),
        }
