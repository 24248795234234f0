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

from newsqa.index.backend import PassageKey, Ranked, Store
from newsqa.index.embedders import Embedder
from newsqa.index.filters import SearchFilter
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
    """Finds the passages most likely to answer a question.

    Both searches go to the store, each with the search filter, and are fused
    here, the same way whichever backend holds the index.
    """

    def __init__(self, store: Store, embedder: Embedder, params: FusionParams | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.params = params or FusionParams()

    def search(
        self,
        question: str,
        k: int | None = None,
        where: SearchFilter | None = None,
        prefer_article: str | None = None,
    ) -> list[Hit]:
        """Fused hits, best first, up to `k` (default: the candidate pool size).

        Args:
            where: only the passages of the articles this filter allows.
            prefer_article: an article whose passages get `PREFER_BOOST` (the previous
                turn's, for a follow-up): preferred among the candidates, never forced in.
        """
        k = k or self.params.candidates
        pool = max(k, self.params.candidates)
        lexical = self.store.lexical_search(question, pool, where)
        query = self.embedder.embed_queries([question])[0]
        dense = self.store.dense_search(query, pool, where)
        fused = self.fuse(lexical, dense)
        if prefer_article:
            for key in self.store.passage_keys(prefer_article):
                if key in fused:
                    score, lexical_score, dense_score = fused[key]
                    fused[key] = (score + PREFER_BOOST, lexical_score, dense_score)
        top = sorted(fused.items(), key=lambda kv: -kv[1][0])[:k]
        stored = self.store.passages(key for key, _ in top)
        hits = []
        for key, (score, lexical_score, dense_score) in top:
            if key in stored:
                s = stored[key]
                hits.append(Hit(s.passage, s.article, score, lexical_score, dense_score))
        return hits

    def search_lexical(self, question: str, k: int, where: SearchFilter | None = None) -> list[Hit]:
        """BM25 alone, best first (for the baseline and for comparisons)."""
        ranked = self.store.lexical_search(question, k, where)
        stored = self.store.passages(key for key, _ in ranked)
        top = ranked[0][1] if ranked else 1.0
        return [
            Hit(stored[key].passage, stored[key].article, score / top, score, 0.0)
            for key, score in ranked
            if key in stored
        ]

    def fuse(self, lexical: Ranked, dense: Ranked) -> dict[PassageKey, tuple[float, float, float]]:
        """Each candidate's (fused, lexical, dense) score."""
        lex = dict(lexical)
        den = dict(dense)
        # Lexical order first, then dense-only candidates: ties break the same way in every backend.
        candidates = list(lex) + [key for key in den if key not in lex]
        fused: dict[PassageKey, tuple[float, float, float]] = {}
        if self.params.method == "rrf":
            lex_rank = {key: i for i, key in enumerate(lex)}
            dense_rank = {key: i for i, key in enumerate(den)}
            for key in candidates:
                score = sum(1.0 / (RRF_K + 1 + rank[key]) for rank in (lex_rank, dense_rank) if key in rank)
                fused[key] = (score, lex.get(key, 0.0), den.get(key, 0.0))
            return fused
        w = self.params.lexical_weight
        lex_norm = dict(
            zip(lex, _minmax(np.array(list(lex.values()), dtype=np.float32)).tolist(), strict=True)
        )
        dense_norm = dict(
            zip(den, _minmax(np.array(list(den.values()), dtype=np.float32)).tolist(), strict=True)
        )
        for key in candidates:
            score = w * lex_norm.get(key, 0.0) + (1 - w) * dense_norm.get(key, 0.0)
            fused[key] = (score, lex.get(key, 0.0), den.get(key, 0.0))
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
