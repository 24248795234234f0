"""`MilvusWriter`: build, add and remove for the milvus backend (`index.backend.StoreWriter`).

- `build` writes a new generation (three new collections) and then switches the
  alias to it in one call: until then the old generation answers, and a build
  that fails or is killed leaves the alias where it was. Leftovers of a killed
  build are dropped by the next write.
- `add` and `remove` write into the live generation in place: copying a whole
  collection for every update does not scale. Each article is upserted by id
  (its passages replaced under the same ids, leftovers deleted, then its article
  row), so a reader sees an article's old or new version, and an `add` run
  again after a crash redoes exactly the articles it had not finished.

Milvus gives no writer lock: run one writer at a time per index (a Lite file
can only be opened by one process anyway).
"""

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from newsqa.errors import IndexMismatch, IndexNotFound, NewsQAError
from newsqa.index.chunking import PassageSplitter
from newsqa.index.embedders import Embedder
from newsqa.index.layout import Manifest, utc_now
from newsqa.index.milvus.client import Milvus, build_options, literal
from newsqa.index.milvus.schema import (
    BM25_B,
    BM25_K1,
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_M,
    LATEST_KEEP,
    LATEST_KEY,
    MANIFEST_KEY,
    PASSAGES_KEY,
    TITLE_MAX,
    VARCHAR_MAX,
    Generation,
    article_rows,
    articles_schema,
    field_problem,
    meta_row,
    meta_schema,
    passage_row,
    passages_schema,
    term_bucket,
    utf8_len,
)
from newsqa.index.milvus.store import QUERY_BATCH, live_generation, load, read_manifest
from newsqa.index.sources import SourceProblem
from newsqa.index.text import terms
from newsqa.index.types import Article
from newsqa.index.upsert import ArticleWrite, WriteReport, check_something_indexed, passage_view, upsert

logger = logging.getLogger(__name__)

INSERT_BATCH = 500


class MilvusWriter:
    """Builds and updates the index behind one alias in one Milvus."""

    def __init__(
        self,
        milvus: Milvus,
        alias: str,
        embedder: Embedder,
        splitter: PassageSplitter | None = None,
        *,
        shards: int = 1,
        progress: bool = False,
        on_problem: Callable[[SourceProblem], None] | None = None,
    ) -> None:
        self.shards = shards
        self.milvus = milvus
        self.alias = alias
        self.embedder = embedder
        self.splitter = splitter or PassageSplitter()
        self.progress = progress
        self.on_problem = on_problem or (lambda p: logger.warning("%s", p))

    @property
    def location(self) -> str:
        return f"{self.milvus.uri} (Milvus collection {self.alias!r})"

    @property
    def client(self) -> Any:
        return self.milvus.client

    # ---------- public operations ----------
    def build(self, sources: Iterable[Article | SourceProblem]) -> WriteReport:
        """Write a new generation, then switch the alias to it."""
        started = time.perf_counter()
        self.embedder.warm_up()
        self._check_chunking()
        self._drop_leftovers()
        generation = Generation.new(self.alias)
        try:
            self._create(generation)
            target = _MilvusTarget(self.milvus, generation, fresh=True)
            report = WriteReport()
            self._upsert(sources, target, report)
            check_something_indexed(report)
            manifest = self._describe(Manifest(model=self.embedder.name, dim=self.embedder.dim))
            target.finish(manifest, rebuilt=True)
            self._switch(generation)
        except BaseException:
            self._drop(generation)
            raise
        report.articles_total, report.passages_total = manifest.articles, manifest.passages
        report.generation = generation.name
        report.seconds = time.perf_counter() - started
        return report

    def add(self, sources: Iterable[Article | SourceProblem]) -> WriteReport:
        """Upsert articles into the live generation; builds one when there is none."""
        generation = live_generation(self.milvus, self.alias)
        if generation is None:
            return self.build(sources)
        started = time.perf_counter()
        self.embedder.warm_up()
        manifest = self._check_model(generation)
        if manifest.chunking:
            self.splitter = PassageSplitter(**manifest.chunking)
        target = _MilvusTarget(self.milvus, generation, fresh=False)
        report = WriteReport()
        self._upsert(sources, target, report)
        check_something_indexed(report)
        if report.added + report.updated:
            target.finish(self._describe(manifest))
        report.articles_total, report.passages_total = manifest.articles, manifest.passages
        report.generation = generation.name
        report.seconds = time.perf_counter() - started
        return report

    def remove(self, article_ids: Iterable[str]) -> WriteReport:
        """Remove articles by id from the live generation."""
        started = time.perf_counter()
        generation = live_generation(self.milvus, self.alias)
        if generation is None:
            raise IndexNotFound(self.location, build_options(self.milvus, self.alias))
        load(self.milvus, generation)
        manifest = read_manifest(self.milvus, generation)
        if manifest.model != self.embedder.name:
            raise IndexMismatch(self.location, manifest.model, self.embedder.name)
        wanted = list(dict.fromkeys(article_ids))
        target = _MilvusTarget(self.milvus, generation, fresh=False)
        found = set(target.fingerprints(wanted))
        report = WriteReport(removed=len(found), not_found=[a for a in wanted if a not in found])
        if found:
            target.remove([a for a in wanted if a in found])
            target.finish(manifest)
        report.articles_total, report.passages_total = manifest.articles, manifest.passages
        report.generation = generation.name
        report.seconds = time.perf_counter() - started
        return report

    # ---------- internals ----------
    def _upsert(
        self, sources: Iterable[Article | SourceProblem], target: "_MilvusTarget", report: WriteReport
    ) -> None:
        upsert(
            self._storable(sources),
            target,
            self.splitter,
            self.embedder,
            report,
            on_problem=self.on_problem,
            progress=self.progress,
        )

    @staticmethod
    def _storable(sources: Iterable[Article | SourceProblem]) -> Iterator[Article | SourceProblem]:
        """The sources, with articles Milvus cannot hold (a field over its size limit) as problems."""
        for item in sources:
            if isinstance(item, Article) and (why := field_problem(item)) is not None:
                yield SourceProblem(f"article {item.id[:80]}", f"not stored in Milvus: {why}")
            else:
                yield item

    def _check_chunking(self) -> None:
        # A passage's lexical text is its title and its text; both must fit one VARCHAR.
        if TITLE_MAX + 4 * self.splitter.max_chars + 1 > VARCHAR_MAX:
            raise NewsQAError(
                f"passages of {self.splitter.max_chars} characters are too long for Milvus: "
                f"use --passage-chars {(VARCHAR_MAX - TITLE_MAX - 1) // 4} or less"
            )

    def _check_model(self, generation: Generation) -> Manifest:
        load(self.milvus, generation)
        manifest = read_manifest(self.milvus, generation)
        if manifest.model != self.embedder.name:
            raise IndexMismatch(self.location, manifest.model, self.embedder.name)
        self.embedder.warm_up()
        if manifest.dim != self.embedder.dim:
            raise IndexMismatch(
                self.location,
                f"{manifest.model} ({manifest.dim} dimensions)",
                f"{self.embedder.name} ({self.embedder.dim} dimensions)",
            )
        return manifest

    def _describe(self, manifest: Manifest) -> Manifest:
        manifest.chunking = {
            "max_chars": self.splitter.max_chars,
            "overlap_chars": self.splitter.overlap_chars,
        }
        manifest.ann = {
            "kind": "hnsw",
            "engine": "milvus",
            "hnsw_m": HNSW_M,
            "ef_construction": HNSW_EF_CONSTRUCTION,
            "ef_search": HNSW_EF_SEARCH,
        }
        manifest.bm25 = {
            "k1": BM25_K1,
            "b": BM25_B,
            "tokenizer": "Milvus jieba analyser (search mode) over newsqa-normalised text "
            "(OpenCC t2s + NFKC width folding, punctuation blanked)",
        }
        return manifest

    def _create(self, generation: Generation) -> None:
        with self.milvus.calls(f"create the collections of {generation.name}"):
            schema, index = passages_schema(self.embedder.dim)
            # Shards spread writes over a cluster's nodes; only passages are written in bulk.
            shards = {"num_shards": self.shards} if self.shards > 1 else {}
            self.client.create_collection(generation.passages, schema=schema, index_params=index, **shards)
            for name, (schema, index) in (
                (generation.articles, articles_schema()),
                (generation.meta, meta_schema()),
            ):
                self.client.create_collection(name, schema=schema, index_params=index)

    def _switch(self, generation: Generation) -> None:
        """Point the alias at `generation` (one call), then drop all but it and the one before."""
        with self.milvus.calls(f"switch the alias {self.alias!r}"):
            if self.alias in self.client.list_aliases().get("aliases", []):
                previous = self.client.describe_alias(self.alias)["collection_name"]
                self.client.alter_alias(generation.passages, self.alias)
            else:
                previous = None
                self.client.create_alias(generation.passages, self.alias)
        # Requests still on the previous generation finish there: it stays one switch longer.
        self._drop_generations(keep={generation.name, previous})

    def _drop_leftovers(self) -> None:
        """Drop what builds that did not finish left: every generation newer than the live one."""
        live = live_generation(self.milvus, self.alias)
        with self.milvus.calls("list the collections"):
            names = Generation.names_of(self.alias, self.client.list_collections())
        if live is None:
            keep: set[str | None] = set()
        else:
            older = [n for n in names if n < live.name]
            keep = {live.name, older[-1] if older else None}
        self._drop_generations(keep)

    def _drop_generations(self, keep: set[str | None]) -> None:
        with self.milvus.calls("list the collections"):
            collections = self.client.list_collections()
        for name in Generation.names_of(self.alias, collections):
            if name not in keep:
                self._drop(Generation(name))

    def _drop(self, generation: Generation) -> None:
        try:
            existing = set(self.client.list_collections())
            for name in generation.collections:
                if name in existing:
                    self.client.drop_collection(name)
        except Exception:  # cleaning up after a failure must not hide the failure
            logger.warning("could not drop the collections of %s", generation.name, exc_info=True)


class _MilvusTarget:
    """Writes upserted articles into one generation's collections; keeps term counts for IDF."""

    def __init__(self, milvus: Milvus, generation: Generation, *, fresh: bool) -> None:
        self.milvus = milvus
        self.gen = generation
        self.fresh = fresh  # a new generation: nothing is stored yet
        self.df = Counter[str]()  # change of each term's document frequency
        self.passages_delta = 0
        self.articles_delta = 0
        self.written: list[Article] = []  # in the order written
        self.removed: set[str] = set()
        self._seen: set[str] = set()

    @property
    def client(self) -> Any:
        return self.milvus.client

    def first_sight(self, article_id: str) -> bool:
        # A set: the ids of one run (tens of bytes each) are small beside what Milvus holds.
        if article_id in self._seen:
            return False
        self._seen.add(article_id)
        return True

    def fingerprints(self, article_ids: list[str]) -> dict[str, str]:
        if self.fresh or not article_ids:
            return {}
        found: dict[str, str] = {}
        for i in range(0, len(article_ids), QUERY_BATCH):
            part = article_ids[i : i + QUERY_BATCH]
            with self.milvus.calls("read stored fingerprints"):
                rows = self.client.query(
                    self.gen.articles,
                    filter=f"article_id in {literal(part)} and part == 0",
                    output_fields=["article_id", "fingerprint"],
                )
            found.update((r["article_id"], r["fingerprint"]) for r in rows)
        return found

    def replace(self, article_id: str) -> list[Article]:
        # The old version is replaced in `add_vectors`, once the new one can be written over it.
        return []

    def place(self, article: Article) -> bool:
        # Wire copies are not folded in Milvus (index/dedup.py keeps its stories in SQLite).
        return True

    def add(self, item: ArticleWrite) -> None:
        """Nothing to do before the vectors: every row is written with its vector."""

    def add_vectors(self, batch: list[ArticleWrite], vectors: np.ndarray) -> None:
        replaced = [item.article.id for item in batch if item.replaces]
        if replaced:
            self._forget_terms(replaced)
        passages, articles = [], []
        at = 0
        for item in batch:
            for passage, view in zip(item.passages, item.views, strict=True):
                passages.append(passage_row(item.article, passage, view, vectors[at].tolist()))
                self.df.update(set(terms(view)))
                at += 1
            articles += article_rows(item.article)
            self.written.append(item.article)
            self.passages_delta += len(item.passages)
            self.articles_delta += 0 if item.replaces else 1
        write = self.client.insert if self.fresh else self.client.upsert
        with self.milvus.calls("write passages"):
            for i in range(0, len(passages), INSERT_BATCH):
                write(self.gen.passages, passages[i : i + INSERT_BATCH])
        if replaced:
            # Passages and parts of the old versions beyond the new ones' count.
            for item in batch:
                if item.replaces:
                    aid = literal(item.article.id)
                    with self.milvus.calls("delete replaced passages"):
                        self.client.delete(
                            self.gen.passages,
                            filter=f"article_id == {aid} and ordinal >= {len(item.passages)}",
                        )
        with self.milvus.calls("write articles"):
            for i in range(0, len(articles), INSERT_BATCH):
                write(self.gen.articles, articles[i : i + INSERT_BATCH])
        for item in batch:
            if item.replaces:
                parts = sum(1 for r in articles if r["article_id"] == item.article.id)
                with self.milvus.calls("delete replaced article parts"):
                    self.client.delete(
                        self.gen.articles,
                        filter=f"article_id == {literal(item.article.id)} and part >= {parts}",
                    )

    def remove(self, article_ids: list[str]) -> None:
        self.removed.update(article_ids)
        self._forget_terms(article_ids)
        for i in range(0, len(article_ids), QUERY_BATCH):
            part = literal(article_ids[i : i + QUERY_BATCH])
            with self.milvus.calls("delete articles"):
                self.client.delete(self.gen.passages, filter=f"article_id in {part}")
                self.client.delete(self.gen.articles, filter=f"article_id in {part}")
        self.articles_delta -= len(article_ids)

    def _forget_terms(self, article_ids: list[str]) -> None:
        """Count the stored passages of these articles out of the term frequencies."""
        for i in range(0, len(article_ids), QUERY_BATCH):
            part = literal(article_ids[i : i + QUERY_BATCH])
            with self.milvus.calls("read replaced passages"):
                rows = self.client.query(
                    self.gen.passages, filter=f"article_id in {part}", output_fields=["title", "text"]
                )
            for row in rows:
                self.df.subtract(set(terms(passage_view(row["title"], row["text"]))))
            self.passages_delta -= len(rows)

    def finish(self, manifest: Manifest, *, rebuilt: bool = False) -> None:
        """Apply the term counts, write the manifest with the new totals, and flush."""
        self._apply_term_counts()
        manifest.articles += self.articles_delta
        manifest.passages += self.passages_delta
        manifest.updated_at = utc_now()
        if rebuilt:
            manifest.built_at = manifest.updated_at
        rows = [
            meta_row(MANIFEST_KEY, value=json.dumps(manifest.to_dict(), ensure_ascii=False)),
            meta_row(PASSAGES_KEY, count=manifest.passages),
            meta_row(LATEST_KEY, value=json.dumps(self._latest(), ensure_ascii=False)),
        ]
        with self.milvus.calls("write the manifest"):
            self.client.upsert(self.gen.meta, rows)
            for name in self.gen.collections:
                self.client.flush(name)

    def _latest(self) -> list[dict[str, Any]]:
        """The articles added last, newest first: this write's, then those kept before it."""
        before: list[dict[str, Any]] = []
        if not self.fresh:
            with self.milvus.calls("read the latest articles"):
                rows = self.client.query(
                    self.gen.meta, filter=f"key == {literal(LATEST_KEY)}", output_fields=["value"]
                )
            before = json.loads(rows[0]["value"]) if rows else []
        newest = [
            {"id": a.id, "title": a.title, "url": a.url, "published": a.published, "source": a.source}
            for a in reversed(self.written[-LATEST_KEEP:])
        ]
        gone = self.removed | {a["id"] for a in newest}
        latest = (newest + [a for a in before if a["id"] not in gone])[:LATEST_KEEP]
        while latest and utf8_len(json.dumps(latest, ensure_ascii=False)) > VARCHAR_MAX:
            latest.pop()  # long titles: fewer of them
        return latest

    def _apply_term_counts(self) -> None:
        changed: dict[str, dict[str, int]] = {}
        for term, delta in self.df.items():
            if delta:
                changed.setdefault(term_bucket(term), {})[term] = delta
        if not changed:
            return
        keys = sorted(changed)
        buckets: dict[str, dict[str, int]] = {key: {} for key in keys}
        if not self.fresh:
            for i in range(0, len(keys), QUERY_BATCH):
                with self.milvus.calls("read term frequencies"):
                    rows = self.client.query(
                        self.gen.meta,
                        filter=f"key in {literal(keys[i : i + QUERY_BATCH])}",
                        output_fields=["key", "value"],
                    )
                buckets.update((r["key"], json.loads(r["value"])) for r in rows)
        rows, gone = [], []
        for key in keys:
            bucket = buckets[key]
            for term, delta in changed[key].items():
                count = bucket.get(term, 0) + delta
                if count > 0:
                    bucket[term] = count
                else:
                    bucket.pop(term, None)
            if bucket:
                rows.append(meta_row(key, count=len(bucket), value=json.dumps(bucket, ensure_ascii=False)))
            else:
                gone.append(key)
        write = self.client.insert if self.fresh else self.client.upsert
        with self.milvus.calls("write term frequencies"):
            for i in range(0, len(rows), INSERT_BATCH):
                write(self.gen.meta, rows[i : i + INSERT_BATCH])
            for i in range(0, len(gone), QUERY_BATCH):
                self.client.delete(self.gen.meta, filter=f"key in {literal(gone[i : i + QUERY_BATCH])}")
