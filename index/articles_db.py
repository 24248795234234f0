"""The SQLite file of an index generation: the schema, the writer's `ArticleDB` and the checker's
`ArticleReader`.

The SQL of newsqa lives here and in store.py (the snapshot's queries). A
passage's `row` is its key in the vector and BM25 indexes; rows are never
reused, so a row masked out of an HNSW graph can never come back as another
passage. Passage text is not stored twice: it is read as a slice of its
article's text.
"""

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import quote

import numpy as np

from newsqa.index.filters import published_day
from newsqa.index.types import Article, Passage

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

ARTICLE_COLUMNS = "id, title, text, url, published, source, subtitles, byline, captions, continued"
PASSAGE_WITH_ARTICLE = """
SELECT p.row, p.id, p.article_id, p.ordinal, p.start, p.end,
       substr(a.text, p.start + 1, p.end - p.start), a.title, a.url, a.published, a.source
FROM passages p JOIN articles a ON a.id = p.article_id
WHERE p.row IN ({marks})
"""


def rows_in(conn: sqlite3.Connection, sql: str, values: Iterable) -> Iterator[tuple]:
    """The rows of `sql` (with one `IN ({marks})`) over `values`, in chunks SQLite accepts."""
    items = list(values)
    for chunk in range(0, len(items), 500):
        part = items[chunk : chunk + 500]
        yield from conn.execute(sql.format(marks=",".join("?" * len(part))), part)


def read_only_uri(path: Path, *, immutable: bool = False) -> str:
    """A SQLite URI opening `path` read-only; the path is quoted, so `?` or `#` in it stay part of it."""
    uri = f"file:{quote(str(Path(path).absolute()))}?mode=ro"
    return uri + "&immutable=1" if immutable else uri


def article_from_row(row: tuple) -> Article:
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
            rows_in(self.conn, "SELECT id, fingerprint FROM articles WHERE id IN ({marks})", article_ids)
        )

    def first_sight(self, article_id: str) -> bool:
        """True the first time this write meets `article_id`, False after.

        Kept in a temporary SQLite table rather than a Python set, so that a write's
        memory does not grow with the number of articles it reads.
        """
        return self.conn.execute("INSERT OR IGNORE INTO seen (id) VALUES (?)", (article_id,)).rowcount == 1

    def _select_in(self, sql: str, values: Iterable[str]) -> list:
        """The first column of `sql` (with one `IN ({marks})`) over `values`, in chunks SQLite accepts."""
        return [r[0] for r in rows_in(self.conn, sql, values)]

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
            f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return article_from_row(row) if row else None

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
            f"INSERT INTO articles ({ARTICLE_COLUMNS}, fingerprint, published_day) "
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
        return rows_in(
            self.conn,
            "SELECT p.row, a.title || char(10) || substr(a.text, p.start + 1, p.end - p.start) "
            "FROM passages p JOIN articles a ON a.id = p.article_id WHERE p.row IN ({marks})",
            rows,
        )

    def commit_and_close(self) -> None:
        self.conn.commit()
        self.conn.close()


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
        for row in self.conn.execute(f"SELECT {ARTICLE_COLUMNS} FROM articles ORDER BY rowid"):
            yield article_from_row(row)

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
        columns = ", ".join(f"a.{c.strip()}" for c in ARTICLE_COLUMNS.split(","))
        sql = (
            f"SELECT {columns}, a.fingerprint, c.canonical_id FROM articles a "
            f"LEFT JOIN copies c ON c.article_id = a.id {where} ORDER BY a.rowid"
        )
        for row in self.conn.execute(sql, rowids or ()):
            yield article_from_row(row), row[10], row[11]

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
            yield from rows_in(self.conn, select + " WHERE p.row IN ({marks}) ORDER BY p.row", rows)
        elif between is not None:
            yield from self.conn.execute(f"{select} WHERE p.row BETWEEN ? AND ? ORDER BY p.row", between)
        else:
            yield from self.conn.execute(f"{select} ORDER BY p.row")

    def close(self) -> None:
        self.conn.close()
