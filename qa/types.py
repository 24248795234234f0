"""What answering returns (retrieved passages, extracted answers, the whole result) and what
a reader is."""

from dataclasses import dataclass, field
from typing import Any, Protocol

from newsqa.index.types import ArticleRef, Passage


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
            "also_in": list(self.article.also_in),
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

    @classmethod
    def from_span(
        cls, hit: Hit, start: int, end: int, sentence_start: int, sentence_end: int, confidence: float
    ) -> "Answer":
        """The answer `hit.passage.text[start:end]`, inside the sentence `[sentence_start:sentence_end]`.

        Args:
            hit: the passage the answer is read from.
            start, end, sentence_start, sentence_end: offsets in the passage text.
            confidence: in [0, 1].

        Raises:
            ValueError: the span is empty or not inside the sentence and the passage.
        """
        text = hit.passage.text
        if not (0 <= sentence_start <= start < end <= sentence_end <= len(text)):
            raise ValueError(
                f"answer span {start}-{end} must be non-empty and inside its sentence "
                f"{sentence_start}-{sentence_end} of passage {hit.passage.id!r} ({len(text)} chars)"
            )
        base = hit.passage.start
        return cls(
            text=text[start:end],
            sentence=text[sentence_start:sentence_end],
            confidence=float(confidence),
            passage=hit.passage,
            article=hit.article,
            start=base + start,
            end=base + end,
            sentence_start=base + sentence_start,
            sentence_end=base + sentence_end,
        )

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
            "also_in": list(self.article.also_in),
            "start": self.start,
            "end": self.end,
            "sentence_start": self.sentence_start,
            "sentence_end": self.sentence_end,
        }


@dataclass(frozen=True)
class AskResult:
    """The answer to one question (None when newsqa abstains), the runner-up answers, and the
    passages behind them.

    `to_dict` is the one producer of the answer's JSON: the CLI prints it and the web
    API's `AskResponse` documents and validates exactly this shape.
    """

    question: str
    answer: Answer | None
    hits: list[Hit] = field(default_factory=list)
    took_ms: float = 0.0
    alternatives: list[Answer] = field(default_factory=list)
    resolved_question: str | None = None
    """The question as understood in its conversation (a follow-up made to stand on its own)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "resolved_question": self.resolved_question or self.question,
            "answer": self.answer.to_dict() if self.answer else None,
            "alternatives": [a.to_dict() for a in self.alternatives],
            "passages": [h.to_dict() for h in self.hits],
            "took_ms": round(self.took_ms, 1),
        }


class Reader(Protocol):
    """Reads answers out of retrieved passages. The Answerer decides how many passages a reader
    sees and applies the abstention threshold; a reader only ranks."""

    name: str
    default_threshold: float
    """Confidence below which the Answerer abstains, unless the settings say otherwise."""

    def warm_up(self) -> None:
        """Load what the reader needs (weights, models); called once before the first read."""
        ...

    def read(self, question: str, hits: list[Hit]) -> list[Answer]:
        """Candidate answers from `hits`, best first, each with a confidence in [0, 1].

        Returns:
            An empty list when nothing in the passages looks like an answer.
        """
        ...
