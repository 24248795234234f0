"""What writing an index does whatever the backend holds it.

Sources are read, articles are upserted by id, split into passages and embedded
in batches, and each batch goes to the backend's `UpsertTarget`, which stores
it. An article already stored with the same fingerprint is left alone (adding
the same source twice changes nothing); one stored with another fingerprint is
replaced, its old passages dropped by the target; a new one is added.
"""

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

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
        if self.removed:
            parts.append(f"{self.removed} removed")
        line = (
            f"articles: {', '.join(parts)}; {self.passages_added} new passages; index now holds "
            f"{self.articles_total} articles, {self.passages_total} passages ({self.seconds:.1f}s)"
        )
        if self.problems:
            line += f"; {len(self.problems)} skipped (see messages above)"
        return line


@dataclass(frozen=True)
class ArticleWrite:
    """One article to store, its passages, and what is embedded and indexed for each passage."""

    article: Article
    passages: list[Passage]
    views: list[str]
    replaces: bool
    """An older version of the article is stored: the target drops it."""


class UpsertTarget(Protocol):
    """Where `upsert` writes: one backend's write in progress."""

    def fingerprints(self, article_ids: list[str]) -> dict[str, str]:
        """The stored fingerprint of each of these articles that is stored."""
        ...

    def write(self, batch: list[ArticleWrite], vectors: np.ndarray) -> None:
        """Store the articles and their passages; `vectors` has one row per passage, in order."""
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
) -> None:
    """Upsert every article of `sources` into `target`, counting what happened in `report`.

    The first of several articles with the same id in one run wins.
    """
    from tqdm import tqdm

    bar = tqdm(desc="indexing", unit=" passages", disable=not progress, leave=False)
    seen: set[str] = set()
    unchecked: list[Article] = []
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
        target.write(pending, vectors)
        bar.update(len(views))
        pending.clear()
        pending_passages = 0

    def check(articles: list[Article]) -> None:
        nonlocal pending_passages
        stored = target.fingerprints([a.id for a in articles]) if articles else {}
        for article in articles:
            old = stored.get(article.id)
            if old == article.fingerprint:
                report.unchanged += 1
                continue
            if old is None:
                report.added += 1
            else:
                report.updated += 1
            passages = splitter.split(article)
            views = [passage_view(article.title, p.text) for p in passages]
            pending.append(ArticleWrite(article, passages, views, replaces=old is not None))
            report.passages_added += len(passages)
            pending_passages += len(passages)
            if pending_passages >= EMBED_BATCH:
                flush()
        articles.clear()

    for item in sources:
        if isinstance(item, SourceProblem):
            report.problems.append(item)
            on_problem(item)
            continue
        if item.id in seen:
            continue
        seen.add(item.id)
        unchecked.append(item)
        if len(unchecked) >= LOOKUP_BATCH:
            check(unchecked)
    check(unchecked)
    flush()
    bar.close()
