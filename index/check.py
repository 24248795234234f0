"""`newsqa index check`: do the parts of the live generation agree with each other?

Checked, each problem becoming one `Finding`:

- the layout: CURRENT names a generation that is there, with its manifest;
- SQLite: its own quick check; every passage's article exists; each article's
  passages are exactly how its text splits with the index's chunking (ids,
  ordinals, offsets inside the text); stored fingerprints; rows never reused;
- FAISS: readable, the manifest's dimension, one vector per passage row and
  none for rows that are not passages, unit-length vectors, and (on a sample)
  the vectors the manifest's model gives for the stored text;
- BM25: the arrays fit together, one document per passage row, and every
  passage's postings are the terms of its stored text (compared through a
  per-passage hash), with the weights BM25 gives them;
- the manifest: article and passage counts, model, dimension, vector index kind.

`IndexWriter.repair` fixes whatever is derived from the stored articles.
"""

import json
import logging
import os
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from newsqa.errors import IndexCorrupt, IndexNotFound
from newsqa.index.articles_db import DB_FILE, ArticleReader
from newsqa.index.builder import passage_view
from newsqa.index.check_tasks import PassageSummary, Tasks, article_findings, mix, passage_summary
from newsqa.index.embedders import Embedder
from newsqa.index.layout import IndexLayout, Manifest
from newsqa.index.lexical import average_length, bm25_idf, bm25_weights
from newsqa.index.vectors import FaissStore

logger = logging.getLogger(__name__)

SHOWN_PER_KIND = 5
"""Findings of one kind listed one by one; the rest are counted in one more line."""
MODEL_SAMPLE = 8
"""Passages re-embedded to check that the stored vectors come from the manifest's model."""
MODEL_COSINE = 0.99
PARALLEL_FROM = 20_000
"""Passages from which the check splits and tokenizes in worker processes (below, starting them costs more)."""
ARTICLES_PER_TASK = 2_000
PASSAGES_PER_TASK = 4_000


@dataclass(frozen=True)
class Finding:
    """One disagreement between the parts of the index."""

    part: str  # layout, manifest, sqlite, vectors, bm25
    message: str
    repairable: bool = True
    kind: str = ""  # findings of one kind are capped at SHOWN_PER_KIND lines

    def __str__(self) -> str:
        return f"{self.part}: {self.message}"


@dataclass
class CheckReport:
    root: Path
    generation: str = ""
    articles: int = 0
    passages: int = 0
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    model_mismatch: bool = False

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def repairable(self) -> bool:
        return all(f.repairable for f in self.findings)

    def lines(self) -> list[str]:
        """One line per finding, at most SHOWN_PER_KIND per kind and a count of the rest."""
        shown: Counter[str] = Counter()
        total = Counter(f.kind or f.message for f in self.findings)
        out = []
        for finding in self.findings:
            kind = finding.kind or finding.message
            shown[kind] += 1
            if shown[kind] <= SHOWN_PER_KIND:
                out.append(str(finding))
            elif shown[kind] == SHOWN_PER_KIND + 1:
                out.append(f"{finding.part}: ... and {total[kind] - SHOWN_PER_KIND} more like the above")
        return out

    def summary(self) -> str:
        where = f"{self.root} ({self.generation or 'no generation'})"
        if self.ok:
            return (
                f"index at {where}: {self.articles} articles, {self.passages} passages: "
                f"every check passed ({self.seconds:.1f}s)"
            )
        hint = (
            "run `newsqa index check --repair` to rebuild the derived parts from the stored articles"
            if self.repairable
            else "the stored articles are damaged: rebuild with `newsqa index build SOURCES...`"
        )
        problems = f"{len(self.findings)} problem{'s' if len(self.findings) > 1 else ''}"
        return f"index at {where}: {problems} found ({self.seconds:.1f}s); {hint}"


class _Checker:
    def __init__(self, layout: IndexLayout, embedder: Callable[[str], Embedder] | None, workers: int) -> None:
        self.layout = layout
        self.embedder = embedder
        self.workers = workers
        self.report = CheckReport(layout.root)
        self.pool = Tasks(1)

    def _add_article_findings(self, findings: list[tuple[str, str]]) -> None:
        for kind, message in findings:
            self.find("sqlite", message, kind=kind)

    def find(self, part: str, message: str, *, kind: str = "", repairable: bool = True) -> None:
        self.report.findings.append(Finding(part, message, repairable, kind))

    def note(self, message: str) -> None:
        self.report.notes.append(message)

    # ---------- the parts ----------
    def run(self) -> CheckReport:
        started = time.perf_counter()
        try:
            self._run()
        finally:
            self.report.seconds = time.perf_counter() - started
        return self.report

    def _run(self) -> None:
        layout = self.layout
        name = layout.pointer()
        if name is None:
            raise IndexNotFound(layout.root)
        self.report.generation = name
        self._generations(name)
        generation = layout.root / name
        if not generation.is_dir():
            self.find("layout", f"CURRENT points to {name}, which is missing", repairable=False)
            return
        try:
            manifest = Manifest.load(generation)
        except IndexCorrupt as exc:
            self.find("manifest", str(exc).split(": rebuild")[0], repairable=False)
            return
        try:
            db = ArticleReader(generation / DB_FILE)
        except FileNotFoundError:
            self.find("sqlite", f"{generation / DB_FILE} is missing", repairable=False)
            return
        workers = self.workers if manifest.passages >= PARALLEL_FROM else 1
        self.pool = Tasks(workers)
        try:
            rows = self._sqlite(db, manifest)
            self._bm25(generation, rows, db)
            # FAISS and the model in this process while the workers tokenize.
            self._vectors(generation, manifest, rows, db)
            self.pool.finish()
        except sqlite3.DatabaseError as exc:
            self.find("sqlite", f"{generation / DB_FILE} cannot be read: {exc}", repairable=False)
        finally:
            db.close()
            self.pool.finish()

    def _generations(self, current: str) -> None:
        keep = {current, self.layout.previous()}
        others = [g.name for g in self.layout.generations() if g.name not in keep]
        if not others:
            return
        holder = self.layout.holder()
        if holder is not None:
            self.note(f"{holder.describe()}: {', '.join(others)} is being written")
        else:
            self.note(
                f"{', '.join(others)}: left by an interrupted write or held by a reader; "
                "the next write deletes it"
            )

    def _sqlite(self, db: ArticleReader, manifest: Manifest) -> np.ndarray:
        for problem in db.quick_check()[:SHOWN_PER_KIND]:
            self.find("sqlite", f"SQLite quick_check: {problem}", kind="quick_check")
        articles, passages = db.counts()
        self.report.articles, self.report.passages = articles, passages
        if (manifest.articles, manifest.passages) != (articles, passages):
            self.find(
                "manifest",
                f"says {manifest.articles} articles and {manifest.passages} passages; "
                f"passages.sqlite holds {articles} and {passages}",
            )
        n_orphans, orphans = db.orphan_passages(SHOWN_PER_KIND)
        for row, pid, article_id in orphans:
            self.find(
                "sqlite",
                f"passage {pid} (row {row}) belongs to article {article_id}, which is missing",
                kind="orphan",
            )
        for _ in range(n_orphans - len(orphans)):
            self.find("sqlite", "passage without its article", kind="orphan")
        for copy_id, canonical_id, why in db.broken_story_links():
            self.find("sqlite", f"article {copy_id} is a wire copy of {canonical_id}, {why}", kind="story")
        low, high = db.rowid_range()
        for first in range(low, high + 1, ARTICLES_PER_TASK):
            self.pool.submit(
                self._add_article_findings,
                article_findings,
                str(db.path),
                manifest.chunking,
                (first, min(first + ARTICLES_PER_TASK - 1, high)),
            )
        rows = db.rows()
        recorded = db.recorded_next_row()
        if len(rows) and (recorded is None or recorded <= int(rows[-1])):
            self.find(
                "sqlite",
                f"the next free row is recorded as {recorded}, not above the highest row {int(rows[-1])}",
            )
        return rows

    def _vectors(self, generation: Path, manifest: Manifest, rows: np.ndarray, db: ArticleReader) -> None:
        try:
            ann = json.loads((generation / "ann.json").read_text(encoding="utf-8"))
            store = FaissStore.load(generation, manifest.dim)
        except (OSError, ValueError, RuntimeError) as exc:
            self.find("vectors", f"cannot load the vectors of {generation.name}: {exc}")
            return
        if manifest.ann.get("kind") != ann.get("kind") or store.kind != ann.get("kind"):
            self.find(
                "manifest",
                f"says vector index {manifest.ann.get('kind')!r}; ann.json says {ann.get('kind')!r}",
            )
        ids = store.ids()
        unique, counts = np.unique(ids, return_counts=True)
        for row in unique[counts > 1][:SHOWN_PER_KIND].tolist():
            self.find("vectors", f"row {row} has more than one vector", kind="duplicate-vector")
        live = np.setdiff1d(unique, store.removed)
        missing = np.setdiff1d(rows, live)
        extra = np.setdiff1d(live, rows)
        for row in missing.tolist():
            self.find("vectors", f"passage row {row} has no vector", kind="missing-vector")
        for row in extra.tolist():
            self.find("vectors", f"vector for row {row}, which is not a passage", kind="extra-vector")
        bad = 0
        for _, vectors in store.iter_vectors():
            norms = np.linalg.norm(vectors, axis=1)
            bad += int((~np.isfinite(norms) | (np.abs(norms - 1.0) > 1e-3)).sum())
        if bad:
            self.find("vectors", f"{bad} vectors are not of unit length (damaged values)")
        self._model(store, manifest, np.intersect1d(rows, live), db)

    def _model(self, store: FaissStore, manifest: Manifest, rows: np.ndarray, db: ArticleReader) -> None:
        if self.embedder is None or not len(rows):
            return
        try:
            embedder = self.embedder(manifest.model)
            embedder.warm_up()
        except Exception as exc:  # a model that is not installed here: say so, check the rest
            self.note(f"model {manifest.model!r} cannot be loaded here ({exc}); vectors not compared with it")
            return
        if embedder.dim != manifest.dim:
            self.find(
                "manifest", f"says {manifest.dim} dimensions; model {manifest.model!r} gives {embedder.dim}"
            )
            self.report.model_mismatch = True
            return
        sample = set(random.Random(0).sample(rows.tolist(), min(MODEL_SAMPLE, len(rows))))
        views = {row: passage_view(title, text) for row, title, text in db.passage_views(sorted(sample))}
        picked = sorted(views)
        fresh = embedder.embed_passages([views[r] for r in picked])
        stored = np.vstack([store.vector(r) for r in picked])
        cosine = float(np.min(np.sum(fresh * stored, axis=1)))
        if cosine < MODEL_COSINE:
            self.report.model_mismatch = True
            self.find(
                "vectors",
                f"the stored vectors are not what model {manifest.model!r} gives for the stored text "
                f"(lowest cosine {cosine:.3f} on {len(picked)} sampled passages)",
            )

    def _bm25(self, generation: Path, rows: np.ndarray, db: ArticleReader) -> None:
        folder = generation / "bm25"
        try:
            vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
            arrays = {
                name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                for name in ("indptr", "docs", "tf", "weights", "doc_len", "rows")
            }
        except (OSError, ValueError) as exc:
            self.find("bm25", f"cannot load the postings of {generation.name}: {exc}")
            return
        indptr, docs, tf, weights = arrays["indptr"], arrays["docs"], arrays["tf"], arrays["weights"]
        doc_len, bm25_rows = np.asarray(arrays["doc_len"]), np.asarray(arrays["rows"])
        shape_problems = []
        if len(indptr) != len(vocab) + 1:
            shape_problems.append(f"{len(vocab)} terms but {len(indptr) - 1} posting lists")
        elif len(indptr) and (indptr[0] != 0 or np.any(np.diff(indptr) < 0)):
            shape_problems.append("posting list offsets are not ascending")
        elif not (int(indptr[-1]) == len(docs) == len(tf) == len(weights)):
            shape_problems.append(
                f"{int(indptr[-1])} postings in the offsets, {len(docs)} documents, {len(tf)} "
                f"frequencies, {len(weights)} weights"
            )
        if len(doc_len) != len(bm25_rows):
            shape_problems.append(f"{len(bm25_rows)} passages but {len(doc_len)} lengths")
        if len(docs) and (int(np.min(docs)) < 0 or int(np.max(docs)) >= len(bm25_rows)):
            shape_problems.append("postings point past the last passage")
        if len(set(vocab)) != len(vocab):
            shape_problems.append("the vocabulary repeats terms")
        for problem in shape_problems:
            self.find("bm25", problem)
        if shape_problems:
            return
        unique, counts = np.unique(bm25_rows, return_counts=True)
        for row in unique[counts > 1][:SHOWN_PER_KIND].tolist():
            self.find("bm25", f"row {row} is indexed more than once", kind="duplicate-bm25")
        for row in np.setdiff1d(rows, unique).tolist():
            self.find("bm25", f"passage row {row} is not in the postings", kind="missing-bm25")
        for row in np.setdiff1d(unique, rows).tolist():
            self.find("bm25", f"row {row} is in the postings but is not a passage", kind="extra-bm25")
        position = {int(r): i for i, r in enumerate(bm25_rows.tolist())}

        def compare(summary: PassageSummary) -> None:
            for i, row in enumerate(summary.rows.tolist()):
                pos = position.get(row)
                if pos is None:
                    continue  # reported above
                if summary.unknown[i] or (
                    (summary.lengths[i], summary.distinct[i], summary.hashes[i])
                    != (doc_len[pos], distinct[pos], hashes[pos])
                ):
                    self.find(
                        "bm25",
                        f"the postings of passage row {row} are not the terms of its text",
                        kind="postings",
                    )

        # The workers tokenize the stored text while this process sums up the stored postings.
        if len(rows):
            first_row, last_row = int(rows[0]), int(rows[-1])
            for first in range(first_row, last_row + 1, PASSAGES_PER_TASK):
                self.pool.submit(
                    compare,
                    passage_summary,
                    str(db.path),
                    str(folder / "vocab.json"),
                    (first, min(first + PASSAGES_PER_TASK - 1, last_row)),
                )

        # Each passage's postings, summarised as a hash of (term, frequency) pairs and a count.
        n_docs = len(bm25_rows)
        hashes = np.zeros(n_docs, dtype=np.uint64)
        distinct = np.zeros(n_docs, dtype=np.int64)
        idf = bm25_idf(np.diff(indptr), n_docs)
        avg = average_length(doc_len)
        bad_weights = 0
        step = 4_000_000
        for lo in range(0, len(docs), step):
            hi = min(lo + step, len(docs))
            d = np.asarray(docs[lo:hi], dtype=np.int64)
            f = np.asarray(tf[lo:hi])
            t = np.searchsorted(indptr, np.arange(lo, hi), side="right") - 1
            np.add.at(hashes, d, mix(t, f))
            distinct += np.bincount(d, minlength=n_docs)
            expected = bm25_weights(idf[t], f, doc_len[d], avg)
            bad_weights += int(
                (~np.isclose(np.asarray(weights[lo:hi]), expected, rtol=1e-4, atol=1e-6)).sum()
            )
        if bad_weights:
            self.find("bm25", f"{bad_weights} postings carry a weight BM25 does not give them")


def check_index(
    root: Path | str, embedder: Callable[[str], Embedder] | None = None, *, workers: int | None = None
) -> CheckReport:
    """Check the live generation under `root`.

    Args:
        embedder: `embedder(model_name)` loads the model, to compare a sample of vectors with it.
        workers: processes that split articles and tokenize passages again
            [default: one per core, from PARALLEL_FROM passages on].

    Raises:
        IndexNotFound: nothing has been built there.
    """
    return _Checker(IndexLayout(root), embedder, workers or os.cpu_count() or 1).run()
