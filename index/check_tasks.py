"""The per-article and per-passage work of `newsqa index check`, runnable in worker processes.

Splitting every article again and tokenizing every passage again is most of a
check's time; these functions take a range of rows, open the SQLite file
themselves and return small results, so that a pool of processes can share
the work (`Tasks`), one per core.
"""

import concurrent.futures
import functools
import json
import multiprocessing
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsqa.index.articles_db import ArticleReader
from newsqa.index.builder import passage_view
from newsqa.index.chunking import PassageSplitter
from newsqa.index.text import terms

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


class Tasks:
    """Runs (function, args) tasks in worker processes, or in this one for a small index; each result
    goes to its callback in this process, in the order the tasks were submitted."""

    def __init__(self, workers: int) -> None:
        self._executor: concurrent.futures.Executor | None = None
        if workers > 1:
            context = multiprocessing.get_context("spawn")  # never fork a process holding FAISS's threads
            self._executor = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)
        self._pending: list[tuple[Callable[[Any], None], Any]] = []

    def submit(self, callback: Callable[[Any], None], fn: Callable[..., Any], *args: Any) -> None:
        if self._executor is None:
            done: concurrent.futures.Future = concurrent.futures.Future()
            done.set_result(fn(*args))
            self._pending.append((callback, done))
        else:
            self._pending.append((callback, self._executor.submit(fn, *args)))

    def finish(self) -> None:
        """Wait for every task and hand each result to its callback."""
        for callback, future in self._pending:
            callback(future.result())
        self._pending.clear()
        if self._executor is not None:
            self._executor.shutdown()


@dataclass
class PassageSummary:
    """What the postings of each passage in a range should be, summarised (see `_mix`)."""

    rows: np.ndarray
    lengths: np.ndarray  # terms in the text
    distinct: np.ndarray  # distinct terms
    hashes: np.ndarray  # sum of mix(term id, frequency) over the distinct terms
    unknown: np.ndarray  # a term of the text is not in the vocabulary at all


@functools.lru_cache(maxsize=1)
def _vocabulary(path: str) -> dict[str, int]:
    # Read once per worker process (tasks of one check all name the same file).
    terms_ = json.loads(Path(path).read_text(encoding="utf-8"))
    return {t: i for i, t in enumerate(terms_)}


def passage_summary(db_path: str, vocab_path: str, between: tuple[int, int]) -> PassageSummary:
    """Tokenize the passages with rows in `between` as the writer does, and summarise their postings."""
    term_id = _vocabulary(vocab_path)
    db = ArticleReader(Path(db_path))
    rows, lengths, distinct, unknown = [], [], [], []
    ids: list[int] = []
    counts: list[int] = []
    try:
        for row, title, text in db.passage_views(between=between):
            words = terms(passage_view(title, text))
            counted = Counter(words)
            these = [term_id.get(w, -1) for w in counted]
            rows.append(row)
            lengths.append(len(words))
            distinct.append(len(counted))
            unknown.append(-1 in these)
            ids += these
            counts += counted.values()
    finally:
        db.close()
    mixed = mix(np.asarray(ids, dtype=np.int64), np.minimum(np.asarray(counts, dtype=np.int64), 65535))
    starts = np.concatenate([[0], np.cumsum(distinct)[:-1]]).astype(np.int64)
    hashes = np.zeros(len(rows), dtype=np.uint64)
    nonempty = np.asarray(distinct, dtype=np.int64) > 0
    if nonempty.any():
        # reduceat over the non-empty passages only: it misreads empty segments.
        hashes[nonempty] = np.add.reduceat(mixed, starts[nonempty])
    return PassageSummary(
        np.asarray(rows, dtype=np.int64),
        np.asarray(lengths, dtype=np.int64),
        np.asarray(distinct, dtype=np.int64),
        hashes,
        np.asarray(unknown, dtype=bool),
    )


def article_findings(
    db_path: str, chunking: dict[str, int], rowids: tuple[int, int]
) -> list[tuple[str, str]]:
    """(kind, message) for each article with rowid in `rowids` whose passages or fingerprint are wrong:
    a canonical article's passages must be how its text splits, a wire copy must have none."""
    splitter = PassageSplitter(**chunking) if chunking else PassageSplitter()
    db = ArticleReader(Path(db_path))
    out = []
    try:
        for article, fingerprint, canonical in db.articles_with_fingerprints(rowids):
            if article.fingerprint != fingerprint:
                out.append(
                    (
                        "fingerprint",
                        f"article {article.id}: its stored fingerprint does not match its fields "
                        "(changed outside newsqa?)",
                    )
                )
            got = [(pid, ordinal, start, end) for _, pid, ordinal, start, end in db.passages_of(article.id)]
            if canonical is not None:
                # A wire copy is stored without passages; its story's canonical article has them.
                if got:
                    out.append(
                        (
                            "copy-passages",
                            f"article {article.id} is a copy of {canonical} but has {len(got)} passages",
                        )
                    )
                continue
            expected = [(p.id, p.ordinal, p.start, p.end) for p in splitter.split(article)]
            if got != expected:
                out.append(("offsets", passages_differ(article.id, len(article.text), got, expected)))
    finally:
        db.close()
    return out


def mix(term: np.ndarray, tf: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each (term id, frequency) pair; sums of these summarise a passage."""
    with np.errstate(over="ignore"):
        x = term.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + tf.astype(np.uint64) * np.uint64(
            0xC2B2AE3D27D4EB4F
        )
        x ^= x >> np.uint64(31)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(29)
    return x & _MASK


def passages_differ(
    article_id: str,
    length: int,
    got: list[tuple[str, int, int, int]],
    expected: list[tuple[str, int, int, int]],
) -> str:
    for pid, _, start, end in got:
        if not 0 <= start < end <= length:
            return f"passage {pid}: offsets {start}:{end} fall outside its article ({length} characters)"
    for i, (g, e) in enumerate(zip(got, expected, strict=False)):
        if g != e:
            return (
                f"article {article_id}: passage {i} is {g[0]} at {g[2]}:{g[3]}, but the text splits "
                f"into {e[0]} at {e[2]}:{e[3]}"
            )
    return f"article {article_id}: {len(got)} passages stored, its text splits into {len(expected)}"
