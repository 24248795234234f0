"""Writing BM25 postings with bounded memory: sorted runs on disk, merged term by term.

The index that `index/lexical.py` reads is term-major: for each term, the
positions of the passages that contain it, with term frequencies and
precomputed BM25 weights. Building it in memory needs every posting of the
corpus at once (about 124 per passage), several times over while sorting. Here
a write instead:

1. gathers the new passages' postings until a run of `run_postings` is full,
   sorts it by term and writes it to disk (raw arrays under the work folder);
2. at the end, walks the terms in chunks and, for each chunk, reads the
   previous generation's postings (without removed passages) and each run's,
   in that order, and appends them to the new generation's files with their
   weights.

Positions are assigned in the order passages arrive (the previous generation's
kept passages first), so within each term the postings come out sorted without
a merge sort: for a term, the base's postings, then run 0's, run 1's, ... The
result is the same index an in-memory build makes.
"""

import json
from array import array
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from newsqa.index.lexical import average_length, bm25_idf, bm25_weights

RUN_POSTINGS = 2_000_000
"""New postings held in memory before they are written out as a run (about 20 MB, 16k passages)."""
MERGE_POSTINGS = 1_000_000
"""Postings read, sorted and written per chunk of terms during the merge."""
CURSOR_BLOCK = 8192
"""Entries of a run's term table read at a time."""

_FILES = ("vocab.json", "indptr.npy", "docs.npy", "tf.npy", "weights.npy", "doc_len.npy", "rows.npy")


@dataclass(frozen=True)
class PostingsStats:
    passages: int
    terms: int
    postings: int


class _Column:
    """Slices of a flat array in a file (raw, or the data part of a 1-d .npy), read with plain reads.

    Nothing is memory-mapped, so what was read once does not stay in the process's memory.
    """

    def __init__(
        self, path: Path, dtype: np.dtype | type, offset: int = 0, length: int | None = None
    ) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.offset = offset
        self.length = length if length is not None else (path.stat().st_size - offset) // self.dtype.itemsize

    @classmethod
    def npy(cls, path: Path) -> "_Column":
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            if len(shape) != 1 or fortran:
                raise ValueError(f"{path}: expected a 1-d array, got shape {shape}")
            return cls(path, dtype, fh.tell(), shape[0])

    def read(self, start: int, stop: int) -> np.ndarray:
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= self.length:
            raise ValueError(f"{self.path}: slice {start}:{stop} out of 0:{self.length}")
        if stop == start:
            return np.zeros(0, dtype=self.dtype)
        out = np.fromfile(
            self.path, dtype=self.dtype, count=stop - start, offset=self.offset + start * self.dtype.itemsize
        )
        if len(out) != stop - start:
            raise ValueError(f"{self.path} is truncated: read {len(out)} of {stop - start} values")
        return out


class _NpyWriter:
    """A 1-d .npy file of known length written chunk by chunk."""

    def __init__(self, path: Path, dtype: np.dtype | type, length: int) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.length = length
        self.written = 0
        self._fh = open(path, "wb")
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (length,),
        }
        np.lib.format.write_array_header_1_0(self._fh, header)

    def write(self, values: np.ndarray) -> None:
        self._fh.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())
        self.written += len(values)

    def close(self) -> None:
        self._fh.close()
        if self.written != self.length:
            raise RuntimeError(f"{self.path}: wrote {self.written} values, expected {self.length}")


@dataclass(frozen=True)
class _Run:
    """One sorted run on disk: the terms it holds, where each one's postings end, and the postings."""

    terms: _Column  # int32, ascending term ids present in the run
    ends: _Column  # int64, end offset of each term's postings in docs/tf
    docs: _Column  # int32, new-passage index (0 = the first passage this write added)
    tf: _Column  # uint16


class _RunCursor:
    """Walks one run's terms in ascending order, a block at a time."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.next_entry = 0  # index into run.terms of the first entry not consumed
        self.offset = 0  # postings offset where that entry starts
        self._block = np.zeros(0, dtype=np.int32)
        self._block_ends = np.zeros(0, dtype=np.int64)
        self._block_start = 0

    def take(self, stop_term: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(terms, docs, tf) of the run's postings for terms below `stop_term` not yet taken."""
        run = self.run
        counts: list[np.ndarray] = []
        terms: list[np.ndarray] = []
        start_offset = self.offset
        while self.next_entry < run.terms.length:
            local = self.next_entry - self._block_start
            if local >= len(self._block):
                self._block_start = self.next_entry
                stop = min(run.terms.length, self.next_entry + CURSOR_BLOCK)
                self._block = run.terms.read(self.next_entry, stop)
                self._block_ends = run.ends.read(self.next_entry, stop)
                local = 0
            block_terms = self._block[local:]
            n = int(np.searchsorted(block_terms, stop_term, side="left"))
            if n == 0:
                break
            ends = self._block_ends[local : local + n]
            begins = np.concatenate([[self.offset], ends[:-1]])
            terms.append(block_terms[:n])
            counts.append(ends - begins)
            self.offset = int(ends[-1])
            self.next_entry += n
            if n < len(block_terms):
                break
        if not terms:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0, dtype=np.uint16)
        term_of = np.repeat(np.concatenate(terms).astype(np.int64), np.concatenate(counts))
        docs = run.docs.read(start_offset, self.offset).astype(np.int64)
        return term_of, docs, run.tf.read(start_offset, self.offset)


class PostingsWriter:
    """Gathers the postings of a write's passages on disk and writes the new generation's BM25 files.

    Args:
        work: a scratch folder for the runs (deleted by the caller).
        base: the previous generation's `bm25/` folder, whose postings are kept
            (less the rows given to `remove`); None for a build from scratch.
        run_postings: postings held in memory before a run is written.
    """

    def __init__(self, work: Path, base: Path | None = None, run_postings: int = RUN_POSTINGS) -> None:
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.base = base
        self.run_postings = run_postings
        self.vocab: dict[str, int] = {}
        if base is not None:
            terms = json.loads((base / "vocab.json").read_text(encoding="utf-8"))
            self.vocab = {t: i for i, t in enumerate(terms)}
        self._removed: set[int] = set()
        self._rows = array("q")  # passage row of each new passage
        self._lens = array("i")  # its length in terms
        self._buf_terms: list[np.ndarray] = []
        self._buf_tf: list[np.ndarray] = []
        self._buf_first_doc = 0
        self._buffered = 0
        self._runs: list[_Run] = []

    def add(self, row: int, words: list[str]) -> None:
        """Add one passage (its row and its search terms)."""
        vocab = self.vocab
        ids = np.fromiter((vocab.setdefault(w, len(vocab)) for w in words), dtype=np.int64, count=len(words))
        terms, counts = np.unique(ids, return_counts=True)
        self._buf_terms.append(terms.astype(np.int32))
        self._buf_tf.append(np.minimum(counts, 65535).astype(np.uint16))
        self._rows.append(int(row))
        self._lens.append(len(words))
        self._buffered += len(terms)
        if self._buffered >= self.run_postings:
            self._write_run()

    def remove(self, rows: Collection[int]) -> None:
        """Drop the passages at `rows`: the base's, or ones this write added (a story's canonical
        article demoted to a copy by a later one)."""
        self._removed.update(int(r) for r in rows)

    @property
    def added(self) -> int:
        return len(self._rows)

    def _write_run(self) -> None:
        if not self._buf_terms:
            return
        sizes = np.fromiter((len(t) for t in self._buf_terms), dtype=np.int64, count=len(self._buf_terms))
        terms = np.concatenate(self._buf_terms)
        tf = np.concatenate(self._buf_tf)
        docs = np.repeat(
            np.arange(self._buf_first_doc, self._buf_first_doc + len(sizes), dtype=np.int32), sizes
        )
        self._buf_first_doc += len(sizes)
        self._buf_terms, self._buf_tf, self._buffered = [], [], 0
        order = np.argsort(terms, kind="stable")  # stable: passages stay in order within a term
        terms, docs, tf = terms[order], docs[order], tf[order]
        del order
        starts = np.flatnonzero(np.concatenate([[True], terms[1:] != terms[:-1]]))
        present = terms[starts]
        counts = np.diff(np.append(starts, len(terms)))
        prefix = self.work / f"run-{len(self._runs):05d}"
        paths = {}
        for name, values in (
            ("terms", present.astype(np.int32)),
            ("ends", np.cumsum(counts).astype(np.int64)),
            ("docs", docs),
            ("tf", tf),
        ):
            paths[name] = Path(f"{prefix}.{name}")
            values.tofile(paths[name])
        self._runs.append(
            _Run(
                terms=_Column(paths["terms"], np.int32),
                ends=_Column(paths["ends"], np.int64),
                docs=_Column(paths["docs"], np.int32),
                tf=_Column(paths["tf"], np.uint16),
            )
        )

    def write(self, out: Path) -> PostingsStats:
        """Write the merged index into `out` (the new generation's `bm25/` folder)."""
        self._write_run()
        out.mkdir(parents=True, exist_ok=True)
        n_terms = len(self.vocab)
        # The base's passages, less the removed ones, keep their order and come first.
        base_docs: _Column | None = None
        base_tf: _Column | None = None
        if self.base is not None:
            base_indptr = np.load(self.base / "indptr.npy", allow_pickle=False)
            base_rows = np.load(self.base / "rows.npy", allow_pickle=False)
            base_lens = np.load(self.base / "doc_len.npy", allow_pickle=False)
            base_docs = _Column.npy(self.base / "docs.npy")
            base_tf = _Column.npy(self.base / "tf.npy")
        else:
            base_indptr = np.zeros(1, dtype=np.int64)
            base_rows = np.zeros(0, dtype=np.int64)
            base_lens = np.zeros(0, dtype=np.int32)
        base_terms = len(base_indptr) - 1
        new_rows = np.frombuffer(self._rows, dtype=np.int64)
        keep_doc = np.ones(len(base_rows), dtype=bool)
        keep_new = np.ones(len(new_rows), dtype=bool)
        if self._removed:
            removed = np.fromiter(self._removed, dtype=np.int64)
            keep_doc = ~np.isin(base_rows, removed)
            keep_new = ~np.isin(new_rows, removed)
        new_pos = (np.cumsum(keep_doc) - 1).astype(np.int64)
        n_kept = int(keep_doc.sum())
        added_pos = (n_kept + np.cumsum(keep_new) - 1).astype(np.int64)
        rows = np.concatenate([base_rows[keep_doc], new_rows[keep_new]])
        lens = np.frombuffer(self._lens, dtype=np.int32)
        doc_len = np.concatenate([base_lens[keep_doc], lens[keep_new]]).astype(np.int32)
        avg = average_length(doc_len)

        # Document frequencies first: the weights need them before any posting is written.
        df = np.zeros(n_terms, dtype=np.int64)
        if base_docs is not None:
            if keep_doc.all():
                df[:base_terms] += np.diff(base_indptr)
            else:
                for a, b in _chunks(base_indptr, MERGE_POSTINGS):
                    docs = base_docs.read(base_indptr[a], base_indptr[b])
                    term_of = np.repeat(np.arange(a, b, dtype=np.int64), np.diff(base_indptr[a : b + 1]))
                    df[:base_terms] += np.bincount(term_of[keep_doc[docs]], minlength=base_terms)
        for run in self._runs:
            present = run.terms.read(0, run.terms.length).astype(np.int64)
            counts = np.diff(np.concatenate([[0], run.ends.read(0, run.ends.length)]))
            if keep_new.all():
                df[present] += counts
            else:
                term_of = np.repeat(present, counts)
                kept = keep_new[run.docs.read(0, run.docs.length)]
                df += np.bincount(term_of[kept], minlength=n_terms)
            del present, counts
        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        idf = bm25_idf(df, len(rows))

        total = int(indptr[-1])
        writers = {
            "docs": _NpyWriter(out / "docs.npy", np.int32, total),
            "tf": _NpyWriter(out / "tf.npy", np.uint16, total),
            "weights": _NpyWriter(out / "weights.npy", np.float32, total),
        }
        cursors = [_RunCursor(run) for run in self._runs]
        for a, b in _chunks(indptr, MERGE_POSTINGS):
            parts_t, parts_d, parts_f = [], [], []
            if base_docs is not None and base_tf is not None and a < base_terms:
                bb = min(b, base_terms)
                lo, hi = base_indptr[a], base_indptr[bb]
                docs = base_docs.read(lo, hi).astype(np.int64)
                tf = base_tf.read(lo, hi)
                term_of = np.repeat(np.arange(a, bb, dtype=np.int64), np.diff(base_indptr[a : bb + 1]))
                keep = keep_doc[docs]
                parts_t.append(term_of[keep])
                parts_d.append(new_pos[docs[keep]])
                parts_f.append(tf[keep])
            for cursor in cursors:
                term_of, docs, tf = cursor.take(b)
                keep = keep_new[docs]
                parts_t.append(term_of[keep])
                parts_d.append(added_pos[docs[keep]])
                parts_f.append(tf[keep])
            if not parts_t:
                continue
            term_of = np.concatenate(parts_t)
            order = np.argsort(term_of, kind="stable")  # stable: base first, then the runs in order
            term_of = term_of[order]
            docs = np.concatenate(parts_d)[order]
            tf = np.concatenate(parts_f)[order]
            writers["docs"].write(docs.astype(np.int32))
            writers["tf"].write(tf.astype(np.uint16))
            writers["weights"].write(bm25_weights(idf[term_of], tf, doc_len[docs], avg))
        for writer in writers.values():
            writer.close()

        vocab = [""] * n_terms
        for term, t in self.vocab.items():
            vocab[t] = term
        (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        np.save(out / "indptr.npy", indptr, allow_pickle=False)
        np.save(out / "doc_len.npy", doc_len, allow_pickle=False)
        np.save(out / "rows.npy", rows.astype(np.int64), allow_pickle=False)
        return PostingsStats(passages=len(rows), terms=n_terms, postings=total)


def _chunks(indptr: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Term ranges [a, b) of about `size` postings each (a term is never split)."""
    n_terms = len(indptr) - 1
    out = []
    a = 0
    while a < n_terms:
        b = int(np.searchsorted(indptr, indptr[a] + size, side="right")) - 1
        b = min(max(b, a + 1), n_terms)
        out.append((a, b))
        a = b
    return out
