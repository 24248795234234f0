"""`MilvusStore`: the read side of the milvus backend (`index.backend.Store`).

A store is opened on the generation the alias points at when it opens, and
keeps reading that generation's collections: a rebuild switches the alias, and
the web app opens a new store for it (see web/live.py), while requests in
flight finish on the old one, which a rebuild keeps for one more switch.
`index add` and `index remove` write into the live generation in place, so a
store sees them as they land.
"""

import json
import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from newsqa.errors import IndexCorrupt, IndexNotFound
from newsqa.index.filters import SearchFilter
from newsqa.index.layout import Manifest
from newsqa.index.milvus.client import Milvus, build_options, literal
from newsqa.index.milvus.schema import (
    ARTICLE_FIELDS,
    HNSW_EF_SEARCH,
    LATEST_KEY,
    MANIFEST_KEY,
    PASSAGE_FIELDS,
    PASSAGES_KEY,
    Generation,
    article_from_rows,
    lexical_text,
    passage_from_row,
    stored_passage,
    term_bucket,
)
from newsqa.index.text import terms
from newsqa.index.types import Article, ArticleRef, Passage, PassageKey, Ranked, StoredPassage

# Rows per query when reading many (Milvus caps one query's result window).
QUERY_BATCH = 1000


def filter_expression(where: SearchFilter | None) -> str:
    """The Milvus filter expression for a search filter ("" for none)."""
    if where is None:
        return ""
    parts = []
    if where.since:
        parts.append(f"published_day >= {literal(where.since)}")
    if where.until:
        # Articles without a day store "", which sorts before every date.
        parts.append(f'published_day <= {literal(where.until)} and published_day != ""')
    if where.sources:
        parts.append(f"source in {literal(where.sources)}")
    return " and ".join(parts)


def load(milvus: Milvus, generation: Generation, replicas: int = 1) -> None:
    """Load the generation's collections into memory (Milvus serves only loaded collections),
    as `replicas` in-memory replicas on a cluster's query nodes."""
    more = {"replica_number": replicas} if replicas > 1 else {}
    with milvus.calls("load the index collections"):
        for name in generation.collections:
            milvus.client.load_collection(name, **more)


def read_manifest(milvus: Milvus, generation: Generation) -> Manifest:
    with milvus.calls("read the index manifest"):
        milvus.client.load_collection(generation.meta)
        rows = milvus.client.query(
            generation.meta, filter=f"key == {literal(MANIFEST_KEY)}", output_fields=["value"]
        )
    if not rows:
        raise IndexCorrupt(
            f"the Milvus collection {generation.name} has no manifest (a build that did not finish?): "
            "rebuild with `newsqa index build`"
        )
    return Manifest.from_dict(json.loads(rows[0]["value"]))


def live_generation(milvus: Milvus, alias: str) -> Generation | None:
    """The generation the alias points at, or None when there is no such alias."""
    if milvus.lite and not milvus.lite_path().exists():
        return None
    with milvus.calls("look up the index alias"):
        if alias not in milvus.client.list_aliases().get("aliases", []):
            return None
        name = milvus.client.describe_alias(alias)["collection_name"]
    return Generation(name)


class MilvusStore:
    """One generation in Milvus, opened for answering; safe to share between threads."""

    def __init__(self, milvus: Milvus, alias: str, generation: Generation, manifest: Manifest) -> None:
        self.milvus = milvus
        self.alias = alias
        self.gen = generation
        self.manifest = manifest

    @classmethod
    def open(cls, milvus: Milvus, alias: str, *, replicas: int = 1) -> "MilvusStore":
        """Open the generation `alias` points at.

        Raises:
            IndexNotFound: there is no such alias.
        """
        generation = live_generation(milvus, alias)
        if generation is None:
            raise IndexNotFound(f"{milvus.uri} (Milvus collection {alias!r})", build_options(milvus, alias))
        load(milvus, generation, replicas)
        return cls(milvus, alias, generation, read_manifest(milvus, generation))

    @property
    def generation(self) -> str:
        return self.gen.name

    @property
    def location(self) -> str:
        return f"{self.milvus.uri} (Milvus collection {self.alias!r})"

    # ---------- searching ----------
    def dense_search(self, query_vector: np.ndarray, k: int, where: SearchFilter | None = None) -> Ranked:
        with self.milvus.calls("search the passage vectors"):
            result = self.milvus.client.search(
                self.gen.passages,
                data=[np.asarray(query_vector, dtype=np.float32).tolist()],
                anns_field="vector",
                limit=k,
                filter=filter_expression(where),
                search_params={"metric_type": "IP", "params": {"ef": max(HNSW_EF_SEARCH, k)}},
                output_fields=[],
            )
        return [(hit["id"], float(hit["distance"])) for hit in result[0]]

    def lexical_search(self, text: str, k: int, where: SearchFilter | None = None) -> Ranked:
        if not terms(text):
            return []
        with self.milvus.calls("search the passages' BM25 index"):
            result = self.milvus.client.search(
                self.gen.passages,
                data=[lexical_text(text)],
                anns_field="sparse",
                limit=k,
                filter=filter_expression(where),
                search_params={"metric_type": "BM25"},
                output_fields=[],
            )
        # BM25 scores are positive; Milvus Lite reports them negated (as distances).
        return [(hit["id"], abs(float(hit["distance"]))) for hit in result[0] if hit["distance"]]

    def term_weights(self, words: list[str]) -> list[float]:
        """BM25 IDF of each word, from the document frequencies kept in the meta collection."""
        wanted = [PASSAGES_KEY] + sorted({term_bucket(w) for w in words})
        with self.milvus.calls("read term frequencies"):
            rows = self.milvus.client.query(
                self.gen.meta, filter=f"key in {literal(wanted)}", output_fields=["key", "count", "value"]
            )
        n = self.manifest.passages
        df: dict[str, int] = {}
        for row in rows:
            if row["key"] == PASSAGES_KEY:
                n = int(row["count"])
            else:
                df.update(json.loads(row["value"]))
        rarest = math.log(1.0 + (n + 0.5) / 0.5)
        return [
            float(np.float32(math.log(1.0 + (n - df[w] + 0.5) / (df[w] + 0.5)))) if df.get(w) else rarest
            for w in words
        ]

    # ---------- reading ----------
    def _query(self, collection: str, expression: str, fields: list[str], what: str) -> list[dict[str, Any]]:
        with self.milvus.calls(what):
            return list(self.milvus.client.query(collection, filter=expression, output_fields=fields))

    def passages(self, keys: Iterable[PassageKey]) -> dict[PassageKey, StoredPassage]:
        ids = [str(k) for k in keys]
        out: dict[PassageKey, StoredPassage] = {}
        for i in range(0, len(ids), QUERY_BATCH):
            part = ids[i : i + QUERY_BATCH]
            for row in self._query(
                self.gen.passages, f"id in {literal(part)}", PASSAGE_FIELDS, "read passages"
            ):
                out[row["id"]] = stored_passage(row)
        return out

    def passage_keys(self, article_id: str) -> list[PassageKey]:
        rows = self._query(
            self.gen.passages, f"article_id == {literal(article_id)}", ["id"], "read an article's passages"
        )
        return [row["id"] for row in rows]

    def latest_articles(self, limit: int) -> list[ArticleRef]:
        rows = self._query(
            self.gen.meta, f"key == {literal(LATEST_KEY)}", ["value"], "read the latest articles"
        )
        refs = json.loads(rows[0]["value"]) if rows else []
        return [ArticleRef(r["id"], r["title"], r["url"], r["published"], r["source"]) for r in refs[:limit]]

    def article(self, article_id: str) -> Article | None:
        rows = self._query(
            self.gen.articles, f"article_id == {literal(article_id)}", ARTICLE_FIELDS, "read an article"
        )
        return article_from_rows(rows) if rows else None

    def article_passages(self, article_id: str) -> list[Passage]:
        rows = self._query(
            self.gen.passages,
            f"article_id == {literal(article_id)}",
            PASSAGE_FIELDS,
            "read an article's passages",
        )
        return sorted((passage_from_row(r) for r in rows), key=lambda p: p.ordinal)

    def passage_by_id(self, passage_id: str) -> Passage | None:
        rows = self._query(
            self.gen.passages, f"id == {literal(passage_id)}", PASSAGE_FIELDS, "read a passage"
        )
        return passage_from_row(rows[0]) if rows else None

    def iter_articles(self) -> Iterator[Article]:
        """Every article, in id order."""
        with self.milvus.calls("list the articles"):
            iterator = self.milvus.client.query_iterator(
                self.gen.articles, batch_size=QUERY_BATCH, filter="part == 0", output_fields=ARTICLE_FIELDS
            )
        try:
            while True:
                with self.milvus.calls("list the articles"):
                    batch = iterator.next()
                if not batch:
                    return
                for head in batch:
                    rows = [head]
                    if int(head["parts"]) > 1:
                        rows = self._query(
                            self.gen.articles,
                            f"article_id == {literal(head['article_id'])}",
                            ARTICLE_FIELDS,
                            "read an article",
                        )
                    article = article_from_rows(rows)
                    if article is not None:
                        yield article
        finally:
            iterator.close()

    def close(self) -> None:
        """The connection belongs to the backend; nothing is held per store."""
