"""Candidate answer spans: inside the best sentences, word n-grams, numbers and dates, clauses
and runs of clauses, and a clause's head or tail; each with its features."""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from newsqa.index.text import CLOSERS
from newsqa.qa.questions import Question
from newsqa.qa.readers.features.columns import FEATURE_NAMES
from newsqa.qa.readers.features.families import SpanBatch, featurize
from newsqa.qa.readers.features.patterns import (
    BRACKETS,
    HARD_MARKS,
    OPENERS,
    clause_spans,
    cumulative,
    entities,
    is_punct,
)
from newsqa.qa.readers.features.sentences import Sentence, select_sentences
from newsqa.qa.readers.features.tokens import Token, words
from newsqa.qa.types import Hit

MAX_SPAN_TOKENS = 7  # the longest word n-gram
MAX_SPAN_CHARS = 120
MAX_CLAUSE_RUN = 4  # the most clauses one span may join
# Kinds of span that may cross a hard mark (a comma, a colon…): they are made of clauses.
CLAUSAL_KINDS = ("clause", "sentence", "tail", "head")


@dataclass
class Candidates:
    """Candidate spans of one question, their features, and where they come from."""

    question: Question
    sentences: list[Sentence]
    spans: list[tuple[int, int, int]] = field(default_factory=list)  # (sentence index, start, end)
    features: np.ndarray = field(default_factory=lambda: np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32))

    def text(self, i: int) -> str:
        s, a, b = self.spans[i]
        return self.sentences[s].text[a:b]

    def sentence_of(self) -> list[int]:
        return [s for s, _, _ in self.spans]

    def sentence_stats(self) -> list[dict[str, float]]:
        """Per sentence, what the confidence model reads about it and its passage."""
        return [s.stats() for s in self.sentences]


class SpanRules:
    """Which spans of one sentence are well formed, trimmed of outer punctuation and spaces.

    A span keeps an opening bracket at its start and a closing one at its end, never
    leaves a bracket or quote unbalanced, stays under MAX_SPAN_CHARS, and crosses a hard
    mark only when it is made of clauses.
    """

    def __init__(self, norm: str) -> None:
        self.strip_left = [c.isspace() or (is_punct(c) and c not in OPENERS) for c in norm]
        self.strip_right = [c.isspace() or (is_punct(c) and c not in CLOSERS) for c in norm]
        self.hard = cumulative(c in HARD_MARKS for c in norm)
        self.pairs = [
            (cumulative(c == o for c in norm), cumulative(c == e for c in norm))
            for o, e in BRACKETS
            if o in norm or e in norm
        ]
        self.quotes = cumulative(c == '"' for c in norm) if '"' in norm else None

    def crosses_hard_mark(self, a: int, b: int) -> bool:
        return bool(self.hard[b] - self.hard[a])

    def trim(self, a: int, b: int, kind: str) -> tuple[int, int] | None:
        """The span a:b trimmed, or None when it is not a candidate."""
        while a < b and self.strip_left[a]:
            a += 1
        while b > a and self.strip_right[b - 1] and kind != "sentence":
            b -= 1
        if b <= a or b - a > MAX_SPAN_CHARS:
            return None
        if self.crosses_hard_mark(a, b) and kind not in CLAUSAL_KINDS:
            return None
        for opened, closed in self.pairs:
            if opened[b] - opened[a] != closed[b] - closed[a]:
                return None
        if self.quotes is not None and (self.quotes[b] - self.quotes[a]) % 2:
            return None
        return a, b


def candidate_spans(
    norm: str, tokens: list[Token], found: list[tuple[int, int]], clauses: list[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """Every candidate span of a sentence, with the kind that generated it first.

    Args:
        norm: the sentence's normalised text (same length as the text).
        tokens: its words.
        found: its numbers, amounts and dates.
        clauses: its clauses.
    """
    rules = SpanRules(norm)
    spans: dict[tuple[int, int], str] = {}

    def add(a: int, b: int, kind: str) -> None:
        span = rules.trim(a, b, kind)
        if span is not None:
            spans.setdefault(span, kind)

    # word n-grams that do not cross a hard mark
    for i, (a, _, _) in enumerate(tokens):
        for j in range(i, min(i + MAX_SPAN_TOKENS, len(tokens))):
            if rules.crosses_hard_mark(tokens[j][0], tokens[j][1]):
                break
            add(a, tokens[j][1], "token")
    for a, b in found:
        add(a, b, "entity")
    for i in range(len(clauses)):
        for j in range(i, min(i + MAX_CLAUSE_RUN, len(clauses))):
            add(clauses[i][0], clauses[j][1], "clause")
    add(0, len(norm), "sentence")
    # a clause's head or tail, cut at a word boundary
    for ca, cb in clauses:
        for ta, tb, _ in tokens:
            if ca < ta < cb:
                add(ta, cb, "tail")
            if ca < tb < cb:
                add(ca, tb, "head")
    return spans


class CandidateBuilder:
    """Selects the sentences to read and generates their candidate spans with features."""

    def __init__(self, term_weight: Callable[[list[str]], list[float]] | None = None) -> None:
        # term_weight(words) -> IDF per word, from the index; uniform when absent.
        self.term_weight = term_weight

    def build(self, question: Question, hits: list[Hit]) -> Candidates:
        weights = self._weights(question.terms)
        sentences = select_sentences(question, hits, weights)
        cands = Candidates(question, sentences)
        rows: list[np.ndarray] = []
        for si, sentence in enumerate(sentences):
            batch = self._batch(question, sentence, si == 0, weights)
            cands.spans += [(si, a, b) for a, b in batch.spans]
            rows.append(featurize(batch))
        if rows:
            cands.features = np.vstack(rows)
        return cands

    def _batch(self, q: Question, sent: Sentence, best: bool, weights: dict[str, float]) -> SpanBatch:
        found = entities(sent.norm)
        tokens = words(sent.norm, found)
        clauses = clause_spans(sent.text)
        spans = candidate_spans(sent.norm, tokens, found, clauses)
        keys = list(spans)
        return SpanBatch(q, sent, best, keys, [spans[k] for k in keys], tokens, clauses, weights)

    def _weights(self, terms: tuple[str, ...]) -> dict[str, float]:
        if not terms:
            return {}
        if self.term_weight is None:
            return dict.fromkeys(terms, 1.0)
        return dict(zip(terms, self.term_weight(list(terms)), strict=True))
