"""Hybrid retrieval: BM25 and dense search on the same question, fused.

Two fusions are available. `weighted` min-max normalises each list's scores
over its candidates and mixes them with a weight; `rrf` is reciprocal rank
fusion. On Chinese news lexical evidence is strong and the dense model weak,
so the default is weighted fusion leaning on BM25 (bench/retrieval.py holds
the figures behind the choice).
"""

import logging
from dataclasses import dataclass

import numpy as np

from newsqa.index.embedders import Embedder
from newsqa.index.store import IndexSnapshot
from newsqa.index.text import terms
from newsqa.qa.types import Hit

logger = logging.getLogger(__name__)

RRF_K = 60
# Added to the fused score of the passages of the article a follow-up question comes from
# (fused scores are in [0, 1]): that article wins close calls, not clear ones.
PREFER_BOOST = 0.15


@dataclass(frozen=True)
class FusionParams:
    method: str = "weighted"  # "weighted" or "rrf"
    lexical_weight: float = 0.8
    candidates: int = 50

    def __post_init__(self) -> None:
        if self.method not in ("weighted", "rrf"):
            raise ValueError(f"fusion method must be 'weighted' or 'rrf', got {self.method!r}")
        if not 0.0 <= self.lexical_weight <= 1.0:
            raise ValueError(f"lexical_weight must be in [0, 1], got {self.lexical_weight}")
        if self.candidates < 1:
            raise ValueError(f"candidates must be positive, got {self.candidates}")


def _minmax(scores: np.ndarray) -> np.ndarray:
    if len(scores) == 0:
        return scores
    lo, hi = float(scores.min()), float(scores.max())
    if hi - lo < 1e-9:
        return np.ones_like(scores)
    return (scores - lo) / (hi - lo)


class HybridRetriever:
    """Finds the passages most likely to answer a question."""

    def __init__(
        self, snapshot: IndexSnapshot, embedder: Embedder, params: FusionParams | None = None
    ) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self.params = params or FusionParams()

    def search(self, question: str, k: int | None = None, prefer_article: str | None = None) -> list[Hit]:
        """Fused hits, best first, up to `k` (default: the candidate pool size).

        Args:
            prefer_article: an article whose passages get `PREFER_BOOST` (the previous
                turn's, for a follow-up): preferred among the candidates, never forced in.
        """
        k = k or self.params.candidates
        pool = max(k, self.params.candidates)
        lex_rows, lex_scores = self.snapshot.lexical_search(terms(question), pool)
        query = self.embedder.embed_queries([question])[0]
        dense_rows, dense_scores = self.snapshot.dense_search(query, pool)
        fused = self._fuse(lex_rows, lex_scores, dense_rows, dense_scores)
        if prefer_article:
            for p in self.snapshot.article_passages(prefer_article):
                if p.row in fused:
                    score, lexical, dense = fused[p.row]
                    fused[p.row] = (score + PREFER_BOOST, lexical, dense)
        top = sorted(fused.items(), key=lambda kv: -kv[1][0])[:k]
        stored = self.snapshot.passages(row for row, _ in top)
        hits = []
        for row, (score, lexical, dense) in top:
            if row in stored:
                s = stored[row]
                hits.append(Hit(s.passage, s.article, score, lexical, dense))
        return hits

    def search_lexical(self, question: str, k: int) -> list[Hit]:
        """BM25 alone, best first (for the baseline and for comparisons)."""
        rows, scores = self.snapshot.lexical_search(terms(question), k)
        stored = self.snapshot.passages(rows.tolist())
        top = float(scores[0]) if len(scores) else 1.0
        return [
            Hit(stored[r].passage, stored[r].article, float(s) / top, float(s), 0.0)
            for r, s in zip(rows.tolist(), scores.tolist(), strict=True)
            if r in stored
        ]

    def _fuse(
        self, lex_rows: np.ndarray, lex_scores: np.ndarray, dense_rows: np.ndarray, dense_scores: np.ndarray
    ) -> dict[int, tuple[float, float, float]]:
        lexical = {int(r): float(s) for r, s in zip(lex_rows, lex_scores, strict=True)}
        dense = {int(r): float(s) for r, s in zip(dense_rows, dense_scores, strict=True)}
        fused: dict[int, tuple[float, float, float]] = {}
        if self.params.method == "rrf":
            lex_rank = {r: i for i, r in enumerate(lexical)}
            dense_rank = {r: i for i, r in enumerate(dense)}
            for r in lexical.keys() | dense.keys():
                score = sum(1.0 / (RRF_K + 1 + rank[r]) for rank in (lex_rank, dense_rank) if r in rank)
                fused[r] = (score, lexical.get(r, 0.0), dense.get(r, 0.0))
            return fused
        w = self.params.lexical_weight
        lex_norm = dict(
            zip(lexical, _minmax(np.array(list(lexical.values()), dtype=np.float32)).tolist(), strict=True)
        )
        dense_norm = dict(
            zip(dense, _minmax(np.array(list(dense.values()), dtype=np.float32)).tolist(), strict=True)
        )
        for r in lexical.keys() | dense.keys():
            score = w * lex_norm.get(r, 0.0) + (1 - w) * dense_norm.get(r, 0.0)
            fused[r] = (score, lexical.get(r, 0.0), dense.get(r, 0.0))
        return fused


def one_per_article(hits: list[Hit], k: int) -> list[Hit]:
    """The best `k` hits with at most one passage per article (overlapping passages collapse too)."""
    seen: set[str] = set()
    out = []
    for hit in hits:
        if hit.article.id in seen:
            continue
        seen.add(hit.article.id)
        out.append(hit)
        if len(out) == k:
            break
    return out
