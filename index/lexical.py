"""BM25 over Chinese words (rjieba, search mode) and English words.

The index is term-major: for each term, the rows that contain it and their
precomputed BM25 weights, so that a query touches only the postings of its own
terms. Term frequencies are kept too, so that adding or removing passages
recomputes every weight (document frequencies and the average length change)
without re-reading any text. The writer builds these files streaming, in
index/postings.py. Files are plain .npy arrays plus a JSON
vocabulary; nothing is pickled.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

K1 = 1.2
B = 0.75


@dataclass
class _Postings:
    vocab: dict[str, int]
    indptr: np.ndarray  # (n_terms + 1,) int64: postings of term t are [indptr[t], indptr[t+1])
    docs: np.ndarray  # (nnz,) int32: positions into `rows`
    tf: np.ndarray  # (nnz,) uint16
    doc_len: np.ndarray  # (n_docs,) int32
    rows: np.ndarray  # (n_docs,) int64: the passage row of each position


def bm25_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """Each term's IDF from its document frequency `df` among `n_docs` passages."""
    n = max(n_docs, 1)
    df = np.asarray(df, dtype=np.float64)
    return np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)


def average_length(doc_len: np.ndarray) -> float:
    """The mean passage length in terms, at least 1 (the weights divide by it)."""
    return max(float(doc_len.mean()), 1.0) if len(doc_len) else 1.0


def bm25_weights(idf: np.ndarray, tf: np.ndarray, doc_len: np.ndarray, avg: float) -> np.ndarray:
    """The stored weight of each posting, from its term's IDF, its frequency and its passage's
    length (one value per posting in each argument)."""
    tf = tf.astype(np.float32)
    norm = K1 * (1.0 - B + B * doc_len.astype(np.float32) / avg)
    return (idf * tf * (K1 + 1.0) / (tf + norm)).astype(np.float32)


class BM25Index:
    """Okapi BM25 with precomputed weights; `search` returns passage rows and scores."""

    def __init__(self, postings: _Postings, weights: np.ndarray) -> None:
        self._p = postings
        self.weights = weights
        self.idf = bm25_idf(np.diff(postings.indptr), len(postings.rows))

    # ---------- querying ----------
    def __len__(self) -> int:
        return len(self._p.rows)

    @property
    def rows(self) -> np.ndarray:
        return self._p.rows

    def term_ids(self, words: list[str]) -> list[int]:
        vocab = self._p.vocab
        return [vocab[w] for w in dict.fromkeys(words) if w in vocab]

    def term_weights(self, words: list[str]) -> list[float]:
        vocab = self._p.vocab
        rarest = float(np.log(1.0 + (len(self._p.rows) + 0.5) / 0.5))
        return [float(self.idf[vocab[w]]) if w in vocab else rarest for w in words]

    def search(
        self, words: list[str], k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The `k` best rows for a query's terms: (rows, scores), best first; only `allowed`
        rows (sorted) when given."""
        p = self._p
        ids = self.term_ids(words)
        if not ids or len(p.rows) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = np.zeros(len(p.rows), dtype=np.float32)
        for t in ids:
            lo, hi = p.indptr[t], p.indptr[t + 1]
            scores[p.docs[lo:hi]] += self.weights[lo:hi]
        if allowed is not None:
            scores[~np.isin(p.rows, allowed, assume_unique=True)] = 0.0
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return p.rows[top], scores[top]

    # ---------- persistence (the files index/postings.py writes) ----------
    @classmethod
    def load(cls, directory: Path, *, mmap: bool = False) -> "BM25Index":
        """The index saved in `directory`; with `mmap`, the postings are mapped read-only (for
        serving: processes share one copy in the page cache)."""
        terms = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
        mode: Literal["r"] | None = "r" if mmap else None
        arrays = {
            name: np.load(directory / f"{name}.npy", mmap_mode=mode, allow_pickle=False)
            for name in ("indptr", "docs", "doc_len", "rows")
        }
        # Frequencies are only read to rebuild after an update: map them, don't load them.
        arrays["tf"] = np.load(directory / "tf.npy", mmap_mode="r", allow_pickle=False)
        postings = _Postings(vocab={t: i for i, t in enumerate(terms)}, **arrays)
        weights = np.load(directory / "weights.npy", mmap_mode=mode, allow_pickle=False)
        return cls(postings, weights=weights)
