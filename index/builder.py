"""Writing the index: build from scratch, add incrementally, remove by article id.

Each operation writes a complete new generation beside the live one and
publishes it with one atomic pointer swap (see index/layout.py). Articles are
upserted by id: an article already indexed with the same content is left
alone, so adding the same source twice changes nothing. Wire copies are folded
into their story as they arrive (index/dedup.py): a copy is stored without
passages, and only its story's canonical article is indexed.
"""

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from newsqa.errors import IndexMismatch, NothingIndexed
from newsqa.index.chunking import PassageSplitter
from newsqa.index.dedup import WireCopies
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
        dedup_threshold: float | None = None,
    ) -> None:
        self.layout = IndexLayout(root)
        self.dedup_threshold = dedup_threshold
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
        """Remove articles by id; ids not in the index are reported in `not_found`.

        When a removed article was the canonical one of a story, the earliest of its wire
        copies takes its place and is indexed.
        """
        with self.layout.writing():
            return self._write([], base=self.layout.current(), remove=list(dict.fromkeys(article_ids)))

    # ---------- internals ----------
    def _check_model(self, generation: Path) -> Manifest:
        manifest = Manifest.load(generation)
        if manifest.model != self.embedder.name:
            raise IndexMismatch(self.layout.root, manifest.model, self.embedder.name)
        return manifest

    def _write(
        self, sources: Iterable[Article | SourceProblem], base: Path | None, remove: list[str] | None = None
    ) -> WriteReport:
        started = time.perf_counter()
        if remove is None:
            self.embedder.warm_up()  # removing embeds only when a story's copy takes its place
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
            stories = WireCopies() if self.dedup_threshold is None else WireCopies(self.dedup_threshold)
            removed_rows: list[int] = []
            released: list[Article] = []
            if remove:
                found = db.existing(remove)
                report.removed, report.not_found = len(found), [a for a in remove if a not in set(found)]
                removed_rows = db.passage_rows(found)
                released = stories.release(db, found)
                db.delete_articles(found)
            bm25 = self._ingest(sources, db, vectors, bm25, report, stories, removed_rows, released)
            if report.added + report.updated + report.unchanged == 0 and report.problems:
                kept = "the existing index is unchanged" if self.layout.exists() else "no index was written"
                raise NothingIndexed(
                    f"nothing could be indexed: all {len(report.problems)} sources or records were "
                    f"skipped (see the messages above); {kept}"
                )
            if base is not None and report.added + report.updated + report.removed == 0:
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
        stories: WireCopies,
        removed_rows: list[int],
        released: list[Article],
    ) -> BM25Index:
        """Store, split, embed and BM25-index `sources`; articles in `released` (wire copies whose
        canonical article went away) are placed again first, without counting as added."""
        target = _GenerationTarget(db, vectors, bm25, stories, removed_rows)
        upsert(
            sources,
            target,
            self.splitter,
            self.embedder,
            report,
            on_problem=self.on_problem,
            progress=self.progress,
            again=released,
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
    """Writes upserted articles into a generation being built: SQLite rows, BM25 terms and
    vectors, folding wire copies into their stories."""

    def __init__(
        self,
        db: ArticleDB,
        vectors: FaissStore,
        bm25: BM25Index,
        stories: WireCopies,
        removed_rows: list[int],
    ) -> None:
        self.db = db
        self.vectors = vectors
        self.bm25 = bm25
        self.stories = stories
        self.removed_rows = removed_rows
        self.lexical = BM25Update(bm25)
        self.next_row = db.next_row()
        self._rows: list[int] = []  # rows of the passages added, not yet given their vectors

    def fingerprints(self, article_ids: list[str]) -> dict[str, str]:
        return self.db.fingerprints(article_ids)

    def replace(self, article_id: str) -> list[Article]:
        self.removed_rows += self.db.passage_rows([article_id])
        released = self.stories.release(self.db, [article_id])
        self.db.delete_articles([article_id])
        return released

    def place(self, article: Article) -> bool:
        placement = self.stories.place(self.db, article)
        if placement.copy_of is not None:
            self.db.insert(article, [])
            return False
        if placement.demoted is not None:
            self.removed_rows += self.db.passage_rows([placement.demoted])
            self.db.delete_passages([placement.demoted])
        return True

    def add(self, item: ArticleWrite) -> None:
        passages = []
        for p, view in zip(item.passages, item.views, strict=True):
            passages.append(Passage(p.id, p.article_id, p.ordinal, p.text, p.start, p.end, row=self.next_row))
            self.lexical.add(self.next_row, terms(view))
            self._rows.append(self.next_row)
            self.next_row += 1
        self.db.insert(item.article, passages)

    def add_vectors(self, batch: list[ArticleWrite], vectors: np.ndarray) -> None:
        rows, self._rows = self._rows[: len(vectors)], self._rows[len(vectors) :]
        self.vectors.add(np.asarray(rows, dtype=np.int64), vectors)

    def finish(self) -> BM25Index:
        self.db.set_next_row(self.next_row)
        if self.removed_rows:
            self.vectors.remove(np.asarray(self.removed_rows, dtype=np.int64))
        self.lexical.remove(self.removed_rows)
        return self.lexical.apply() if self.lexical else self.bm25
