"""BM25 over Chinese words (rjieba, search mode) and English words.

The index is term-major: for each term, the rows that contain it and their
precomputed BM25 weights, so that a query touches only the postings of its own
terms. Term frequencies are kept too, so that adding or removing passages
recomputes every weight (document frequencies and the average length change)
without re-reading any text. Files are plain .npy arrays plus a JSON
vocabulary; nothing is pickled.
"""

import json
from collections.abc import Collection, Sequence
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


class BM25Index:
    """Okapi BM25 with precomputed weights; `search` returns passage rows and scores."""

    def __init__(self, postings: _Postings, weights: np.ndarray | None = None) -> None:
        self._p = postings
        self.weights = weights if weights is not None else self._weights(postings)
        self.idf = self._idf(postings)

    # ---------- building ----------
    @classmethod
    def empty(cls) -> "BM25Index":
        return cls(
            _Postings(
                vocab={},
                indptr=np.zeros(1, dtype=np.int64),
                docs=np.zeros(0, dtype=np.int32),
                tf=np.zeros(0, dtype=np.uint16),
                doc_len=np.zeros(0, dtype=np.int32),
                rows=np.zeros(0, dtype=np.int64),
            )
        )

    def updated(
        self,
        add: Sequence[tuple[int, list[str]]] = (),
        remove_rows: Collection[int] = (),
    ) -> "BM25Index":
        """A new index with `add` (row, terms) passages added and `remove_rows` dropped."""
        update = BM25Update(self)
        for row, words in add:
            update.add(row, words)
        update.remove(remove_rows)
        return update.apply()

    @staticmethod
    def _idf(p: _Postings) -> np.ndarray:
        n = max(len(p.rows), 1)
        df = np.diff(p.indptr).astype(np.float64)
        return np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)

    @classmethod
    def _weights(cls, p: _Postings) -> np.ndarray:
        if len(p.docs) == 0:
            return np.zeros(0, dtype=np.float32)
        idf = cls._idf(p)
        term_of = np.repeat(np.arange(len(p.indptr) - 1), np.diff(p.indptr))
        avg = max(float(p.doc_len.mean()), 1.0)
        tf = p.tf.astype(np.float32)
        norm = K1 * (1.0 - B + B * p.doc_len[p.docs].astype(np.float32) / avg)
        return (idf[term_of] * tf * (K1 + 1.0) / (tf + norm)).astype(np.float32)

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

    # ---------- persistence ----------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        p = self._p
        vocab = [""] * len(p.vocab)
        for term, t in p.vocab.items():
            vocab[t] = term
        (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        for name in ("indptr", "docs", "tf", "doc_len", "rows"):
            np.save(directory / f"{name}.npy", getattr(p, name), allow_pickle=False)
        np.save(directory / "weights.npy", self.weights, allow_pickle=False)

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


class BM25Update:
    """Changes to a BM25 index, gathered one passage at a time, then applied at once.

    Each added passage is kept as term ids and counts, not as strings, so that
    gathering hundreds of thousands of passages stays small.
    """

    def __init__(self, base: BM25Index) -> None:
        self.base = base
        self.vocab = dict(base._p.vocab)
        self._terms: list[np.ndarray] = []
        self._tf: list[np.ndarray] = []
        self._rows: list[int] = []
        self._lens: list[int] = []
        self._removed: set[int] = set()

    def add(self, row: int, words: list[str]) -> None:
        vocab = self.vocab
        ids = np.fromiter((vocab.setdefault(w, len(vocab)) for w in words), dtype=np.int64, count=len(words))
        terms, counts = np.unique(ids, return_counts=True)
        self._terms.append(terms)
        self._tf.append(np.minimum(counts, 65535).astype(np.uint16))
        self._rows.append(row)
        self._lens.append(len(words))

    def remove(self, rows: Collection[int]) -> None:
        self._removed.update(int(r) for r in rows)

    def __bool__(self) -> bool:
        return bool(self._rows or self._removed)

    def apply(self) -> BM25Index:
        if self._removed and self._rows:
            # A passage added and removed in the same update (a story's canonical article replaced).
            keep = [i for i, row in enumerate(self._rows) if row not in self._removed]
            self._terms = [self._terms[i] for i in keep]
            self._tf = [self._tf[i] for i in keep]
            self._rows = [self._rows[i] for i in keep]
            self._lens = [self._lens[i] for i in keep]
        p = self.base._p
        # Expand the existing postings to (term, position, tf) triples, drop removed rows.
        term_of = np.repeat(np.arange(len(p.indptr) - 1, dtype=np.int64), np.diff(p.indptr))
        keep_doc = np.ones(len(p.rows), dtype=bool)
        if self._removed:
            keep_doc = ~np.isin(p.rows, np.fromiter(self._removed, dtype=np.int64))
        new_pos = np.cumsum(keep_doc) - 1
        keep = keep_doc[p.docs]
        base = int(keep_doc.sum())
        sizes = np.fromiter((len(t) for t in self._terms), dtype=np.int64, count=len(self._terms))
        added_docs = np.repeat(np.arange(base, base + len(self._terms), dtype=np.int64), sizes)
        all_terms = np.concatenate([term_of[keep], *self._terms]) if self._terms else term_of[keep]
        order = np.argsort(all_terms, kind="stable")
        indptr = np.zeros(len(self.vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(all_terms, minlength=len(self.vocab)), out=indptr[1:])
        docs = np.concatenate([new_pos[p.docs[keep]].astype(np.int64), added_docs])
        tf = np.concatenate([np.asarray(p.tf[keep]), *self._tf]) if self._tf else np.asarray(p.tf[keep])
        postings = _Postings(
            vocab=self.vocab,
            indptr=indptr,
            docs=docs[order].astype(np.int32),
            tf=tf[order].astype(np.uint16),
            doc_len=np.concatenate([p.doc_len[keep_doc], np.asarray(self._lens, dtype=np.int32)]),
            rows=np.concatenate([p.rows[keep_doc], np.asarray(self._rows, dtype=np.int64)]),
        )
        return BM25Index(postings)
