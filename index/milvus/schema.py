"""The collections of one index generation in Milvus, and how records become rows and back.

A generation is three collections, named from one stem:

    <alias>_gen_<stamp>_<hex>            passages: id, article, ordinal, offsets, text,
                                          the dense vector (HNSW, IP), the lexical text
                                          and its BM25 sparse vector (jieba analyser),
                                          and the article's citation and filter fields
    <alias>_gen_<stamp>_<hex>_articles   articles, one row per part of at most 65,535 bytes
                                          of text (VARCHAR's limit); parts join back exactly
    <alias>_gen_<stamp>_<hex>_meta       the manifest, the passage count, and each search
                                          term's document frequency (the reader's IDF),
                                          in buckets of terms

The alias (`milvus_collection`, default "newsqa") points at the live passages
collection; switching it switches the whole generation at once.

What BM25 sees: Milvus's jieba analyser is given our normalised text (Traditional
folded to Simplified, full-width to ASCII, lower case; see index/text.py) with
punctuation blanked, and drops our stopwords, so that its terms match the local
index's (bench/README.md has the measurement). Every collection needs a vector
field in Milvus; the articles and meta collections carry a 2-dimensional zero
vector for that alone.
"""

import json
import re
import secrets
import time
import zlib
from dataclasses import dataclass
from typing import Any

from newsqa.index.filters import published_day
from newsqa.index.text import STOPWORDS, normalize
from newsqa.index.types import Article, ArticleRef, Passage, StoredPassage

VARCHAR_MAX = 65535  # bytes (UTF-8), Milvus's limit for one VARCHAR value
ID_MAX = 1024  # bytes, for article and passage ids
TITLE_MAX = 16384  # bytes: a title is stored with every passage and in its lexical text
TEXT_PART_MAX = VARCHAR_MAX
DUMMY_DIM = 2

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 768
BM25_K1 = 1.2
BM25_B = 0.75

# Characters that never occur inside one of our search terms: blanked before Milvus's
# tokenizer sees the text. `.%+#&-_` can (3.5, 50%, c++), so jieba keeps them inside
# tokens; standing alone they are stopwords.
_BLANKED = re.compile(r"[^\w.%+#&\-]")
_LONE_MARKS = (".", "%", "+", "#", "&", "-", "_")

ANALYZER: dict[str, Any] = {
    "tokenizer": {"type": "jieba", "mode": "search"},
    "filter": [{"type": "stop", "stop_words": sorted(STOPWORDS) + list(_LONE_MARKS)}],
}


def lexical_text(text: str) -> str:
    """What Milvus's analyser is given for a text: normalised, punctuation blanked."""
    return _BLANKED.sub(" ", normalize(text))


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def split_utf8(text: str, limit: int = TEXT_PART_MAX) -> list[str]:
    """`text` in parts of at most `limit` UTF-8 bytes, cut between characters; "".join gives it back."""
    data = text.encode("utf-8")
    parts: list[str] = []
    pos = 0
    while pos < len(data):
        end = min(pos + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # a continuation byte: step back
            end -= 1
        parts.append(data[pos:end].decode("utf-8"))
        pos = end
    return parts or [""]


@dataclass(frozen=True)
class Generation:
    """The collections of one generation, named from its passages collection."""

    name: str

    @property
    def passages(self) -> str:
        return self.name

    @property
    def articles(self) -> str:
        return f"{self.name}_articles"

    @property
    def meta(self) -> str:
        return f"{self.name}_meta"

    @property
    def collections(self) -> tuple[str, str, str]:
        return (self.passages, self.articles, self.meta)

    @classmethod
    def new(cls, alias: str) -> "Generation":
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        return cls(f"{alias}_gen_{stamp}_{secrets.token_hex(3)}")

    @staticmethod
    def names_of(alias: str, collections: list[str]) -> list[str]:
        """The generations of `alias` among these collection names, oldest first."""
        prefix = f"{alias}_gen_"
        return sorted(
            c for c in collections if c.startswith(prefix) and not c.endswith(("_articles", "_meta"))
        )


# ---------------------------------------------------------------- schemas
def passages_schema(dim: int) -> tuple[Any, Any]:
    """(schema, index params) of a passages collection with `dim`-dimensional vectors."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_MAX)
    schema.add_field("article_id", DataType.VARCHAR, max_length=ID_MAX)
    schema.add_field("ordinal", DataType.INT64)
    schema.add_field("start_char", DataType.INT64)
    schema.add_field("end_char", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field(
        "lexical", DataType.VARCHAR, max_length=VARCHAR_MAX, enable_analyzer=True, analyzer_params=ANALYZER
    )
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("title", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("url", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("published", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("published_day", DataType.VARCHAR, max_length=10)
    schema.add_field("source", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["lexical"],
            output_field_names=["sparse"],
        )
    )
    index = MilvusClient.prepare_index_params()
    index.add_index(
        "vector",
        index_type="HNSW",
        metric_type="IP",
        params={"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION},
    )
    index.add_index(
        "sparse",
        index_type="SPARSE_INVERTED_INDEX",
        metric_type="BM25",
        params={"bm25_k1": BM25_K1, "bm25_b": BM25_B},
    )
    for field in ("article_id", "published_day", "source"):
        index.add_index(field, index_type="INVERTED")
    return schema, index


def articles_schema() -> tuple[Any, Any]:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=ID_MAX + 16)
    schema.add_field("article_id", DataType.VARCHAR, max_length=ID_MAX)
    schema.add_field("part", DataType.INT64)
    schema.add_field("parts", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_MAX)
    # The rest is set on part 0 only.
    for field in ("title", "url", "published", "source", "subtitles", "byline", "captions", "continued"):
        schema.add_field(field, DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("published_day", DataType.VARCHAR, max_length=10)
    schema.add_field("fingerprint", DataType.VARCHAR, max_length=64)
    schema.add_field("_v", DataType.FLOAT_VECTOR, dim=DUMMY_DIM)
    index = MilvusClient.prepare_index_params()
    index.add_index("_v", index_type="FLAT", metric_type="IP")
    index.add_index("article_id", index_type="INVERTED")
    return schema, index


def meta_schema() -> tuple[Any, Any]:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=ID_MAX)
    schema.add_field("count", DataType.INT64)
    schema.add_field("value", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("_v", DataType.FLOAT_VECTOR, dim=DUMMY_DIM)
    index = MilvusClient.prepare_index_params()
    index.add_index("_v", index_type="FLAT", metric_type="IP")
    return schema, index


# ---------------------------------------------------------------- meta keys
MANIFEST_KEY = "manifest"
PASSAGES_KEY = "passages"  # count: how many passages (N of the IDF), kept beside the term counts
LATEST_KEY = "latest"  # value: the articles added last, newest first (Milvus has no insertion order)
LATEST_KEEP = 50
# Term document frequencies are kept in buckets, a JSON {term: df} per row, so that a large
# vocabulary is a few thousand rows rather than one row per term (each row costs a write).
# 16,384 buckets keep a bucket near 25 KB at 20 million distinct terms, under VARCHAR's 64 KB.
TERM_BUCKETS = 16_384
TERM_PREFIX = "df:"


def term_bucket(term: str) -> str:
    """The meta key of the bucket holding a term's document frequency."""
    return f"{TERM_PREFIX}{zlib.crc32(term.encode('utf-8')) % TERM_BUCKETS}"


def meta_row(key: str, count: int = 0, value: str = "") -> dict[str, Any]:
    return {"key": key, "count": count, "value": value, "_v": [0.0] * DUMMY_DIM}


# ---------------------------------------------------------------- rows
def _opt(value: str | None) -> str:
    return value or ""


def _none(value: str) -> str | None:
    return value or None


def field_problem(article: Article) -> str | None:
    """Why an article cannot be stored in Milvus (a field over its limit), or None."""
    if utf8_len(article.id) > ID_MAX - 16:
        return f"its id is longer than {ID_MAX - 16} bytes"
    if utf8_len(article.title) > TITLE_MAX:
        return f"its title is longer than {TITLE_MAX} bytes"
    fields = {
        "url": article.url,
        "published": article.published,
        "source": article.source,
        "byline": article.byline,
        "continued": article.continued,
        "subtitles": json.dumps(list(article.subtitles), ensure_ascii=False),
        "captions": json.dumps(list(article.captions), ensure_ascii=False),
    }
    for name, value in fields.items():
        if value and utf8_len(value) > VARCHAR_MAX:
            return f"its {name} is longer than {VARCHAR_MAX} bytes"
    return None


def passage_row(article: Article, passage: Passage, view: str, vector: list[float]) -> dict[str, Any]:
    return {
        "id": passage.id,
        "article_id": article.id,
        "ordinal": passage.ordinal,
        "start_char": passage.start,
        "end_char": passage.end,
        "text": passage.text,
        "lexical": lexical_text(view),
        "vector": vector,
        "title": article.title,
        "url": _opt(article.url),
        "published": _opt(article.published),
        "published_day": _opt(published_day(article.published)),
        "source": _opt(article.source),
    }


PASSAGE_FIELDS = [
    "id",
    "article_id",
    "ordinal",
    "start_char",
    "end_char",
    "text",
    "title",
    "url",
    "published",
    "source",
]


def passage_from_row(row: dict[str, Any]) -> Passage:
    return Passage(
        id=row["id"],
        article_id=row["article_id"],
        ordinal=int(row["ordinal"]),
        text=row["text"],
        start=int(row["start_char"]),
        end=int(row["end_char"]),
    )


def stored_passage(row: dict[str, Any]) -> StoredPassage:
    article = ArticleRef(
        row["article_id"], row["title"], _none(row["url"]), _none(row["published"]), _none(row["source"])
    )
    return StoredPassage(passage_from_row(row), article)


def article_rows(article: Article) -> list[dict[str, Any]]:
    """One row per part of the article's text; part 0 carries everything else."""
    parts = split_utf8(article.text)
    rows = []
    for i, text in enumerate(parts):
        first = i == 0
        rows.append(
            {
                "key": f"{article.id}#{i}",
                "article_id": article.id,
                "part": i,
                "parts": len(parts),
                "text": text,
                "title": article.title if first else "",
                "url": _opt(article.url) if first else "",
                "published": _opt(article.published) if first else "",
                "source": _opt(article.source) if first else "",
                "subtitles": json.dumps(list(article.subtitles), ensure_ascii=False) if first else "",
                "byline": _opt(article.byline) if first else "",
                "captions": json.dumps(list(article.captions), ensure_ascii=False) if first else "",
                "continued": _opt(article.continued) if first else "",
                "published_day": _opt(published_day(article.published)) if first else "",
                "fingerprint": article.fingerprint if first else "",
                "_v": [0.0] * DUMMY_DIM,
            }
        )
    return rows


ARTICLE_FIELDS = [
    "article_id",
    "part",
    "parts",
    "text",
    "title",
    "url",
    "published",
    "source",
    "subtitles",
    "byline",
    "captions",
    "continued",
]


def article_from_rows(rows: list[dict[str, Any]]) -> Article | None:
    """The article whose parts these are, or None when parts are missing."""
    rows = sorted(rows, key=lambda r: int(r["part"]))
    if (
        not rows
        or int(rows[0]["part"]) != 0
        or [int(r["part"]) for r in rows] != list(range(int(rows[0]["parts"])))
    ):
        return None
    head = rows[0]
    return Article(
        id=head["article_id"],
        title=head["title"],
        text="".join(r["text"] for r in rows),
        url=_none(head["url"]),
        published=_none(head["published"]),
        source=_none(head["source"]),
        subtitles=tuple(json.loads(head["subtitles"] or "[]")),
        byline=_none(head["byline"]),
        captions=tuple(json.loads(head["captions"] or "[]")),
        continued=_none(head["continued"]),
    )
