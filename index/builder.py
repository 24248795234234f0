"""Writing the index: build from scratch, add incrementally, remove by article id.

Each operation writes a complete new generation beside the live one and
publishes it with one atomic pointer swap (see index/layout.py). Articles are
upserted by id: an article already indexed with the same content is left
alone, so adding the same source twice changes nothing.
"""

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from newsqa.errors import IndexMismatch, NothingIndexed
from newsqa.index.chunking import PassageSplitter
from newsqa.index.embedders import Embedder
from newsqa.index.layout import IndexLayout, Manifest, utc_now
from newsqa.index.lexical import K1, B, BM25Index, BM25Update
from newsqa.index.sources import SourceProblem
from newsqa.index.store import DB_FILE, ArticleDB
from newsqa.index.text import terms
from newsqa.index.types import Article, Passage
from newsqa.index.upsert import ArticleWrite, WriteReport, passage_view, upsert
from newsqa.index.vectors import AnnParams, FaissStore

__all__ = ["IndexWriter", "WriteReport", "passage_view"]

logger = logging.getLogger(__name__)


class IndexWriter:
    """Builds and updates the index under `root` with one embedder and one passage splitter."""

    def __init__(
        self,
        root: Path | str,
        embedder: Embedder,
        splitter: PassageSplitter | None = None,
        ann: AnnParams | None = None,
        *,
        progress: bool = False,
        on_problem: Callable[[SourceProblem], None] | None = None,
    ) -> None:
        self.layout = IndexLayout(root)
        self.embedder = embedder
        self.splitter = splitter or PassageSplitter()
        self.ann = ann or AnnParams()
        self.progress = progress
        self.on_problem = on_problem or (lambda p: logger.warning("%s", p))

    # ---------- public operations ----------
    def build(self, sources: Iterable[Article | SourceProblem]) -> WriteReport:
        """Rebuild from scratch; the live index is replaced only if the build completes."""
        with self.layout.writing():
            return self._write(sources, base=None)

    def add(self, sources: Iterable[Article | SourceProblem]) -> WriteReport:
        """Add or update articles; creates the index when there is none yet."""
        with self.layout.writing():
            base = self.layout.current() if self.layout.exists() else None
            return self._write(sources, base=base)

    def remove(self, article_ids: Iterable[str]) -> WriteReport:
        """Remove articles by id; ids not in the index are reported in `not_found`."""
        started = time.perf_counter()
        with self.layout.writing():
            base = self.layout.current()
            manifest = self._check_model(base)
            generation = self.layout.new_generation()
            try:
                db = ArticleDB.copy_of(base / DB_FILE, generation / DB_FILE)
                wanted = list(dict.fromkeys(article_ids))
                found = db.existing(wanted)
                rows = db.passage_rows(found)
                db.delete_articles(found)
                vectors = FaissStore.load(base, manifest.dim)
                vectors.remove(np.asarray(rows, dtype=np.int64))
                vectors.finalize()
                bm25 = BM25Index.load(base / "bm25").updated(remove_rows=set(rows))
                report = WriteReport(removed=len(found), not_found=[a for a in wanted if a not in set(found)])
                self._finish(generation, db, vectors, bm25, manifest, report)
            except BaseException:
                self.layout.discard(generation)
                raise
        report.seconds = time.perf_counter() - started
        return report

    # ---------- internals ----------
    def _check_model(self, generation: Path) -> Manifest:
        manifest = Manifest.load(generation)
        if manifest.model != self.embedder.name:
            raise IndexMismatch(self.layout.root, manifest.model, self.embedder.name)
        return manifest

    def _write(self, sources: Iterable[Article | SourceProblem], base: Path | None) -> WriteReport:
        started = time.perf_counter()
        self.embedder.warm_up()
        manifest = self._check_model(base) if base is not None else None
        generation = self.layout.new_generation()
        try:
            if base is not None and manifest is not None:
                # An update keeps the chunking the index was built with.
                if manifest.chunking:
                    self.splitter = PassageSplitter(**manifest.chunking)
                db = ArticleDB.copy_of(base / DB_FILE, generation / DB_FILE)
                vectors = FaissStore.load(base, manifest.dim)
                bm25 = BM25Index.load(base / "bm25")
            else:
                db = ArticleDB(generation / DB_FILE)
                vectors = FaissStore(self.embedder.dim, self.ann)
                bm25 = BM25Index.empty()
                manifest = Manifest(model=self.embedder.name, dim=self.embedder.dim)
            report = WriteReport()
            bm25 = self._ingest(sources, db, vectors, bm25, report)
            if report.added + report.updated + report.unchanged == 0 and report.problems:
                raise NothingIndexed(
                    f"nothing could be indexed: all {len(report.problems)} sources or records were "
                    "skipped (see the messages above); the existing index is unchanged"
                )
            if base is not None and report.added + report.updated == 0:
                # Nothing new: keep the live generation as it is.
                db.commit_and_close()
                self.layout.discard(generation)
                report.articles_total, report.passages_total = manifest.articles, manifest.passages
                report.generation = base.name
            else:
                vectors.finalize()
                self._finish(generation, db, vectors, bm25, manifest, report, rebuilt=base is None)
        except BaseException:
            self.layout.discard(generation)
            raise
        report.seconds = time.perf_counter() - started
        return report

    def _ingest(
        self,
        sources: Iterable[Article | SourceProblem],
        db: ArticleDB,
        vectors: FaissStore,
        bm25: BM25Index,
        report: WriteReport,
    ) -> BM25Index:
        target = _GenerationTarget(db, vectors, bm25)
        upsert(
            sources,
            target,
            self.splitter,
            self.embedder,
            report,
            on_problem=self.on_problem,
            progress=self.progress,
        )
        return target.finish()

    def _finish(
        self,
        generation: Path,
        db: ArticleDB,
        vectors: FaissStore,
        bm25: BM25Index,
        manifest: Manifest,
        report: WriteReport,
        rebuilt: bool = False,
    ) -> None:
        articles, passages = db.counts()
        db.commit_and_close()
        vectors.save(generation)
        bm25.save(generation / "bm25")
        manifest.articles, manifest.passages = articles, passages
        manifest.updated_at = utc_now()
        if rebuilt:
            manifest.built_at = manifest.updated_at
        manifest.chunking = {
            "max_chars": self.splitter.max_chars,
            "overlap_chars": self.splitter.overlap_chars,
        }
        manifest.ann = vectors.params.to_dict()
        manifest.bm25 = {
            "k1": K1,
            "b": B,
            "tokenizer": "rjieba search mode + OpenCC t2s + NFKC width folding",
        }
        manifest.save(generation)
        self.layout.publish(generation)
        report.articles_total, report.passages_total = articles, passages
        report.generation = generation.name


class _GenerationTarget:
    """Writes upserted articles into a generation being built: SQLite rows, vectors, BM25."""

    def __init__(self, db: ArticleDB, vectors: FaissStore, bm25: BM25Index) -> None:
        self.db = db
        self.vectors = vectors
        self.bm25 = bm25
        self.lexical = BM25Update(bm25)
        self.next_row = db.next_row()
        self.removed_rows: list[int] = []

    def fingerprints(self, article_ids: list[str]) -> dict[str, str]:
        return self.db.fingerprints(article_ids)

    def write(self, batch: list[ArticleWrite], vectors: np.ndarray) -> None:
        rows: list[int] = []
        for item in batch:
            if item.replaces:
                self.removed_rows += self.db.passage_rows([item.article.id])
                self.db.delete_articles([item.article.id])
            passages = []
            for p, view in zip(item.passages, item.views, strict=True):
                passages.append(
                    Passage(p.id, p.article_id, p.ordinal, p.text, p.start, p.end, row=self.next_row)
                )
                self.lexical.add(self.next_row, terms(view))
                rows.append(self.next_row)
                self.next_row += 1
            self.db.insert(item.article, passages)
        self.vectors.add(np.asarray(rows, dtype=np.int64), vectors)

    def finish(self) -> BM25Index:
        self.db.set_next_row(self.next_row)
        if self.removed_rows:
            self.vectors.remove(np.asarray(self.removed_rows, dtype=np.int64))
        self.lexical.remove(self.removed_rows)
        return self.lexical.apply() if self.lexical else self.bm25
