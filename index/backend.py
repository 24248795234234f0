"""The store interface: what answering reads (`Store`), what the commands write through
(`StoreWriter`), and the `Backend` that opens both, chosen from the settings.

Two backends implement it:

- `local` (the default): an index directory of generations on one disk: FAISS
  vectors, BM25 postings and SQLite (index/store.py, index/articles_db.py, index/builder.py).
- `milvus`: collections in Milvus, embedded (Milvus Lite, a `*.db` path) or a
  server (`http://host:19530`): index/milvus/. Its client is imported only when
  that backend is chosen.

Retrieval, the readers and the web app see only these protocols; nothing
outside `index/` knows which backend holds the index.
"""

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from newsqa.config import Settings
from newsqa.index.chunking import PassageSplitter
from newsqa.index.embedders import Embedder
from newsqa.index.filters import SearchFilter
from newsqa.index.layout import IndexLayout, Manifest
from newsqa.index.sources import SourceProblem
from newsqa.index.types import Article, ArticleRef, Passage, PassageKey, Ranked, StoredPassage
from newsqa.index.upsert import WriteReport

__all__ = ["Backend", "LocalBackend", "PassageKey", "Ranked", "Store", "StoreWriter", "open_backend"]


class Store(Protocol):
    """One loaded index, read-only, safe to share between threads."""

    manifest: Manifest

    @property
    def generation(self) -> str:
        """Names what is loaded; changes when a rebuild is published."""
        ...

    @property
    def location(self) -> str:
        """Where the index lives, for messages."""
        ...

    def dense_search(self, query_vector: np.ndarray, k: int, where: SearchFilter | None = None) -> Ranked:
        """The `k` passages whose vectors are nearest (inner product), among those `where` allows."""
        ...

    def lexical_search(self, text: str, k: int, where: SearchFilter | None = None) -> Ranked:
        """The `k` best BM25 passages for the text, among those `where` allows."""
        ...

    def term_weights(self, words: list[str]) -> list[float]:
        """BM25 IDF of each word over the passages; unseen words count as the rarest."""
        ...

    def passages(self, keys: Iterable[PassageKey]) -> dict[PassageKey, StoredPassage]:
        """The passages with these keys, with their articles' citation data."""
        ...

    def passage_keys(self, article_id: str) -> list[PassageKey]:
        """The keys of an article's passages, as the searches name them."""
        ...

    def article(self, article_id: str) -> Article | None: ...

    def latest_articles(self, limit: int) -> list[ArticleRef]:
        """The articles added last, newest first."""
        ...

    def article_passages(self, article_id: str) -> list[Passage]: ...

    def passage_by_id(self, passage_id: str) -> Passage | None: ...

    def iter_articles(self) -> Iterator[Article]: ...

    def close(self) -> None: ...


class StoreWriter(Protocol):
    """Builds and updates one index; articles are upserted by id."""

    def build(self, sources: Iterable[Article | SourceProblem]) -> WriteReport:
        """Rebuild from scratch; the live index is replaced only when the build completes."""
        ...

    def add(self, sources: Iterable[Article | SourceProblem]) -> WriteReport:
        """Add or update articles; creates the index when there is none yet."""
        ...

    def remove(self, article_ids: Iterable[str]) -> WriteReport:
        """Remove articles by id; ids not in the index are reported in `not_found`."""
        ...


class Backend(Protocol):
    """Where an index lives; opens it for reading and writing."""

    name: str

    @property
    def location(self) -> str:
        """Where the index lives, for messages."""
        ...

    def exists(self) -> bool:
        """Whether an index has been built here."""
        ...

    def pointer(self) -> str | None:
        """The live generation's name (what `Store.generation` of a fresh open says), or None."""
        ...

    def manifest(self) -> Manifest:
        """The live index's manifest.

        Raises:
            IndexNotFound: nothing is built here.
        """
        ...

    def info(self) -> dict[str, Any]:
        """What `newsqa index info` shows: where, which generation, how big, and the manifest."""
        ...

    def open(self) -> Store:
        """Load the live index for answering.

        Raises:
            IndexNotFound: nothing is built here.
        """
        ...

    def writer(
        self,
        embedder: Embedder,
        splitter: PassageSplitter | None = None,
        *,
        progress: bool = False,
        on_problem: Callable[[SourceProblem], None] | None = None,
    ) -> StoreWriter: ...


class LocalBackend:
    """An index directory of generations (index/layout.py)."""

    name = "local"

    def __init__(self, index_dir: Path | str) -> None:
        self.layout = IndexLayout(index_dir)

    @property
    def location(self) -> str:
        return str(self.layout.root)

    def exists(self) -> bool:
        return self.layout.exists()

    def pointer(self) -> str | None:
        return self.layout.pointer()

    def manifest(self) -> Manifest:
        return Manifest.load(self.layout.current())

    def info(self) -> dict[str, Any]:
        generation = self.layout.current()
        return {
            "backend": self.name,
            "index_dir": str(self.layout.root),
            "generation": generation.name,
            "size_bytes": self.layout.size_bytes(),
            **Manifest.load(generation).to_dict(),
        }

    def open(self) -> Store:
        from newsqa.index.store import IndexSnapshot

        return IndexSnapshot.open(self.layout.root)

    def writer(
        self,
        embedder: Embedder,
        splitter: PassageSplitter | None = None,
        *,
        progress: bool = False,
        on_problem: Callable[[SourceProblem], None] | None = None,
    ) -> StoreWriter:
        from newsqa.index.builder import IndexWriter

        return IndexWriter(self.layout.root, embedder, splitter, progress=progress, on_problem=on_problem)


def open_backend(settings: Settings) -> Backend:
    """The backend the settings choose (`backend`, `index_dir`, `milvus_*`)."""
    if settings.backend == "milvus":
        from newsqa.index.milvus.backend import MilvusBackend

        return MilvusBackend.from_settings(settings)
    return LocalBackend(settings.index_dir)
