"""Writing the index: build from scratch, add incrementally, remove by article id, repair.

Each operation writes a complete new generation beside the live one and
publishes it with one atomic pointer swap (see index/layout.py). Articles are
upserted by id: an article already indexed with the same content is left
alone, so adding the same source twice changes nothing. Wire copies are folded
into their story as they arrive (index/dedup.py): a copy is stored without
passages, and only its story's canonical article is indexed.

Writes stream, so memory stays flat in the size of the import: articles are
read, split, embedded and stored a batch at a time; SQLite rows go in as they
come, vectors are spooled to disk and added to FAISS in batches, and BM25
postings are written in sorted runs and merged (index/postings.py).

A writer reports each stage it reaches to `on_stage` (see `STAGES`): that is
where tests stop and kill it (index/faults.py).
"""

import contextlib
import logging
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from newsqa.errors import DiskFull, IndexCorrupt, IndexMismatch, NothingIndexed
from newsqa.index.articles_db import DB_FILE, ArticleDB, ArticleReader
from newsqa.index.chunking import PassageSplitter
from newsqa.index.dedup import WireCopies
from newsqa.index.embedders import Embedder
from newsqa.index.layout import IndexLayout, Manifest, is_disk_full, tree_bytes, utc_now
from newsqa.index.lexical import K1, B
from newsqa.index.postings import PostingsWriter
from newsqa.index.sources import SourceProblem
from newsqa.index.text import terms
from newsqa.index.types import Article, Passage
from newsqa.index.upsert import EMBED_BATCH, ArticleWrite, WriteReport, passage_view, upsert
from newsqa.index.vectors import AnnParams, FaissStore, VectorSpool, write_vectors

__all__ = ["EMBED_BATCH", "IndexWriter", "WriteReport", "passage_view"]

logger = logging.getLogger(__name__)

WORK = ".work"
"""Scratch folder inside a generation being written (spooled vectors, BM25 runs)."""
# Beyond the final files, a write holds each new passage's vector and postings in scratch files.
SCRATCH_BYTES_PER_PASSAGE = 8 + 124 * 10


class IndexWriter:
    """Builds and updates the index under `root` with one embedder and one passage splitter.

    Args:
        wait: when another process is writing this index, wait for it (saying
            so through `on_notice`); by default raise IndexBusy at once (the
            command line waits unless given --no-wait).
        on_notice: one-line messages for the user (waiting for another writer,
            taking over from a killed one).
        on_stage: called with each stage name of `STAGES` as the write reaches it.
        dedup_threshold: similarity from which two articles are one story [default: index/dedup.py].
    """

    STAGES = (
        "locked",
        "generation-created",
        "db-copied",
        "batch-written",
        "ingested",
        "db-committed",
        "vectors-written",
        "bm25-written",
        "manifest-written",
        "synced",
        "published",
    )

    def __init__(
        self,
        root: Path | str,
        embedder: Embedder,
        splitter: PassageSplitter | None = None,
        ann: AnnParams | None = None,
        *,
        progress: bool = False,
        on_problem: Callable[[SourceProblem], None] | None = None,
        wait: bool = False,
        on_notice: Callable[[str], None] | None = None,
        on_stage: Callable[[str], None] | None = None,
        dedup_threshold: float | None = None,
    ) -> None:
        self.layout = IndexLayout(root)
        self.dedup_threshold = dedup_threshold
        self.embedder = embedder
        self.splitter = splitter or PassageSplitter()
        self.ann = ann or AnnParams()
        self.progress = progress
        self.on_problem = on_problem or (lambda p: logger.warning("%s", p))
        self.wait = wait
        self.on_notice = on_notice or (lambda message: logger.warning("%s", message))
        self._on_stage = on_stage

    # ---------- public operations ----------
    def build(self, sources: Iterable[Article | SourceProblem]) -> WriteReport:
        """Rebuild from scratch; the live index is replaced only if the build completes."""
        with self._locked("build"):
            return self._write(sources, base=None)

    def add(self, sources: Iterable[Article | SourceProblem]) -> WriteReport:
        """Add or update articles; creates the index when there is none yet."""
        with self._locked("add"):
            base = self.layout.current() if self.layout.exists() else None
            return self._write(sources, base=base)

    def remove(self, article_ids: Iterable[str]) -> WriteReport:
        """Remove articles by id; ids not in the index are reported in `not_found`.

        When a removed article was the canonical one of a story, the earliest of its wire
        copies takes its place and is indexed.
        """
        with self._locked("remove"):
            return self._write([], base=self.layout.current(), remove=list(dict.fromkeys(article_ids)))

    def repair(self, *, reembed: bool = False) -> WriteReport:
        """Re-derive passages, vectors and BM25 postings from the stored articles, as a new generation.

        Nothing is re-read from the sources: the articles in the live
        generation's SQLite are split again with the index's chunking. A
        passage whose row and stored vector are both sound keeps them (unless
        `reembed`); every other passage gets a new row and is embedded again
        from its stored text. The postings are rebuilt from the stored text and
        the manifest is rewritten. Passages whose article is gone are dropped.

        Raises:
            IndexCorrupt: the articles themselves cannot be read.
        """
        started = time.perf_counter()
        with self._locked("repair"):
            base = self.layout.current()
            manifest = self._check_model(base)
            if manifest.chunking:
                self.splitter = PassageSplitter(**manifest.chunking)
            self.embedder.warm_up()
            self._check_space(base, manifest.passages)
            generation = self.layout.new_generation()
            self._stage("generation-created")
            report = WriteReport()
            try:
                work = generation / WORK
                spool = VectorSpool(work, manifest.dim)
                postings = PostingsWriter(work / "bm25")
                db = ArticleDB(generation / DB_FILE)
                try:
                    keep, next_row = self._resplit(
                        ArticleReader(base / DB_FILE), db, spool, postings, reembed, report
                    )
                except sqlite3.DatabaseError as exc:
                    raise IndexCorrupt(
                        f"the articles in {base / DB_FILE} cannot be read ({exc}): they cannot be recovered "
                        "from this generation; rebuild with `newsqa index build SOURCES...`"
                    ) from exc
                # Kept passages take their stored vector when it is sound, else are embedded again.
                missing = self._reuse_vectors(base, manifest.dim, keep, spool)
                pending: list[tuple[int, str]] = []
                for row, view in db.passage_views(sorted(missing)):
                    pending.append((row, view))
                    if len(pending) >= EMBED_BATCH:
                        report.passages_added += self._embed(pending, spool, report)
                report.passages_added += self._embed(pending, spool, report)
                db.set_next_row(next_row)
                self._stage("ingested")
                # A fresh vector index from the spool, with the index's own search parameters.
                self.ann = AnnParams.from_dict(manifest.ann) if manifest.ann else self.ann
                self._finish(generation, db, spool, postings, [], None, manifest, report, rebuilt=False)
            except BaseException as exc:
                self._abandon(generation, exc, base, manifest.passages)
                raise
        report.seconds = time.perf_counter() - started
        return report

    # ---------- internals ----------
    def _stage(self, name: str) -> None:
        if self._on_stage is not None:
            self._on_stage(name)

    @contextlib.contextmanager
    def _locked(self, command: str) -> Iterator[None]:
        with self.layout.writing(command, wait=self.wait, notify=self.on_notice):
            self._stage("locked")
            yield

    def _check_model(self, generation: Path) -> Manifest:
        manifest = Manifest.load(generation)
        if manifest.model != self.embedder.name:
            raise IndexMismatch(self.layout.root, manifest.model, self.embedder.name)
        return manifest

    def _check_space(self, base: Path | None, new_passages: int) -> None:
        """Fail before writing anything when the disk cannot hold a copy of the live generation."""
        if base is None:
            return
        size = tree_bytes(base)
        self.layout.check_space(
            int(size * 1.05) + new_passages * SCRATCH_BYTES_PER_PASSAGE, "the new generation"
        )

    def _abandon(self, generation: Path, exc: BaseException, base: Path | None, new_passages: int) -> None:
        """Delete a generation that will never be published; turn a full disk into DiskFull."""
        written = tree_bytes(generation)
        full = is_disk_full(exc, _free_bytes(self.layout.root))
        self.layout.discard(generation)
        if not full:
            return
        free = shutil.disk_usage(self.layout.root).free
        base_size = tree_bytes(base) if base is not None else 0
        # Vectors, then text, SQLite keys and postings: about 4.5 KB a passage at 512 dimensions.
        per_passage = self.embedder.dim * 4 + 2_500
        if base is not None:
            with_base = Manifest.load(base)
            if with_base.passages:
                per_passage = base_size // with_base.passages
        estimate = base_size + new_passages * (per_passage + SCRATCH_BYTES_PER_PASSAGE)
        # It did not fit: the write needed more than was free when it started.
        needed = max(estimate, written, free + 1_000_000)
        raise DiskFull(self.layout.root, needed, free, f"writing {generation.name}") from exc

    def _embed(self, pending: list[tuple[int, str]], spool: VectorSpool, report: WriteReport) -> int:
        if not pending:
            return 0
        t0 = time.perf_counter()
        matrix = self.embedder.embed_passages([view for _, view in pending])
        report.embed_seconds += time.perf_counter() - t0
        spool.append(np.fromiter((row for row, _ in pending), dtype=np.int64, count=len(pending)), matrix)
        n = len(pending)
        pending.clear()
        self._stage("batch-written")
        return n

    def _resplit(
        self,
        old: "ArticleReader",
        db: ArticleDB,
        spool: VectorSpool,
        postings: PostingsWriter,
        reembed: bool,
        report: WriteReport,
    ) -> tuple[set[int], int]:
        """Split every stored article again into `db`; (rows kept from the old generation, next row)."""
        keep: set[int] = set()
        next_row = old.next_row()
        pending: list[tuple[int, str]] = []
        try:
            links = old.story_links()  # copies whose story is sound stay copies; others are indexed
            for article, _, _ in old.articles_with_fingerprints():
                if article.id in links:
                    db.insert(article, [])
                    db.set_copy(article.id, links[article.id])
                    report.unchanged += 1
                    continue
                known = {} if reembed else old.passage_rows_by_span(article.id)
                passages = []
                for p in self.splitter.split(article):
                    view = passage_view(article.title, p.text)
                    row = known.get((p.id, p.start, p.end))
                    if row is None:
                        row, next_row = next_row, next_row + 1
                        pending.append((row, view))
                    else:
                        keep.add(row)
                    passages.append(Passage(p.id, p.article_id, p.ordinal, p.text, p.start, p.end, row=row))
                    postings.add(row, terms(view))
                db.insert(article, passages)
                report.unchanged += 1
                if len(pending) >= EMBED_BATCH:
                    report.passages_added += self._embed(pending, spool, report)
            report.passages_added += self._embed(pending, spool, report)
            for article_id, minhash in old.signatures():
                db.save_signature(article_id, minhash)
        finally:
            old.close()
        return keep, next_row

    def _reuse_vectors(self, base: Path, dim: int, keep: set[int], spool: VectorSpool) -> set[int]:
        """Spool the stored vectors of `keep` that are sound (finite, unit length); the rows left over."""
        missing = set(keep)
        try:
            store = FaissStore.load(base, dim)
            for rows, vectors in store.iter_vectors():
                norms = np.linalg.norm(vectors, axis=1)
                sound = np.isfinite(norms) & (np.abs(norms - 1.0) < 1e-3)
                take = [i for i, r in enumerate(rows.tolist()) if sound[i] and r in missing]
                if take:
                    spool.append(rows[take], vectors[take])
                    missing.difference_update(rows[take].tolist())
        except Exception as exc:  # an unreadable vector file: embed every kept passage again
            logger.warning("the vectors of %s cannot be read (%s): embedding again", base.name, exc)
        return missing

    def _write(
        self, sources: Iterable[Article | SourceProblem], base: Path | None, remove: list[str] | None = None
    ) -> WriteReport:
        started = time.perf_counter()
        if remove is None:
            self.embedder.warm_up()  # removing embeds only when a story's copy takes its place
        manifest = self._check_model(base) if base is not None else None
        self._check_space(base, 0)
        generation = self.layout.new_generation()
        self._stage("generation-created")
        report = WriteReport()
        try:
            if base is not None and manifest is not None:
                # An update keeps the chunking the index was built with.
                if manifest.chunking:
                    self.splitter = PassageSplitter(**manifest.chunking)
                db = ArticleDB.copy_of(base / DB_FILE, generation / DB_FILE)
                self._stage("db-copied")
            else:
                db = ArticleDB(generation / DB_FILE)
                manifest = Manifest(model=self.embedder.name, dim=self.embedder.dim)
            work = generation / WORK
            spool = VectorSpool(work, manifest.dim)
            postings = PostingsWriter(work / "bm25", base / "bm25" if base is not None else None)
            stories = WireCopies() if self.dedup_threshold is None else WireCopies(self.dedup_threshold)
            removed_rows: list[int] = []
            released: list[Article] = []
            if remove:
                found = db.existing(remove)
                report.removed, report.not_found = len(found), [a for a in remove if a not in set(found)]
                removed_rows = db.passage_rows(found)
                released = stories.release(db, found)
                db.delete_articles(found)
            self._ingest(sources, db, spool, postings, report, stories, removed_rows, released)
            del stories, released  # its signatures and bands: not needed for the vectors and postings
            if report.added + report.updated + report.unchanged == 0 and report.problems:
                kept = "the existing index is unchanged" if self.layout.exists() else "no index was written"
                raise NothingIndexed(
                    f"nothing could be indexed: all {len(report.problems)} sources or records were "
                    f"skipped (see the messages above); {kept}"
                )
            if base is not None and report.added + report.updated + report.removed == 0:
                # Nothing new: keep the live generation as it is.
                db.commit_and_close()
                spool.delete()
                self.layout.discard(generation)
                report.articles_total, report.passages_total = manifest.articles, manifest.passages
                report.generation = base.name
            else:
                self._finish(generation, db, spool, postings, removed_rows, base, manifest, report)
        except BaseException as exc:
            self._abandon(generation, exc, base, report.passages_added)
            raise
        report.seconds = time.perf_counter() - started
        return report

    def _ingest(
        self,
        sources: Iterable[Article | SourceProblem],
        db: ArticleDB,
        spool: VectorSpool,
        postings: PostingsWriter,
        report: WriteReport,
        stories: WireCopies,
        removed_rows: list[int],
        released: list[Article],
    ) -> None:
        """Read, split, store, embed and post every article (the loop of index/upsert.py);
        `removed_rows` gains the rows of replaced passages. Articles in `released` (wire copies
        whose canonical article went away) are placed again first, without counting as added."""
        target = _GenerationTarget(db, spool, postings, stories, removed_rows, self._stage)
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
        target.finish()
        self._stage("ingested")

    def _finish(
        self,
        generation: Path,
        db: ArticleDB,
        spool: VectorSpool,
        postings: PostingsWriter,
        removed_rows: list[int],
        base: Path | None,
        manifest: Manifest,
        report: WriteReport,
        *,
        rebuilt: bool | None = None,
    ) -> None:
        """Write the vectors, the postings and the manifest next to `db`, then publish the generation.

        `rebuilt` (default: when there is no `base`) stamps the manifest's build time.
        """
        articles, passages = db.counts()
        db.commit_and_close()
        self._stage("db-committed")
        ann = write_vectors(
            generation,
            manifest.dim,
            self.ann,
            spool,
            base=base,
            remove_rows=np.asarray(removed_rows, dtype=np.int64),
        )
        spool.delete()
        self._stage("vectors-written")
        postings.write(generation / "bm25")
        shutil.rmtree(generation / WORK)
        self._stage("bm25-written")
        manifest.articles, manifest.passages = articles, passages
        manifest.updated_at = utc_now()
        if rebuilt if rebuilt is not None else base is None:
            manifest.built_at = manifest.updated_at
        manifest.chunking = {
            "max_chars": self.splitter.max_chars,
            "overlap_chars": self.splitter.overlap_chars,
        }
        manifest.ann = ann.to_dict()
        manifest.bm25 = {
            "k1": K1,
            "b": B,
            "tokenizer": "rjieba search mode + OpenCC t2s + NFKC width folding",
        }
        manifest.save(generation)
        self._stage("manifest-written")
        self.layout.publish(generation, on_stage=self._stage)
        report.articles_total, report.passages_total = articles, passages
        report.generation = generation.name


def _free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


class _GenerationTarget:
    """Where the upsert loop writes a generation being built: SQLite rows as they come,
    vectors to the spool, terms to the BM25 runs; wire copies folded into their stories."""

    def __init__(
        self,
        db: ArticleDB,
        spool: VectorSpool,
        postings: PostingsWriter,
        stories: WireCopies,
        removed_rows: list[int],
        on_stage: Callable[[str], None],
    ) -> None:
        self.db = db
        self.spool = spool
        self.postings = postings
        self.stories = stories
        self.removed_rows = removed_rows
        self.on_stage = on_stage
        self.next_row = db.next_row()
        self._rows: list[int] = []  # rows of the passages added, not yet given their vectors

    def first_sight(self, article_id: str) -> bool:
        return self.db.first_sight(article_id)

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
            # Its rows may be from this very write: the spool and the runs drop them too.
            self.removed_rows += self.db.passage_rows([placement.demoted])
            self.db.delete_passages([placement.demoted])
        return True

    def add(self, item: ArticleWrite) -> None:
        passages = []
        for p, view in zip(item.passages, item.views, strict=True):
            passages.append(Passage(p.id, p.article_id, p.ordinal, p.text, p.start, p.end, row=self.next_row))
            self.postings.add(self.next_row, terms(view))
            self._rows.append(self.next_row)
            self.next_row += 1
        self.db.insert(item.article, passages)

    def add_vectors(self, batch: list[ArticleWrite], vectors: np.ndarray) -> None:
        rows, self._rows = self._rows[: len(vectors)], self._rows[len(vectors) :]
        self.spool.append(np.asarray(rows, dtype=np.int64), vectors)
        self.on_stage("batch-written")

    def finish(self) -> None:
        self.db.set_next_row(self.next_row)
        self.postings.remove(self.removed_rows)
