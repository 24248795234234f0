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
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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
from newsqa.index.vectors import AnnParams, FaissStore

logger = logging.getLogger(__name__)

EMBED_BATCH = 256


def passage_view(title: str, passage_text: str) -> str:
    """What is embedded and BM25-indexed for a passage: its article's title, then the passage."""
    return f"{title}\n{passage_text}"


@dataclass
class WriteReport:
    """What an index operation did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    copies: int = 0
    """Of the added and updated articles, how many are wire copies folded into a story."""
    passages_added: int = 0
    problems: list[SourceProblem] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    articles_total: int = 0
    passages_total: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    generation: str = ""

    def summary(self) -> str:
        parts = [f"{self.added} added", f"{self.updated} updated", f"{self.unchanged} unchanged"]
        if self.copies:
            parts.append(f"{self.copies} of them wire copies folded into their stories")
        if self.removed:
            parts.append(f"{self.removed} removed")
        line = (
            f"articles: {', '.join(parts)}; {self.passages_added} new passages; index now holds "
            f"{self.articles_total} articles, {self.passages_total} passages ({self.seconds:.1f}s)"
        )
        if self.problems:
            line += f"; {len(self.problems)} skipped (see messages above)"
        return line


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
        from tqdm import tqdm

        next_row = db.next_row()
        pending: list[tuple[Passage, str]] = []
        lexical = BM25Update(bm25)
        seen: set[str] = set()
        replaced: deque[Article] = deque(released)
        bar = tqdm(desc="indexing", unit=" passages", disable=not self.progress, leave=False)

        def flush() -> None:
            if not pending:
                return
            t0 = time.perf_counter()
            matrix = self.embedder.embed_passages([view for _, view in pending])
            report.embed_seconds += time.perf_counter() - t0
            vectors.add(np.fromiter((p.row for p, _ in pending), dtype=np.int64), matrix)
            bar.update(len(pending))
            pending.clear()

        stream = iter(sources)
        while True:
            # Copies taken out of a story whose canonical article went away are placed again first.
            again = bool(replaced)
            item: Article | SourceProblem | None = replaced.popleft() if again else next(stream, None)
            if item is None:
                break
            if isinstance(item, SourceProblem):
                report.problems.append(item)
                self.on_problem(item)
                continue
            if not again:
                if item.id in seen:
                    continue
                seen.add(item.id)
                old = db.fingerprint(item.id)
                if old == item.fingerprint:
                    report.unchanged += 1
                    continue
                if old is not None:
                    removed_rows += db.passage_rows([item.id])
                    replaced.extendleft(reversed(stories.release(db, [item.id])))
                    db.delete_articles([item.id])
                    report.updated += 1
                else:
                    report.added += 1
            placement = stories.place(db, item)
            if placement.copy_of is not None:
                db.insert(item, [])
                report.copies += not again
                continue
            if placement.demoted is not None:
                removed_rows += db.passage_rows([placement.demoted])
                db.delete_passages([placement.demoted])
            passages = []
            for p in self.splitter.split(item):
                passages.append(Passage(p.id, p.article_id, p.ordinal, p.text, p.start, p.end, row=next_row))
                next_row += 1
            db.insert(item, passages)
            for p in passages:
                view = passage_view(item.title, p.text)
                pending.append((p, view))
                lexical.add(p.row, terms(view))
            report.passages_added += len(passages)
            if len(pending) >= EMBED_BATCH:
                flush()
        flush()
        bar.close()
        db.set_next_row(next_row)
        if removed_rows:
            vectors.remove(np.asarray(removed_rows, dtype=np.int64))
        lexical.remove(removed_rows)
        return lexical.apply() if lexical else bm25

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
