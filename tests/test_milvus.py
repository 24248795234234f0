"""The milvus backend against real Milvus Lite: build, ask, upsert, remove, the alias switch,
long articles, and its failures as one-line errors."""

import json
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from newsqa.cli import cli
from newsqa.config import Settings
from newsqa.errors import BackendUnavailable, IndexMismatch, IndexNotFound
from newsqa.index.backend import open_backend
from newsqa.index.chunking import PassageSplitter
from newsqa.index.embedders import HashingEmbedder
from newsqa.index.sources import SourceDefaults, read_sources
from newsqa.index.text import terms
from newsqa.index.types import Article
from newsqa.qa.answerer import Answerer
from newsqa.qa.readers.features.reader import FeatureReader
from newsqa.resources import SAMPLE_PUBLISHED, SAMPLE_SOURCE
from tests.helpers import optional_import, write_jsonl

optional_import("pymilvus")
optional_import("milvus_lite")

from newsqa.index.milvus.backend import MilvusBackend  # noqa: E402
from newsqa.index.milvus.client import Milvus  # noqa: E402
from newsqa.index.milvus.schema import Generation, lexical_text, split_utf8  # noqa: E402


def milvus_settings(path, **more) -> Settings:
    return Settings(backend="milvus", milvus_uri=str(path), **more)


def milvus_backend(path) -> MilvusBackend:
    backend = open_backend(milvus_settings(path))
    assert isinstance(backend, MilvusBackend)
    return backend


def hashing(backend):
    return backend.writer(HashingEmbedder(), PassageSplitter(120, 20))


def records(n: int, start: int = 0, **extra) -> list[dict]:
    return [
        {
            "id": f"a{i}",
            "title": f"第{i}篇",
            "text": f"第{i}篇报道的正文，港口编号{i * 7919}。夜市第{i}次开张。",
            **extra,
        }
        for i in range(start, start + n)
    ]


def state(backend) -> tuple:
    store = backend.open()
    articles = sorted((a.id, a.title, a.text) for a in store.iter_articles())
    passages = sorted(p.id for a, *_ in articles for p in store.article_passages(a))
    return store.manifest.articles, store.manifest.passages, articles, passages


@pytest.fixture(scope="module")
def milvus_sample(tmp_path_factory, sample_page, use_embedder):
    """The sample page in Milvus Lite, built with the real default embedder."""
    path = tmp_path_factory.mktemp("milvus") / "sample.milvus.db"
    backend = milvus_backend(path)
    backend.writer(use_embedder).build(
        read_sources([sample_page], SourceDefaults(source=SAMPLE_SOURCE, published=SAMPLE_PUBLISHED))
    )
    return path


def test_build_then_ask_answers_as_the_local_index_does(milvus_sample, sample_index, expected):
    milvus = Answerer.load(settings=milvus_settings(milvus_sample))
    local = Answerer.load(sample_index)
    assert milvus.snapshot.manifest.passages == local.snapshot.manifest.passages
    for item in [*expected["questions"], *({"question": q} for q in expected["unanswerable"])]:
        got, want = milvus.ask(item["question"]), local.ask(item["question"])
        assert [h.passage.id for h in got.hits] == [h.passage.id for h in want.hits], item["question"]
        assert (got.answer and got.answer.text) == (want.answer and want.answer.text), item["question"]
        if got.answer is not None:
            article = milvus.snapshot.article(got.answer.article.id)
            assert article.text[got.answer.start : got.answer.end] == got.answer.text
            assert got.answer.article.source == SAMPLE_SOURCE
    # The reader's word weights (IDF) are the local index's, from the term counts kept in Milvus.
    words = terms("柳州螺蛳粉上半年全产业链销售收入是多少 未见过的词xyz")
    assert milvus.snapshot.term_weights(words) == pytest.approx(local.snapshot.term_weights(words))


def test_the_lexical_text_is_what_our_terms_are_made_of():
    # Traditional and full-width text reach Milvus's analyser folded, as our BM25 sees them.
    assert lexical_text("柳州市委書記是誰？ＧＤＰ１４７２．３億") == "柳州市委书记是谁 gdp1472.3亿"


def test_adding_the_same_articles_twice_changes_nothing(tmp_path):
    backend = milvus_backend(tmp_path / "x.milvus.db")
    source = write_jsonl(tmp_path / "a.jsonl", records(12))
    first = hashing(backend).add(read_sources([source]))
    assert first.added == 12 and backend.pointer() is not None
    generation, before = backend.pointer(), state(backend)
    weights = backend.open().term_weights(["港口", "夜市", "第3篇"])
    again = hashing(backend).add(read_sources([source]))
    assert (again.added, again.updated, again.unchanged) == (0, 0, 12)
    assert backend.pointer() == generation and state(backend) == before
    assert backend.open().term_weights(["港口", "夜市", "第3篇"]) == weights


def test_update_and_remove_keep_term_counts_as_a_fresh_build_would(tmp_path):
    backend = milvus_backend(tmp_path / "x.milvus.db")
    path = write_jsonl(tmp_path / "a.jsonl", records(8))
    hashing(backend).build(read_sources([path]))
    long_text = "新的正文，完全不同。" * 40
    write_jsonl(path, [{"id": "a1", "title": "新标题", "text": long_text}])
    report = hashing(backend).add(read_sources([path]))
    assert (report.added, report.updated) == (0, 1)
    store = backend.open()
    assert store.article("a1").title == "新标题" and store.article("a1").text == long_text
    assert [p.ordinal for p in store.article_passages("a1")] == list(range(len(store.article_passages("a1"))))
    removed = hashing(backend).remove(["a2", "nope"])
    assert removed.removed == 1 and removed.not_found == ["nope"]
    store = backend.open()
    assert store.article("a2") is None and not store.article_passages("a2")
    assert all(not key.startswith("a2:") for key, _ in store.lexical_search("第2篇报道", 20))

    # The same articles built from scratch: same counts, same word weights.
    fresh = milvus_backend(tmp_path / "fresh.milvus.db")
    final = [r for r in records(8) if r["id"] not in ("a1", "a2")] + [
        {"id": "a1", "title": "新标题", "text": long_text}
    ]
    hashing(fresh).build(read_sources([write_jsonl(tmp_path / "b.jsonl", final)]))
    words = ["港口", "新标题", "正文", "第2篇", "夜市"]
    assert store.term_weights(words) == pytest.approx(fresh.open().term_weights(words))
    assert (store.manifest.articles, store.manifest.passages) == (
        fresh.open().manifest.articles,
        fresh.open().manifest.passages,
    )


def test_the_old_index_answers_until_the_new_build_is_complete(tmp_path):
    backend = milvus_backend(tmp_path / "x.milvus.db")
    hashing(backend).build(read_sources([write_jsonl(tmp_path / "old.jsonl", records(5))]))
    old = backend.pointer()
    halfway, go_on = threading.Event(), threading.Event()

    def slow_source():
        yield from (Article.from_dict({**r, "title": "新" + r["title"]}) for r in records(300, 100))
        halfway.set()
        assert go_on.wait(60)
        yield from (Article.from_dict(r) for r in records(3, 900))

    errors: list[BaseException] = []

    def build() -> None:
        try:
            hashing(backend).build(slow_source())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)

    writer = threading.Thread(target=build)
    writer.start()
    assert halfway.wait(60)
    # Mid-build: the alias has not moved, and a store opened now still reads the old generation.
    assert backend.pointer() == old
    store = backend.open()
    assert store.generation == old and store.manifest.articles == 5
    assert store.article("a3") is not None and store.lexical_search("第3篇报道", 3)
    go_on.set()
    writer.join(120)
    assert not errors and backend.pointer() != old
    new = backend.open()
    assert new.manifest.articles == 303 and new.article("a901") is not None and new.article("a3") is None
    # Requests still on the old generation finish there: it is kept for one more switch.
    assert store.article("a3") is not None and store.lexical_search("第3篇报道", 3)


def test_a_build_that_fails_leaves_the_alias_and_drops_its_collections(tmp_path):
    backend = milvus_backend(tmp_path / "x.milvus.db")
    hashing(backend).build(read_sources([write_jsonl(tmp_path / "old.jsonl", records(4))]))
    live, before = backend.pointer(), state(backend)

    def failing_source():
        yield from (Article.from_dict(r) for r in records(20, 50))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hashing(backend).build(failing_source())
    assert backend.pointer() == live and state(backend) == before
    client = backend.milvus.client
    assert Generation.names_of("newsqa", client.list_collections()) == [live]

    # A build killed outright leaves its collections behind: the next write drops them.
    leftover = Generation(live + "z")  # newer than the live one, never published
    client.create_collection(leftover.passages, dimension=4)
    hashing(backend).add(read_sources([write_jsonl(tmp_path / "more.jsonl", records(1, 70))]))
    hashing(backend).build(read_sources([write_jsonl(tmp_path / "new.jsonl", records(2, 80))]))
    names = Generation.names_of("newsqa", client.list_collections())
    assert leftover.name not in names and names == [live, backend.pointer()]


def test_a_build_killed_outright_leaves_the_old_index_answering(tmp_path):
    db = tmp_path / "x.milvus.db"
    backend = milvus_backend(db)
    hashing(backend).build(read_sources([write_jsonl(tmp_path / "old.jsonl", records(4))]))
    old, before = backend.pointer(), state(backend)
    backend.milvus.close()
    from milvus_lite import server_manager_instance

    server_manager_instance.release_server(str(db))  # Milvus Lite: one process at a time
    big = write_jsonl(tmp_path / "big.jsonl", records(2000, 100))
    log = open(tmp_path / "build.log", "wb")
    flags = ["--backend", "milvus", "--milvus-uri", str(db), "--model", "hashing-test"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsqa", "index", "build", str(big), *flags], stdout=log, stderr=log
    )
    deadline = time.time() + 120
    # The new generation's collections appear on disk (Milvus Lite keeps one folder each).
    old_folders = {old, f"{old}_articles", f"{old}_meta"}
    while not {p.name for p in (db / "collections").glob("newsqa_gen_*")} - old_folders:
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"the build never started: {(tmp_path / 'build.log').read_text()[-500:]}")
        time.sleep(0.05)
    time.sleep(2.0)  # into writing passages
    proc.kill()
    proc.wait(timeout=60)
    log.close()
    assert proc.returncode != 0, "the build finished before it could be killed"
    backend = milvus_backend(db)
    assert backend.pointer() == old and state(backend) == before
    # The next build drops what the killed one left, and succeeds.
    hashing(backend).build(read_sources([write_jsonl(tmp_path / "new.jsonl", records(2, 50))]))
    assert Generation.names_of("newsqa", backend.milvus.client.list_collections()) == [old, backend.pointer()]


def test_a_long_article_is_stored_in_parts_that_join_back_exactly(tmp_path):
    backend = milvus_backend(tmp_path / "x.milvus.db")
    # 70,000 characters, mostly 3-byte ones, with 4-byte characters on the part boundaries.
    text = ("长篇报道的一句话，数字12345。𠀀" * 5000)[:70_000] + "结尾。"
    assert len(text) > 65_535
    parts = split_utf8(text)
    assert len(parts) == 3 and "".join(parts) == text
    assert all(len(p.encode("utf-8")) <= 65_535 for p in parts)
    assert split_utf8("a𠀀b", 4) == ["a", "𠀀", "b"] and split_utf8("") == [""]
    source = write_jsonl(tmp_path / "long.jsonl", [{"id": "long", "title": "长文", "text": text}])
    report = backend.writer(HashingEmbedder()).build(read_sources([source]))
    assert report.added == 1
    store = backend.open()
    assert store.article("long").text == text
    assert next(iter(store.iter_articles())).text == text
    for passage in store.article_passages("long"):
        assert text[passage.start : passage.end] == passage.text


def test_info_and_commands_through_the_cli(tmp_path, sample_page):
    db = tmp_path / "cli.milvus.db"
    flags = ["--backend", "milvus", "--milvus-uri", str(db)]
    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    write = [*flags, "--model", "hashing-test", "--published", "2024-08-02"]
    built = run("index", "build", sample_page, *write)
    assert built.exit_code == 0 and "7 added" in built.stdout, built.output
    info = json.loads(run("index", "info", *flags, "--json").stdout)
    assert info["backend"] == "milvus" and info["articles"] == 7 and info["model"] == "hashing-test"
    assert "0 added, 0 updated, 7 unchanged" in run("index", "add", sample_page, *write).stdout
    asked = run("ask", "柳州上半年地区生产总值是多少？", *flags, "--json")
    assert asked.exit_code == 0 and json.loads(asked.stdout)["passages"], asked.output
    article_id = json.loads(asked.stdout)["passages"][0]["article_id"]
    removed = run("index", "remove", article_id, *flags)
    assert removed.exit_code == 0 and "1 removed" in removed.stdout
    assert json.loads(run("index", "info", *flags, "--json").stdout)["articles"] == 6


def test_an_unreachable_server_is_one_line_naming_the_uri(tmp_path):
    uri = "http://127.0.0.1:9"  # discard port: nothing listens there
    result = CliRunner().invoke(
        cli, ["ask", "柳州市委书记是谁？", "--backend", "milvus", "--milvus-uri", uri], catch_exceptions=False
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and uri in lines[0] and lines[0].startswith("Error: cannot reach Milvus")
    with pytest.raises(BackendUnavailable, match="neither http"):
        Milvus("somewhere/else")


def test_missing_index_and_missing_uri_are_clear(tmp_path):
    with pytest.raises(IndexNotFound, match="--backend milvus --milvus-uri"):
        Answerer.load(settings=milvus_settings(tmp_path / "none.milvus.db"))
    assert not (tmp_path / "none.milvus.db").exists()  # asking does not create an index
    result = CliRunner().invoke(cli, ["ask", "谁？", "--backend", "milvus"], env={"NEWSQA_MILVUS_URI": ""})
    assert result.exit_code == 2 and "milvus_uri" in result.output


def test_another_embedder_is_a_clear_error(tmp_path):
    backend = milvus_backend(tmp_path / "x.milvus.db")
    hashing(backend).build(read_sources([write_jsonl(tmp_path / "a.jsonl", records(3))]))

    class OtherModel(HashingEmbedder):
        name = "other-model"

    with pytest.raises(IndexMismatch, match="hashing-test.*other-model"):
        backend.writer(OtherModel()).add(read_sources([write_jsonl(tmp_path / "b.jsonl", records(1, 9))]))
    narrower = HashingEmbedder(dim=32)
    narrower.name = "hashing-test"  # the same name at another width: the dimensions must catch it
    with pytest.raises(IndexMismatch, match="64 dimensions.*32 dimensions"):
        backend.writer(narrower).add(read_sources([write_jsonl(tmp_path / "c.jsonl", records(1, 9))]))
    with pytest.raises(IndexMismatch, match="other-model"):
        Answerer.load(settings=milvus_settings(tmp_path / "x.milvus.db"), model="other-model")
    answerer = Answerer(backend.open(), narrower, FeatureReader())
    with pytest.raises(IndexMismatch, match="64 dimensions.*32 dimensions"):
        answerer.warm_up()


def test_the_web_app_serves_a_milvus_index_and_follows_a_rebuild(tmp_path):
    from fastapi.testclient import TestClient

    from newsqa.web.app import create_app

    db = tmp_path / "web.milvus.db"
    backend = milvus_backend(db)
    hashing(backend).build(read_sources([write_jsonl(tmp_path / "a.jsonl", records(5))]))
    with TestClient(create_app(milvus_settings(db, watch_index=False))) as client:
        asked = client.post("/ask", json={"question": "第3篇报道的港口编号"})
        assert asked.status_code == 200 and asked.json()["passages"][0]["article_id"] == "a3"
        info = client.get("/api/index").json()
        assert info["backend"] == "milvus" and info["index"] == f"{db} (Milvus collection 'newsqa')"
        before = client.get("/healthz").json()["generation"]
        assert before == backend.pointer()
        # A rebuild switches the alias; the server follows it (here on demand, as the watcher does).
        hashing(backend).build(read_sources([write_jsonl(tmp_path / "b.jsonl", records(3, 40))]))
        assert client.app.state.live.reload() is True
        assert client.get("/healthz").json()["generation"] == backend.pointer() != before
        asked = client.get("/ask", params={"q": "第41篇报道的港口编号"})
        assert asked.status_code == 200 and asked.json()["passages"][0]["article_id"] == "a41"
