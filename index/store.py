"""`IndexSnapshot`: one generation of a local index loaded for answering (the local backend's
`Store`). Its SQLite file's schema and writers are in articles_db.py."""

import functools
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from newsqa.errors import IndexCorrupt
from newsqa.index.articles_db import (
    ARTICLE_COLUMNS,
    DB_FILE,
    PASSAGE_WITH_ARTICLE,
    article_from_row,
    read_only_uri,
)
from newsqa.index.filters import SearchFilter
from newsqa.index.layout import PIN, IndexLayout, Manifest
from newsqa.index.lexical import BM25Index
from newsqa.index.text import terms
from newsqa.index.types import Article, ArticleRef, Passage, PassageKey, Ranked, StoredPassage
from newsqa.index.vectors import FaissStore

# A filter that allows at most this many passages is searched exactly over their vectors;
# a wider one through the ANN index with a selector (HNSW stays accurate when most pass).
EXACT_FILTERED_BELOW = 20_000


class IndexSnapshot:
    """One generation of a local index, loaded for answering: the local backend's `Store`.

    Read-only and safe to share across threads. Passage keys are FAISS/BM25 rows.
    """

    def __init__(
        self, root: Path, generation: Path, manifest: Manifest, vectors: FaissStore, bm25: BM25Index
    ) -> None:
        self.root = root
        self.generation_dir = generation
        self.manifest = manifest
        self.vectors = vectors
        self.bm25 = bm25
        self._db_uri = read_only_uri(generation / DB_FILE, immutable=True)
        self._local = threading.local()
        self._unpin: weakref.finalize | None = None
        self._allowed = functools.lru_cache(maxsize=32)(self._allowed_rows)

    @property
    def generation(self) -> str:
        return self.generation_dir.name

    @property
    def location(self) -> str:
        return str(self.root)

    @classmethod
    def open(cls, root: Path | str) -> "IndexSnapshot":
        """Load the live generation under `root`.

        Raises:
            IndexNotFound: nothing has been built there.
            IndexCorrupt: files are missing or unreadable.
        """
        layout = IndexLayout(root)
        for _ in range(3):
            generation = layout.current()
            pin = layout.pin(generation)
            if pin is not None or (generation.is_dir() and not (generation / PIN).exists()):
                break  # pinned (or written by a newsqa that did not pin)
            # A writer is deleting it, or has: CURRENT moved on since we read it.
        try:
            snapshot = cls._load(layout, generation)
        except BaseException:
            if pin is not None:
                os.close(pin)
            raise
        if pin is not None:
            # Held while the snapshot lives, so that no writer deletes the generation under it.
            snapshot._unpin = weakref.finalize(snapshot, os.close, pin)
        return snapshot

    @classmethod
    def _load(cls, layout: IndexLayout, generation: Path) -> "IndexSnapshot":
        manifest = Manifest.load(generation)
        try:
            # Mapped, not read: a generation never changes, and server workers share the pages.
            vectors = FaissStore.load(generation, manifest.dim, mmap=True)
            bm25 = BM25Index.load(generation / "bm25", mmap=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise IndexCorrupt(
                f"cannot load the index at {generation} ({exc}): rebuild with `newsqa index build`"
            ) from exc
        if not (generation / DB_FILE).is_file():
            raise IndexCorrupt(f"{generation / DB_FILE} is missing: rebuild with `newsqa index build`")
        return cls(layout.root, generation, manifest, vectors, bm25)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._db_uri, uri=True, check_same_thread=False)
            self._local.conn = conn
        return conn

    # ---------- searching ----------
    def dense_search(self, query_vector: np.ndarray, k: int, where: SearchFilter | None = None) -> Ranked:
        """(row, score) of the `k` passages nearest the query vector, best first."""
        allowed = self._allowed(where) if where is not None else None
        query = query_vector.reshape(1, -1)
        if allowed is not None and len(allowed) <= EXACT_FILTERED_BELOW:
            scores, rows = self.vectors.search_among(query, k, allowed)
        else:
            scores, rows = self.vectors.search(query, k, allowed)
        keep = rows[0] >= 0
        return list(zip(rows[0][keep].tolist(), scores[0][keep].tolist(), strict=True))

    def lexical_search(self, text: str, k: int, where: SearchFilter | None = None) -> Ranked:
        """(row, score) of the `k` best BM25 passages for the text's search terms, best first."""
        allowed = self._allowed(where) if where is not None else None
        rows, scores = self.bm25.search(terms(text), k, allowed)
        return list(zip(rows.tolist(), scores.tolist(), strict=True))

    def term_weights(self, words: list[str]) -> list[float]:
        """How rare each word is in the index (BM25 IDF); unseen words count as the rarest."""
        return self.bm25.term_weights(words)

    def _allowed_rows(self, where: SearchFilter) -> np.ndarray:
        """The rows of the passages of the articles `where` allows (indexed SQL, cached per filter)."""
        conditions, params = [], []
        if where.since:
            conditions.append("a.published_day >= ?")
            params.append(where.since)
        if where.until:
            conditions.append("a.published_day <= ?")
            params.append(where.until)
        if where.sources:
            conditions.append(f"a.source IN ({','.join('?' * len(where.sources))})")
            params += list(where.sources)
        sql = "SELECT p.row FROM articles a JOIN passages p ON p.article_id = a.id"
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        try:
            rows = self._conn().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise IndexCorrupt(
                f"the index at {self.root} was built before search filters existed ({exc}): "
                "run `newsqa index build` again, or any `newsqa index add`, to add them"
            ) from exc
        return np.sort(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))

    # ---------- reading ----------
    def passages(self, keys: Iterable[PassageKey]) -> dict[PassageKey, StoredPassage]:
        """The passages at these rows with their articles' citation data, in one query."""
        wanted = [int(r) for r in keys]
        if not wanted:
            return {}
        sql = PASSAGE_WITH_ARTICLE.format(marks=",".join("?" * len(wanted)))
        rows = self._conn().execute(sql, wanted).fetchall()
        also_in = self.also_in({r[2] for r in rows})
        out: dict[PassageKey, StoredPassage] = {}
        for r in rows:
            passage = Passage(
                id=r[1], article_id=r[2], ordinal=r[3], text=r[6], start=r[4], end=r[5], row=r[0]
            )
            ref = ArticleRef(r[2], r[7], r[8], r[9], r[10], also_in=also_in.get(r[2], ()))
            out[r[0]] = StoredPassage(passage, ref)
        return out

    def also_in(self, article_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """For canonical articles, the other sources that printed their story (earliest first, each once)."""
        ids = list(article_ids)
        if not ids:
            return {}
        sql = (
            "SELECT c.canonical_id, a.source, a.url FROM copies c JOIN articles a ON a.id = c.article_id "
            f"WHERE c.canonical_id IN ({','.join('?' * len(ids))}) ORDER BY a.published, a.source"
        )
        try:
            found = self._conn().execute(sql, ids).fetchall()
        except sqlite3.OperationalError:
            return {}  # an index written before stories existed
        sources: dict[str, list[str]] = {}
        for canonical, source, url in found:
            name = source or (urlsplit(url).hostname if url else None)
            if name and name not in sources.setdefault(canonical, []):
                sources[canonical].append(name)
        return {k: tuple(v) for k, v in sources.items()}

    def copies_of(self, article_id: str) -> list[Article]:
        """The wire copies folded into a canonical article (for its article page)."""
        try:
            rows = (
                self._conn()
                .execute(
                    f"SELECT {', '.join('a.' + c.strip() for c in ARTICLE_COLUMNS.split(','))} "
                    "FROM copies c JOIN articles a ON a.id = c.article_id WHERE c.canonical_id = ? "
                    "ORDER BY a.published, a.source",
                    (article_id,),
                )
                .fetchall()
            )
        except sqlite3.OperationalError:
            return []
        return [article_from_row(r) for r in rows]

    def article(self, article_id: str) -> Article | None:
        row = (
            self._conn()
            .execute(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,))
            .fetchone()
        )
        return article_from_row(row) if row else None

    def passage_keys(self, article_id: str) -> list[PassageKey]:
        rows = self._conn().execute("SELECT row FROM passages WHERE article_id = ?", (article_id,))
        return [r[0] for r in rows]

    def latest_articles(self, limit: int) -> list[ArticleRef]:
        """The articles added last, newest first (what the chat offers as examples)."""
        rows = self._conn().execute(
            "SELECT id, title, url, published, source FROM articles ORDER BY rowid DESC LIMIT ?", (limit,)
        )
        return [ArticleRef(*r) for r in rows]

    def article_passages(self, article_id: str) -> list[Passage]:
        article = self.article(article_id)
        if article is None:
            return []
        rows = self._conn().execute(
            "SELECT row, id, ordinal, start, end FROM passages WHERE article_id = ? ORDER BY ordinal",
            (article_id,),
        )
        return [
            Passage(
                id=r[1],
                article_id=article_id,
                ordinal=r[2],
                text=article.text[r[3] : r[4]],
                start=r[3],
                end=r[4],
                row=r[0],
            )
            for r in rows
        ]

    def passage_by_id(self, passage_id: str) -> Passage | None:
        r = (
            self._conn()
            .execute(
                "SELECT p.row, p.id, p.article_id, p.ordinal, p.start, p.end, "
                "substr(a.text, p.start + 1, p.end - p.start) "
                "FROM passages p JOIN articles a ON a.id = p.article_id WHERE p.id = ?",
                (passage_id,),
            )
            .fetchone()
        )
        if r is None:
            return None
        return Passage(id=r[1], article_id=r[2], ordinal=r[3], text=r[6], start=r[4], end=r[5], row=r[0])

    def iter_articles(self) -> Iterator[Article]:
        conn = sqlite3.connect(self._db_uri, uri=True)
        try:
            for row in conn.execute(f"SELECT {ARTICLE_COLUMNS} FROM articles ORDER BY rowid"):
                yield article_from_row(row)
        finally:
            conn.close()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._unpin is not None:
            self._unpin()

    def check(self) -> None:
        """Raise IndexCorrupt when the parts of the index disagree on how many passages there are."""
        n_db = self._conn().execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        if not (n_db == len(self.vectors) == len(self.bm25)):
            raise IndexCorrupt(
                f"the index at {self.generation_dir} is inconsistent ({n_db} passages, "
                f"{len(self.vectors)} vectors, {len(self.bm25)} BM25 rows): rebuild it"
            )
