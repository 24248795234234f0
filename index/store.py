"""SQLite storage of articles and passages, and `IndexSnapshot`: the local backend's `Store`.

All SQL of newsqa lives in this module. A passage's `row` is its key in the
vector and BM25 indexes; rows are never reused, so a row masked out of an HNSW
graph can never come back as another passage. Passage text is not stored twice:
it is read as a slice of its article's text.
"""

import functools
import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import numpy as np

from newsqa.errors import IndexCorrupt
from newsqa.index.filters import SearchFilter, published_day
from newsqa.index.layout import PIN, IndexLayout, Manifest
from newsqa.index.lexical import BM25Index
from newsqa.index.text import terms
from newsqa.index.types import Article, ArticleRef, Passage, PassageKey, Ranked, StoredPassage
from newsqa.index.vectors import FaissStore

DB_FILE = "passages.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    url TEXT,
    published TEXT,
    source TEXT,
    subtitles TEXT NOT NULL DEFAULT '[]',
    byline TEXT,
    captions TEXT NOT NULL DEFAULT '[]',
    continued TEXT,
    fingerprint TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    row INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    article_id TEXT NOT NULL REFERENCES articles(id),
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_by_article ON passages(article_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Search filters select articles by the day they were published and by source. Indexes
# written before filters existed get the column when they are next written (ArticleDB).
FILTER_SCHEMA = """
CREATE INDEX IF NOT EXISTS articles_by_day ON articles(published_day);
CREATE INDEX IF NOT EXISTS articles_by_source ON articles(source);
"""

# Wire copies (index/dedup.py): every article's MinHash signature, and for each copy the
# canonical article of its story. A canonical article has no row in `copies`; a copy has no passages.
STORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS signatures (article_id TEXT PRIMARY KEY, minhash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS copies (article_id TEXT PRIMARY KEY, canonical_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS copies_by_canonical ON copies(canonical_id);
"""

_ARTICLE_COLUMNS = "id, title, text, url, published, source, subtitles, byline, captions, continued"
_PASSAGE_WITH_ARTICLE = """
SELECT p.row, p.id, p.article_id, p.ordinal, p.start, p.end,
       substr(a.text, p.start + 1, p.end - p.start), a.title, a.url, a.published, a.source
FROM passages p JOIN articles a ON a.id = p.article_id
WHERE p.row IN ({marks})
"""


def _rows_in(conn: sqlite3.Connection, sql: str, values: Iterable) -> Iterator[tuple]:
    """The rows of `sql` (with one `IN ({marks})`) over `values`, in chunks SQLite accepts."""
    items = list(values)
    for chunk in range(0, len(items), 500):
        part = items[chunk : chunk + 500]
        yield from conn.execute(sql.format(marks=",".join("?" * len(part))), part)


def read_only_uri(path: Path, *, immutable: bool = False) -> str:
    """A SQLite URI opening `path` read-only; the path is quoted, so `?` or `#` in it stay part of it."""
    uri = f"file:{quote(str(Path(path).absolute()))}?mode=ro"
    return uri + "&immutable=1" if immutable else uri


def _article_from_row(row: tuple) -> Article:
    return Article(
        id=row[0],
        title=row[1],
        text=row[2],
        url=row[3],
        published=row[4],
        source=row[5],
        subtitles=tuple(json.loads(row[6])),
        byline=row[7],
        captions=tuple(json.loads(row[8])),
        continued=row[9],
    )


class ArticleDB:
    """Read-write access to one generation's SQLite file, for the index writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path)
        self.conn.execute("PRAGMA journal_mode=OFF")  # the generation is thrown away on failure
        self.conn.execute("PRAGMA synchronous=OFF")  # publish() fsyncs before the swap
        self.conn.executescript(SCHEMA)
        # Article ids met by this write (see first_sight); temporary: never part of the file.
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY)")
        self.conn.executescript(STORY_SCHEMA)
        self._add_filter_columns()

    def _add_filter_columns(self) -> None:
        columns = {r[1] for r in self.conn.execute("PRAGMA table_info(articles)")}
        if "published_day" not in columns:
            self.conn.execute("ALTER TABLE articles ADD COLUMN published_day TEXT")
            days = [
                (published_day(published), article_id)
                for article_id, published in self.conn.execute("SELECT id, published FROM articles")
            ]
            self.conn.executemany("UPDATE articles SET published_day = ? WHERE id = ?", days)
        self.conn.executescript(FILTER_SCHEMA)

    @classmethod
    def copy_of(cls, source: Path, target: Path) -> "ArticleDB":
        src = sqlite3.connect(read_only_uri(source), uri=True)
        dst = sqlite3.connect(target)
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        return cls(target)

    def fingerprints(self, article_ids: Iterable[str]) -> dict[str, str]:
        return dict(
            _rows_in(self.conn, "SELECT id, fingerprint FROM articles WHERE id IN ({marks})", article_ids)
        )

    def first_sight(self, article_id: str) -> bool:
        """True the first time this write meets `article_id`, False after.

        Kept in a temporary SQLite table rather than a Python set, so that a write's
        memory does not grow with the number of articles it reads.
        """
        return self.conn.execute("INSERT OR IGNORE INTO seen (id) VALUES (?)", (article_id,)).rowcount == 1

    def _select_in(self, sql: str, values: Iterable[str]) -> list:
        """The first column of `sql` (with one `IN ({marks})`) over `values`, in chunks SQLite accepts."""
        return [r[0] for r in _rows_in(self.conn, sql, values)]

    def passage_rows(self, article_ids: Iterable[str]) -> list[int]:
        return self._select_in("SELECT row FROM passages WHERE article_id IN ({marks})", article_ids)

    def existing(self, article_ids: Iterable[str]) -> list[str]:
        return self._select_in("SELECT id FROM articles WHERE id IN ({marks})", article_ids)

    def delete_articles(self, article_ids: Iterable[str]) -> None:
        ids = [(a,) for a in article_ids]
        self.conn.executemany("DELETE FROM passages WHERE article_id = ?", ids)
        self.conn.executemany("DELETE FROM articles WHERE id = ?", ids)
        self.conn.executemany("DELETE FROM signatures WHERE article_id = ?", ids)
        self.conn.executemany("DELETE FROM copies WHERE article_id = ?", ids)

    def delete_passages(self, article_ids: Iterable[str]) -> None:
        """Drop the passages of articles that stay stored (a canonical article become a copy)."""
        self.conn.executemany("DELETE FROM passages WHERE article_id = ?", [(a,) for a in article_ids])

    # ---------- wire copies (index/dedup.py) ----------
    def save_signature(self, article_id: str, minhash: bytes) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO signatures (article_id, minhash) VALUES (?, ?)", (article_id, minhash)
        )

    def signatures(self) -> Iterator[tuple[str, bytes]]:
        yield from self.conn.execute("SELECT article_id, minhash FROM signatures")

    def articles_without_signature(self) -> list[tuple[str, str]]:
        return self.conn.execute(
            "SELECT id, text FROM articles WHERE id NOT IN (SELECT article_id FROM signatures)"
        ).fetchall()

    def canonical_of(self, article_id: str) -> str:
        row = self.conn.execute(
            "SELECT canonical_id FROM copies WHERE article_id = ?", (article_id,)
        ).fetchone()
        return row[0] if row else article_id

    def copies_of(self, canonical_id: str) -> list[str]:
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT article_id FROM copies WHERE canonical_id = ?", (canonical_id,)
            )
        ]

    def set_copy(self, article_id: str, canonical_id: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO copies (article_id, canonical_id) VALUES (?, ?)",
            (article_id, canonical_id),
        )

    def repoint_copies(self, old_canonical: str, new_canonical: str) -> None:
        self.conn.execute(
            "UPDATE copies SET canonical_id = ? WHERE canonical_id = ?", (new_canonical, old_canonical)
        )

    def published_and_source(self, article_id: str) -> tuple[str | None, str | None]:
        row = self.conn.execute(
            "SELECT published, source FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def article(self, article_id: str) -> Article | None:
        row = self.conn.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return _article_from_row(row) if row else None

    def next_row(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'next_row'").fetchone()
        return int(row[0]) if row else 0

    def set_next_row(self, value: int) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES ('next_row', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (str(value),),
        )

    def insert(self, article: Article, passages: list[Passage]) -> None:
        self.conn.execute(
            f"INSERT INTO articles ({_ARTICLE_COLUMNS}, fingerprint, published_day) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                article.id,
                article.title,
                article.text,
                article.url,
                article.published,
                article.source,
                json.dumps(list(article.subtitles), ensure_ascii=False),
                article.byline,
                json.dumps(list(article.captions), ensure_ascii=False),
                article.continued,
                article.fingerprint,
                published_day(article.published),
            ),
        )
        self.conn.executemany(
            "INSERT INTO passages (row, id, article_id, ordinal, start, end) VALUES (?,?,?,?,?,?)",
            [(p.row, p.id, p.article_id, p.ordinal, p.start, p.end) for p in passages],
        )

    def counts(self) -> tuple[int, int]:
        articles = self.conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        passages = self.conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        return articles, passages

    def passage_views(self, rows: list[int]) -> Iterator[tuple[int, str]]:
        """(row, title + newline + passage text) of the passages at `rows`."""
        return _rows_in(
            self.conn,
            "SELECT p.row, a.title || char(10) || substr(a.text, p.start + 1, p.end - p.start) "
            "FROM passages p JOIN articles a ON a.id = p.article_id WHERE p.row IN ({marks})",
            rows,
        )

    def commit_and_close(self) -> None:
        self.conn.commit()
        self.conn.close()


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
        sql = _PASSAGE_WITH_ARTICLE.format(marks=",".join("?" * len(wanted)))
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
                    f"SELECT {', '.join('a.' + c.strip() for c in _ARTICLE_COLUMNS.split(','))} "
                    "FROM copies c JOIN articles a ON a.id = c.article_id WHERE c.canonical_id = ? "
                    "ORDER BY a.published, a.source",
                    (article_id,),
                )
                .fetchall()
            )
        except sqlite3.OperationalError:
            return []
        return [_article_from_row(r) for r in rows]

    def article(self, article_id: str) -> Article | None:
        row = (
            self._conn()
            .execute(f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,))
            .fetchone()
        )
        return _article_from_row(row) if row else None

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
            for row in conn.execute(f"SELECT {_ARTICLE_COLUMNS} FROM articles ORDER BY rowid"):
                yield _article_from_row(row)
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


class ArticleReader:
    """Read-only access to one generation's SQLite file, for checking and repairing an index."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(path)
        self.path = path
        self.conn = sqlite3.connect(read_only_uri(path), uri=True)

    def quick_check(self) -> list[str]:
        """SQLite's own consistency check: [] when the file is sound."""
        result = [r[0] for r in self.conn.execute("PRAGMA quick_check")]
        return [] if result == ["ok"] else result

    def counts(self) -> tuple[int, int]:
        articles = self.conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        passages = self.conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        return articles, passages

    def recorded_next_row(self) -> int | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'next_row'").fetchone()
        return int(row[0]) if row else None

    def next_row(self) -> int:
        """The first row no passage has ever had (rows are never reused)."""
        top = self.conn.execute("SELECT MAX(row) FROM passages").fetchone()[0]
        return max(self.recorded_next_row() or 0, (top if top is not None else -1) + 1)

    def articles(self) -> Iterator[Article]:
        for row in self.conn.execute(f"SELECT {_ARTICLE_COLUMNS} FROM articles ORDER BY rowid"):
            yield _article_from_row(row)

    def rowid_range(self) -> tuple[int, int]:
        """The smallest and largest rowid of the articles table ((0, -1) when it is empty)."""
        low, high = self.conn.execute("SELECT MIN(rowid), MAX(rowid) FROM articles").fetchone()
        return (0, -1) if low is None else (low, high)

    def articles_with_fingerprints(
        self, rowids: tuple[int, int] | None = None
    ) -> Iterator[tuple[Article, str, str | None]]:
        """(article, stored fingerprint, canonical article id if it is a wire copy), by rowid: all
        articles, or those with a rowid in the closed range `rowids`."""
        where = "" if rowids is None else "WHERE a.rowid BETWEEN ? AND ?"
        columns = ", ".join(f"a.{c.strip()}" for c in _ARTICLE_COLUMNS.split(","))
        sql = (
            f"SELECT {columns}, a.fingerprint, c.canonical_id FROM articles a "
            f"LEFT JOIN copies c ON c.article_id = a.id {where} ORDER BY a.rowid"
        )
        for row in self.conn.execute(sql, rowids or ()):
            yield _article_from_row(row), row[10], row[11]

    def story_links(self) -> dict[str, str]:
        """{copy id: canonical id} for the copies whose canonical article exists and is no copy."""
        return dict(
            self.conn.execute(
                "SELECT c.article_id, c.canonical_id FROM copies c "
                "JOIN articles a ON a.id = c.article_id JOIN articles k ON k.id = c.canonical_id "
                "WHERE c.canonical_id NOT IN (SELECT article_id FROM copies)"
            )
        )

    def broken_story_links(self) -> list[tuple[str, str, str]]:
        """(copy id, canonical id, why) for each copy link that points nowhere sound."""
        out = []
        for copy_id, canonical_id, exists, is_copy in self.conn.execute(
            "SELECT c.article_id, c.canonical_id, k.id IS NOT NULL, "
            "c.canonical_id IN (SELECT article_id FROM copies) "
            "FROM copies c LEFT JOIN articles k ON k.id = c.canonical_id"
        ):
            if not exists:
                out.append((copy_id, canonical_id, "which is missing"))
            elif is_copy:
                out.append((copy_id, canonical_id, "which is itself a copy"))
        return out

    def signatures(self) -> Iterator[tuple[str, bytes]]:
        """(article id, MinHash signature) of the articles that exist."""
        yield from self.conn.execute(
            "SELECT s.article_id, s.minhash FROM signatures s JOIN articles a ON a.id = s.article_id"
        )

    def passages_of(self, article_id: str) -> list[tuple[int, str, int, int, int]]:
        """(row, id, ordinal, start, end) of an article's passages, by ordinal."""
        return self.conn.execute(
            "SELECT row, id, ordinal, start, end FROM passages WHERE article_id = ? ORDER BY ordinal, row",
            (article_id,),
        ).fetchall()

    def passage_rows_by_span(self, article_id: str) -> dict[tuple[str, int, int], int]:
        """{(passage id, start, end): row} of an article's passages."""
        return {(pid, start, end): row for row, pid, _, start, end in self.passages_of(article_id)}

    def orphan_passages(self, limit: int) -> tuple[int, list[tuple[int, str, str]]]:
        """How many passages have no article, and the first `limit` as (row, id, article id)."""
        where = "FROM passages p LEFT JOIN articles a ON a.id = p.article_id WHERE a.id IS NULL"
        n = self.conn.execute(f"SELECT COUNT(*) {where}").fetchone()[0]
        first = self.conn.execute(
            f"SELECT p.row, p.id, p.article_id {where} ORDER BY p.row LIMIT ?", (limit,)
        )
        return n, first.fetchall()

    def rows(self) -> np.ndarray:
        """Every passage row, ascending."""
        return np.fromiter(
            (r[0] for r in self.conn.execute("SELECT row FROM passages ORDER BY row")), dtype=np.int64
        )

    def passage_views(
        self, rows: list[int] | None = None, between: tuple[int, int] | None = None
    ) -> Iterator[tuple[int, str, str]]:
        """(row, title, passage text) of the passages that have an article, by row: all of them,
        those at `rows`, or those with a row in the closed range `between`."""
        select = (
            "SELECT p.row, a.title, substr(a.text, p.start + 1, p.end - p.start) "
            "FROM passages p JOIN articles a ON a.id = p.article_id"
        )
        if rows is not None:
            yield from _rows_in(self.conn, select + " WHERE p.row IN ({marks}) ORDER BY p.row", rows)
        elif between is not None:
            yield from self.conn.execute(f"{select} WHERE p.row BETWEEN ? AND ? ORDER BY p.row", between)
        else:
            yield from self.conn.execute(f"{select} ORDER BY p.row")

    def close(self) -> None:
        self.conn.close()
