"""Search filters (since, until, source) in both backends: the best allowed passages come back."""

import json
import sqlite3

import pytest
from click.testing import CliRunner

from newsqa.cli import cli
from newsqa.config import Settings
from newsqa.errors import BadFilter, IndexCorrupt
from newsqa.index import store as local_store
from newsqa.index.backend import open_backend
from newsqa.index.builder import IndexWriter
from newsqa.index.chunking import PassageSplitter
from newsqa.index.embedders import HashingEmbedder
from newsqa.index.filters import SearchFilter, published_day
from newsqa.index.layout import IndexLayout
from newsqa.index.sources import read_sources
from newsqa.index.vectors import AnnParams
from newsqa.qa.answerer import Answerer
from tests.helpers import hashing_writer, optional_import, write_jsonl

# Eight reports of the same harbour story, on different days and in different papers.
ARTICLES = [
    {
        "id": f"port-{i}",
        "title": f"港口夜市第{i}期",
        "published": day,
        "source": paper,
        "text": f"新港口夜市今天开张，摊位{i * 10}个。港口投资十二亿元，编号{i}。",
    }
    for i, (day, paper) in enumerate(
        [
            ("2024-07-30", "柳州日报"),
            ("2024-08-01", "柳州日报"),
            ("2024年8月2日", "南国早报"),
            ("2024/08/03 09:30", "柳州日报"),
            ("2024-08-05T10:00:00+08:00", "南国早报"),
            ("2024-08-09", "广西日报"),
            (None, "柳州日报"),
            ("八月某日", "南国早报"),
        ]
    )
]
DAYS = {a["id"]: published_day(a["published"]) for a in ARTICLES}
SOURCES = {a["id"]: a["source"] for a in ARTICLES}


def test_published_days_are_read_from_common_date_forms():
    assert [DAYS[f"port-{i}"] for i in range(8)] == [
        "2024-07-30",
        "2024-08-01",
        "2024-08-02",
        "2024-08-03",
        "2024-08-05",
        "2024-08-09",
        None,
        None,
    ]
    assert published_day("2024-02-30") is None


def test_filter_values_are_checked():
    assert SearchFilter.of() is None and SearchFilter.of(" ", "", ["", " "]) is None
    assert SearchFilter.of("2024/8/1", None, ["柳州日报", "柳州日报"]) == SearchFilter(
        "2024-08-01", None, ("柳州日报",)
    )
    with pytest.raises(BadFilter, match="since must be a date"):
        SearchFilter.of("yesterday")
    with pytest.raises(BadFilter, match="after until"):
        SearchFilter.of("2024-08-05", "2024-08-01")
    f = SearchFilter("2024-08-01", "2024-08-03", ("柳州日报",))
    assert f.allows("2024-08-01", "柳州日报") and not f.allows("2024-08-04", "柳州日报")
    assert not f.allows(None, "柳州日报") and not f.allows("2024-08-02", "南国早报")


def build(kind: str, tmp_path) -> Settings:
    source = write_jsonl(tmp_path / "port.jsonl", ARTICLES)
    if kind == "milvus":
        optional_import("pymilvus")
        settings = Settings(backend="milvus", milvus_uri=str(tmp_path / "f.milvus.db"))
    else:
        settings = Settings(index_dir=tmp_path / "ix")
    open_backend(settings).writer(HashingEmbedder(), PassageSplitter(120, 20)).build(read_sources([source]))
    return settings


CASES = [
    SearchFilter(since="2024-08-02"),
    SearchFilter(until="2024-08-01"),
    SearchFilter("2024-08-02", "2024-08-05"),
    SearchFilter(sources=("南国早报",)),
    SearchFilter(since="2024-08-01", sources=("柳州日报", "广西日报")),
    SearchFilter(since="2025-01-01"),
]


@pytest.mark.parametrize("kind", ["local", "milvus"])
def test_filters_in_both_backends(kind, tmp_path):
    settings = build(kind, tmp_path)
    answerer = Answerer.load(settings=settings)
    store, question = answerer.snapshot, "港口夜市开张，摊位多少个？"
    for where in CASES:
        allowed = {aid for aid in DAYS if where.allows(DAYS[aid], SOURCES[aid])}
        for search in (
            store.lexical_search(question, 20, where),
            store.dense_search(answerer.embedder.embed_queries([question])[0], 20, where),
        ):
            found = {s.article.id for s in store.passages(key for key, _ in search).values()}
            assert found == allowed, (where, found)  # every allowed article, nothing else
        hits = answerer.ask(question, top_k=8, where=where).hits
        assert {h.article.id for h in hits} == allowed, where
    # No filter: every article.
    assert len(answerer.ask(question, top_k=8).hits) == 8


def test_local_filters_search_exactly_or_through_the_index_the_same(tmp_path, monkeypatch):
    records = [
        {
            "id": f"a{i}",
            "title": f"第{i}篇",
            "published": f"2024-08-{1 + i % 28:02d}",
            "source": "甲报" if i % 3 else "乙报",
            "text": f"第{i}篇报道，港口编号{i * 7919}，夜市开张。",
        }
        for i in range(80)
    ]
    root = tmp_path / "ix"
    writer = IndexWriter(root, HashingEmbedder(), PassageSplitter(120, 20), ann=AnnParams(hnsw_threshold=30))
    writer.build(read_sources([write_jsonl(tmp_path / "a.jsonl", records)]))
    settings = Settings(index_dir=root)
    snapshot = open_backend(settings).open()
    assert snapshot.manifest.ann["kind"] == "hnsw"
    query = HashingEmbedder().embed_queries(["第7篇报道，港口编号55433"])[0]
    where = SearchFilter(since="2024-08-05", sources=("乙报",))
    exact = snapshot.dense_search(query, 10, where)
    monkeypatch.setattr(local_store, "EXACT_FILTERED_BELOW", 0)  # through HNSW with a selector
    through_index = open_backend(settings).open().dense_search(query, 10, where)
    # The same scores in the same order (passages with equal scores may swap places).
    assert [s for _, s in exact] == pytest.approx([s for _, s in through_index])
    assert exact[0][0] == through_index[0][0]
    assert {s.article.id for s in snapshot.passages(k for k, _ in exact).values()} <= {
        r["id"] for r in records if r["source"] == "乙报" and r["published"] >= "2024-08-05"
    }


def test_an_index_from_before_filters_says_how_to_add_them(tmp_path):
    root = tmp_path / "ix"
    hashing_writer(root).build(read_sources([write_jsonl(tmp_path / "a.jsonl", ARTICLES)]))
    db = IndexLayout(root).current() / "passages.sqlite"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "DROP INDEX articles_by_day; DROP INDEX articles_by_source; "
            "ALTER TABLE articles DROP COLUMN published_day;"
        )
    where = SearchFilter(since="2024-08-02")
    with pytest.raises(IndexCorrupt, match="before search filters existed.*index add"):
        open_backend(Settings(index_dir=root)).open().lexical_search("港口", 5, where)
    # Any write adds the column to the new generation.
    hashing_writer(root).add(
        read_sources([write_jsonl(tmp_path / "b.jsonl", [{"title": "新", "text": "新文。"}])])
    )
    assert open_backend(Settings(index_dir=root)).open().lexical_search("港口", 5, where)


def test_filters_on_the_command_line(tmp_path):
    settings = build("local", tmp_path)

    def ask(*flags):
        return CliRunner().invoke(
            cli,
            [
                "ask",
                "港口夜市开张，摊位多少个？",
                "--index",
                str(settings.index_dir),
                "--json",
                "-k",
                "8",
                *flags,
            ],
        )

    result = ask("--since", "2024-08-02", "--source", "南国早报", "--source", "广西日报")
    assert result.exit_code == 0, result.output
    assert {p["article_id"] for p in json.loads(result.stdout)["passages"]} == {"port-2", "port-4", "port-5"}
    bad = ask("--until", "soon")
    assert (
        bad.exit_code == 1 and bad.output.strip() == "Error: until must be a date like 2024-08-02, got 'soon'"
    )


def test_filters_on_ask_in_json_and_in_the_query_string(tmp_path):
    from fastapi.testclient import TestClient

    from newsqa.web.app import create_app

    settings = build("local", tmp_path)
    question = "港口夜市开张，摊位多少个？"

    def articles(response) -> set[str]:
        assert response.status_code == 200, response.text
        return {p["article_id"] for p in response.json()["passages"]}

    with TestClient(create_app(settings.model_copy(update={"watch_index": False}))) as client:
        body = {"question": question, "top_k": 8, "since": "2024-08-02", "source": ["南国早报", "广西日报"]}
        assert articles(client.post("/ask", json=body)) == {"port-2", "port-4", "port-5"}
        assert articles(
            client.post("/ask", json={"question": question, "top_k": 8, "source": "广西日报"})
        ) == {"port-5"}
        params = [("q", question), ("top_k", "8"), ("until", "2024/8/1"), ("source", "柳州日报")]
        assert articles(client.get("/ask", params=params)) == {"port-0", "port-1"}
        bad = client.post("/ask", json={"question": question, "since": "下周"})
        assert (
            bad.status_code == 422
            and bad.json()["error"] == "since must be a date like 2024-08-02, got '下周'"
        )
        blank = client.get("/ask", params=[("q", question), ("source", "")])
        assert blank.status_code == 422 and blank.json()["error"] == '"source.0" must not be empty'
        empty = client.get("/ask", params={"q": question, "since": "2025-01-01"})
        assert empty.status_code == 200 and empty.json()["passages"] == [] and empty.json()["answer"] is None
        # The chat: the filter fields travel with the form, and stay filled in.
        page = client.post(
            "/", data={"question": question, "since": "2024-08-05", "source": "南国早报，广西日报"}
        )
        assert (
            page.status_code == 200
            and 'value="2024-08-05"' in page.text
            and 'details class="filters" open' in page.text
        )
        turn = client.post("/chat/turn", data={"question": question, "source": "广西日报"})
        assert turn.status_code == 200 and "港口夜市第5期" in turn.text and "港口夜市第0期" not in turn.text
        none_left = client.post("/chat/turn", data={"question": question, "since": "2025-01-01"})
        assert (
            none_left.status_code == 200
            and "放宽筛选" in none_left.text
            and "下面的相关段落" not in none_left.text
        )
        wrong = client.post("/chat/turn", data={"question": question, "until": "昨天"})
        assert "截止日期要写成 2024-08-02 这样的日期" in wrong.text
