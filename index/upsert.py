"""What writing an index does whatever the backend holds it.

Sources are read, articles are upserted by id, split into passages and embedded
in batches, and each batch goes to the backend's `UpsertTarget`, which stores
it. An article already stored with the same fingerprint is left alone (adding
the same source twice changes nothing); one stored with another fingerprint is
replaced, its old passages dropped by the target; a new one is added. A target
may fold wire copies into their story (the local one does, index/dedup.py):
it then stores a copy itself and the loop does not index it.
"""

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from newsqa.errors import NothingIndexed
from newsqa.index.chunking import PassageSplitter
from newsqa.index.embedders import Embedder
from newsqa.index.sources import SourceProblem
from newsqa.index.types import Article, Passage

logger = logging.getLogger(__name__)

EMBED_BATCH = 256
# Articles whose stored fingerprints are looked up in one call (one round trip to a server).
LOOKUP_BATCH = 64


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


def check_something_indexed(report: WriteReport) -> None:
    """Raise NothingIndexed when every source was skipped (the index is then left as it was)."""
    if report.added + report.updated + report.unchanged == 0 and report.problems:
        raise NothingIndexed(
            f"nothing could be indexed: all {len(report.problems)} sources or records were "
            "skipped (see the messages above); the existing index is unchanged"
        )


@dataclass(frozen=True)
class ArticleWrite:
    """One article to store, its passages, and what is embedded and indexed for each passage."""

    article: Article
    passages: list[Passage]
    views: list[str]
    replaces: bool
    """An older version of the article was stored (`UpsertTarget.replace` was called for it)."""


class UpsertTarget(Protocol):
    """Where `upsert` writes: one backend's write in progress.

    For each article the loop calls, in order: `first_sight`, `replace` (when an older version is
    stored), `place` (is it indexed, or stored as a wire copy), `add` (its passages,
    before they are embedded) and, once a batch is embedded, `add_vectors`.
    """

    def first_sight(self, article_id: str) -> bool:
        """True the first time this write meets `article_id`, False after (the first of
        several articles with one id in a run wins)."""
        ...

    def fingerprints(self, article_ids: list[str]) -> dict[str, str]:
        """The stored fingerprint of each of these articles that is stored."""
        ...

    def replace(self, article_id: str) -> list[Article]:
        """Drop (or mark for replacing) the stored version of an article about to be written
        again; returns stored articles that must be placed again (wire copies of its story)."""
        ...

    def place(self, article: Article) -> bool:
        """Whether the article is to be indexed; False when the target stored it as a copy."""
        ...

    def add(self, item: ArticleWrite) -> None:
        """An article and its passages, about to be embedded."""
        ...

    def add_vectors(self, batch: list[ArticleWrite], vectors: np.ndarray) -> None:
        """The vectors of the batch's passages, one row per passage, in order."""
        ...


def upsert(
    sources: Iterable[Article | SourceProblem],
    target: UpsertTarget,
    splitter: PassageSplitter,
    embedder: Embedder,
    report: WriteReport,
    *,
    on_problem: Callable[[SourceProblem], None],
    progress: bool = False,
    again: Iterable[Article] = (),
) -> None:
    """Upsert every article of `sources` into `target`, counting what happened in `report`.

    Articles in `again` (stored articles a removal released, e.g. wire copies whose
    story lost its canonical article) are placed first, without counting as added.
    The first of several articles with the same id in one run wins.
    """
    from tqdm import tqdm

    bar = tqdm(desc="indexing", unit=" passages", disable=not progress, leave=False)
    replaced: deque[Article] = deque(again)
    pending: list[ArticleWrite] = []
    pending_passages = 0

    def flush() -> None:
        nonlocal pending_passages
        if not pending:
            return
        views = [view for item in pending for view in item.views]
        t0 = time.perf_counter()
        parts = [
            embedder.embed_passages(views[i : i + EMBED_BATCH]) for i in range(0, len(views), EMBED_BATCH)
        ]
        report.embed_seconds += time.perf_counter() - t0
        vectors = np.vstack(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)
        target.add_vectors(pending, vectors)
        bar.update(len(views))
        pending.clear()
        pending_passages = 0

    for item, stored, is_again in _with_fingerprints(sources, target, replaced):
        if isinstance(item, SourceProblem):
            report.problems.append(item)
            on_problem(item)
            continue
        replaces = False
        if not is_again:
            if not target.first_sight(item.id):
                continue
            if stored == item.fingerprint:
                report.unchanged += 1
                continue
            if stored is not None:
                replaced.extendleft(reversed(target.replace(item.id)))
                report.updated += 1
                replaces = True
            else:
                report.added += 1
        if not target.place(item):
            report.copies += not is_again
            continue
        passages = splitter.split(item)
        write = ArticleWrite(item, passages, [passage_view(item.title, p.text) for p in passages], replaces)
        target.add(write)
        pending.append(write)
        report.passages_added += len(passages)
        pending_passages += len(passages)
        if pending_passages >= EMBED_BATCH:
            flush()
    flush()
    bar.close()


def _with_fingerprints(
    sources: Iterable[Article | SourceProblem], target: UpsertTarget, again: deque[Article]
) -> Iterator[tuple[Article | SourceProblem, str | None, bool]]:
    """(item, its stored fingerprint, whether it is placed again): articles in `again` first
    (the loop may add to it as it goes), then the sources, whose fingerprints are looked up
    LOOKUP_BATCH at a time (one round trip to a server). Only an article's own write changes
    its fingerprint, so a lookup made before the articles ahead of it are written holds."""
    stream = iter(sources)
    while True:
        while again:
            yield again.popleft(), None, True
        batch = list(itertools.islice(stream, LOOKUP_BATCH))
        if not batch:
            return
        ids = list(dict.fromkeys(item.id for item in batch if isinstance(item, Article)))
        stored = target.fingerprints(ids) if ids else {}
        for item in batch:
            while again:
                yield again.popleft(), None, True
            yield item, stored.get(item.id) if isinstance(item, Article) else None, False
