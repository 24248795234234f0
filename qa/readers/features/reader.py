"""The feature-based extractive reader: from the top passages, the sentences that cover the
question, then the spans inside them that answer it.

1. Every sentence of the passages is scored by how much of the question it covers
   (IDF-weighted words, character bigrams, the longest shared stretch): sentences.py.
2. Inside the best sentences, candidate spans come from word segmentation (rjieba with
   parts of speech), from patterns for numbers, dates and units, and from clause
   boundaries: candidates.py, tokens.py, patterns.py.
3. Each candidate gets features, by family: does it have the type the question word asks
   for, do the words before/after the question word stand before/after it, is it near the
   matched words, does it repeat the question, its length and parts of speech, each crossed
   with the question type: families.py, columns.py.
4. A linear model (plus one ReLU layer) scores the candidates, and a logistic model turns
   the best score, its margin and the coverage into a confidence in [0, 1]: model.py. The
   weights are learned on the shared dev sets by `python -m tools.learn_reader` and ship as
   weights.json.

The answer text is always a slice of the cited passage.
"""

from collections.abc import Callable

import numpy as np

from newsqa.index.text import normalize
from newsqa.qa.questions import QType, Question, analyze
from newsqa.qa.readers.features.candidates import CandidateBuilder, Candidates
from newsqa.qa.readers.features.model import ReaderWeights, confidence, confidence_features
from newsqa.qa.readers.features.patterns import BARE_NUMBER_RE, DATE_RE, FULL_DATE_RE, NUMBER_UNIT_RE
from newsqa.qa.readers.features.tokens import tagger
from newsqa.qa.types import Answer, Hit

MAX_ANSWERS = 4  # the answer and its runners-up


class FeatureReader:
    """Extracts answer spans from retrieved passages; see the module docstring."""

    name = "features"

    def __init__(
        self,
        weights: ReaderWeights | None = None,
        term_weight: Callable[[list[str]], list[float]] | None = None,
    ) -> None:
        self.weights = weights or ReaderWeights.load()
        self.builder = CandidateBuilder(term_weight)
        self.default_threshold = self.weights.threshold

    def warm_up(self) -> None:
        tagger().tag("预热")

    def read(self, question: str, hits: list[Hit]) -> list[Answer]:
        """The best candidate spans, best first, distinct in text, with their confidences."""
        q = analyze(question)
        cands = self.builder.build(q, hits)
        if not cands.spans:
            return []
        scores = self.weights.scores(cands.features)
        texts = [cands.text(i) for i in range(len(cands.spans))]
        ranked: list[int] = []
        for i in np.argsort(-scores, kind="stable").tolist():
            if not ranked:
                i = complete_number(q, cands, texts, complete_date(q, cands, texts, i))
            if all(texts[i] != texts[j] for j in ranked):
                ranked.append(i)
            if len(ranked) == MAX_ANSWERS:
                break
        stats = cands.sentence_stats()
        sentence_of = cands.sentence_of()
        return [
            answer_of(
                cands,
                i,
                confidence(
                    self.weights.confidence, confidence_features(scores, texts, stats, sentence_of, i)
                ),
            )
            for i in ranked
        ]


def complete_date(q: Question, cands: Candidates, texts: list[str], best: int) -> int:
    """ "When" and "which day" want the whole date as printed: a year or month picked out of
    "2024年8月1日" grows to it ("which year" keeps the year)."""
    if q.date_grain not in ("when", "day") or FULL_DATE_RE.fullmatch(texts[best]):
        return best
    return grow(
        cands,
        texts,
        best,
        lambda text: bool(FULL_DATE_RE.fullmatch(text) and DATE_RE.fullmatch(normalize(text))),
    )


def complete_number(q: Question, cands: Candidates, texts: list[str], best: int) -> int:
    """ "How many/much" wants the number with its unit: a bare "35" picked out of
    "35万人" grows to it."""
    if q.qtype is not QType.NUMBER or not BARE_NUMBER_RE.fullmatch(normalize(texts[best])):
        return best
    return grow(cands, texts, best, lambda text: bool(NUMBER_UNIT_RE.fullmatch(normalize(text))))


def grow(cands: Candidates, texts: list[str], best: int, accept: Callable[[str], bool]) -> int:
    """The shortest candidate that starts where `best` does, in its sentence, runs on past
    it and is accepted; `best` itself when there is none."""
    sentence, start, end = cands.spans[best]
    longer = [
        i
        for i, (s, a, b) in enumerate(cands.spans)
        if s == sentence and a == start and b > end and accept(texts[i])
    ]
    return min(longer, key=lambda i: cands.spans[i][2]) if longer else best


def answer_of(cands: Candidates, i: int, conf: float) -> Answer:
    """Candidate `i` as an answer, with its sentence."""
    si, a, b = cands.spans[i]
    sentence = cands.sentences[si]
    return Answer.from_span(
        sentence.hit, sentence.start + a, sentence.start + b, sentence.start, sentence.end, conf
    )
