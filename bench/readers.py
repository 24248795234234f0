"""Readers side by side on one SQuAD-style test set: gold paragraph, open domain, unanswerable.

For every question of the test set and every system (the BM25 + best-sentence
baseline, the feature reader, the span reader), in one run:
- **gold paragraph**: the system reads the question's own paragraph (split
  into passages as the index splits articles) and its best answer is scored,
  abstention aside;
- **open domain**: the question is asked of an index of every context of the
  test set, as `Answerer.ask` does it (the hybrid retriever, the first
  `read` passages to the reader, the reader's own abstention threshold);
  hit@1 is the gold article first among the cited passages;
- **unanswerable**: the same question with its gold article taken out of the
  retrieved passages (the retriever's pool is 50 passages, so what is left
  is what an index without that article would return, up to BM25 and fusion
  statistics): every answer given there is wrong, so the abstention rate is
  the figure;
- **reader ms**: the reader's own time per open-domain question.

EM and F1 are CMRC 2018 style (newsqa.qa.metrics); an abstention scores 0.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from newsqa.index.chunking import PassageSplitter
from newsqa.index.types import ArticleRef, Passage
from newsqa.qa.answerer import READ_PASSAGES, Answerer
from newsqa.qa.evaluate import EvalQuestion, load_squad
from newsqa.qa.metrics import exact_match, f1
from newsqa.qa.retrieval import one_per_article
from newsqa.qa.types import Answer, Hit, Reader


def load_questions(paths: list[Path]) -> list[EvalQuestion]:
    """Every answerable question of the files, with its paragraph and its article's index id."""
    return [q for path in paths for q in load_squad(path)[0] if q.paragraph]


def gold_hits(q: EvalQuestion, splitter: PassageSplitter) -> list[Hit]:
    """The question's own paragraph as the passages the index would make of it."""
    article = ArticleRef(q.article_id, q.title, None, None, None)
    return [
        Hit(Passage(f"gold:{i}", q.article_id, i, q.paragraph[s:e], s, e), article, 1.0)
        for i, (s, e) in enumerate(splitter.spans(q.paragraph))
    ]


@dataclass
class Tally:
    gold_em: list[float] = field(default_factory=list)
    gold_f1: list[float] = field(default_factory=list)
    hit1: list[float] = field(default_factory=list)
    em: list[float] = field(default_factory=list)
    f1: list[float] = field(default_factory=list)
    abstained: list[float] = field(default_factory=list)
    abstained_unanswerable: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        def mean(xs: list[float]) -> float:
            return round(float(np.mean(xs)), 3) if xs else 0.0

        return {
            "questions": len(self.em),
            "gold EM": mean(self.gold_em),
            "gold F1": mean(self.gold_f1),
            "hit@1": mean(self.hit1),
            "EM": mean(self.em),
            "F1": mean(self.f1),
            "abstain ans.": mean(self.abstained),
            "abstain unans.": mean(self.abstained_unanswerable),
            "reader ms p50": round(float(np.percentile(self.ms, 50)), 1) if self.ms else 0.0,
            "reader ms mean": round(float(np.mean(self.ms)), 1) if self.ms else 0.0,
        }


def first(answers: list[Answer], threshold: float) -> Answer | None:
    return answers[0] if answers and answers[0].confidence >= threshold else None


def run(
    answerer: Answerer,
    readers: dict[str, Reader],
    questions: list[EvalQuestion],
    read: int = READ_PASSAGES,
    thresholds: dict[str, float] | None = None,
    progress: Callable[[int], object] | None = None,
) -> dict[str, dict[str, Any]]:
    """Figures per reader over `questions`, retrieval shared by all readers (the baseline
    reads BM25's passages, as it always has)."""
    chunking = answerer.snapshot.manifest.chunking
    splitter = PassageSplitter(chunking.get("max_chars", 300), chunking.get("overlap_chars", 60))
    tallies = {name: Tally() for name in readers}
    thresholds = thresholds or {}
    for i, q in enumerate(questions):
        fused = answerer.retriever.search(q.question, max(15, read * 2))
        lexical = answerer.retriever.search_lexical(q.question, 15)
        golds = gold_hits(q, splitter)
        for name, reader in readers.items():
            t = tallies[name]
            hits = lexical if name == "baseline" else fused
            threshold = thresholds.get(name, reader.default_threshold)
            best = first(reader.read(q.question, golds), 0.0)
            t.gold_em.append(exact_match(best.text, q.answers) if best else 0.0)
            t.gold_f1.append(f1(best.text, q.answers) if best else 0.0)
            started = time.perf_counter()
            answer = first(reader.read(q.question, hits[:read]), threshold)
            t.ms.append((time.perf_counter() - started) * 1000)
            cited = [h for h in hits if answer and h.passage.id == answer.passage.id]
            shown = cited + [
                h for h in one_per_article(hits, 5) if not cited or h.article.id != cited[0].article.id
            ]
            t.hit1.append(float(bool(shown) and shown[0].article.id == q.article_id))
            t.abstained.append(float(answer is None))
            t.em.append(exact_match(answer.text, q.answers) if answer else 0.0)
            t.f1.append(f1(answer.text, q.answers) if answer else 0.0)
            others = [h for h in hits if h.article.id != q.article_id]
            t.abstained_unanswerable.append(
                float(first(reader.read(q.question, others[:read]), threshold) is None)
            )
        if progress:
            progress(i + 1)
    return {name: tally.figures() for name, tally in tallies.items()}
