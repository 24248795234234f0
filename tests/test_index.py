"""Building, updating and removing: idempotence, atomic rebuilds, bad input never costs the index."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from newsqa.errors import IndexBusy, IndexMismatch, NothingIndexed
from newsqa.index.builder import IndexWriter, passage_view
from newsqa.index.chunking import PassageSplitter
from newsqa.index.embedders import HashingEmbedder
from newsqa.index.layout import IndexLayout, Manifest
from newsqa.index.sources import read_sources
from newsqa.index.store import IndexSnapshot
from newsqa.index.vectors import AnnParams
from tests.helpers import FIXTURES, hashing_writer, write_jsonl


def snapshot_state(root):
    snap = IndexSnapshot.open(root)
    snap.check()
    articles = sorted((a.id, a.title) for a in snap.iter_articles())
    return snap.manifest.passages, articles


def test_build_stores_articles_passages_vectors_and_manifest(sample_index, sample_page):
    snap = IndexSnapshot.open(sample_index)
    snap.check()
    m = snap.manifest
    assert m.model == "use-multilingual-v3" and m.dim == 512
    assert m.articles == 7 and m.passages == len(snap.vectors) == len(snap.bm25) > 7
    assert m.format_version == 1 and m.built_at and m.chunking["max_chars"] == 300
    articles = list(snap.iter_articles())
    for article in articles:
        for p in snap.article_passages(article.id):
            assert article.text[p.start : p.end] == p.text
    ranked = snap.lexical_search("螺蛳粉全产业链销售收入", 3)
    top = snap.passages(key for key, _ in ranked)[ranked[0][0]]
    assert "螺蛳粉" in top.passage.text and top.article.source == "柳州日报"


def test_adding_the_same_sources_twice_changes_nothing(tmp_path, sample_page):
    root = tmp_path / "ix"
    writer = hashing_writer(root)
    first = writer.add(read_sources([sample_page]))
    assert first.added == 7
    generation = IndexLayout(root).pointer()
    before = snapshot_state(root)
    again = writer.add(read_sources([sample_page]))
    assert (again.added, again.updated, again.unchanged) == (0, 0, 7)
    assert IndexLayout(root).pointer() == generation
    assert snapshot_state(root) == before


def test_update_replaces_an_article_and_remove_drops_it(tmp_path):
    root = tmp_path / "ix"
    writer = hashing_writer(root)
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [
            {"id": "x", "title": "旧标题", "text": "旧的正文。" * 30},
            {"id": "y", "title": "另一篇", "text": "不变。"},
        ],
    )
    writer.add(read_sources([path]))
    write_jsonl(path, [{"id": "x", "title": "新标题", "text": "新的正文，完全不同。" * 10}])
    report = writer.add(read_sources([path]))
    assert (report.added, report.updated) == (0, 1)
    snap = IndexSnapshot.open(root)
    snap.check()
    assert snap.article("x").title == "新标题"
    assert all("新的正文" in p.text for p in snap.article_passages("x"))
    removed = writer.remove(["x", "nope"])
    assert removed.removed == 1 and removed.not_found == ["nope"]
    snap = IndexSnapshot.open(root)
    snap.check()
    assert snap.article("x") is None and snap.article("y") is not None
    rows = {key for key, _ in snap.lexical_search("新的正文", 5)}
    assert not rows & {p.row for p in snap.article_passages("x")}


def test_hnsw_above_the_threshold_keeps_add_update_and_remove(tmp_path):
    root = tmp_path / "ix"
    writer = IndexWriter(root, HashingEmbedder(), PassageSplitter(120, 20), ann=AnnParams(hnsw_threshold=30))
    records = [
        {"id": f"a{i}", "title": f"第{i}篇", "text": f"第{i}篇报道的正文，编号{i * 7919}。"}
        for i in range(40)
    ]
    writer.build(read_sources([write_jsonl(tmp_path / "a.jsonl", records)]))
    snap = IndexSnapshot.open(root)
    assert snap.manifest.ann["kind"] == "hnsw" and snap.manifest.ann["hnsw_m"] == AnnParams().hnsw_m

    def dense_rows(text: str, k: int = 5) -> list[int]:
        snap = IndexSnapshot.open(root)
        ranked = snap.dense_search(HashingEmbedder().embed_queries([passage_view("新增", text)])[0], k)
        return [int(key) for key, _ in ranked]

    fresh = {"id": "new", "title": "新增", "text": "一篇新加入的报道，讲述港口夜市的变化。"}
    writer.add(read_sources([write_jsonl(tmp_path / "b.jsonl", [fresh])]))
    new_rows = {p.row for p in IndexSnapshot.open(root).article_passages("new")}
    assert dense_rows(fresh["text"])[0] in new_rows

    writer.remove(["new", "a0"])
    snap = IndexSnapshot.open(root)
    snap.check()
    assert snap.manifest.ann["kind"] == "hnsw" and snap.manifest.passages == 39
    assert not set(dense_rows(fresh["text"], 40)) & new_rows
    # Once a tenth of the graph is removed it is rebuilt without them.
    writer.remove([f"a{i}" for i in range(1, 6)])
    snap = IndexSnapshot.open(root)
    snap.check()
    assert len(snap.vectors) == 34 and snap.vectors._index.ntotal == 34


def test_rows_are_never_reused(tmp_path):
    root = tmp_path / "ix"
    writer = hashing_writer(root)
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [{"id": "a", "title": "A", "text": "甲。"}, {"id": "b", "title": "B", "text": "乙。"}],
    )
    writer.add(read_sources([path]))
    old_rows = {p.row for p in IndexSnapshot.open(root).article_passages("b")}
    writer.remove(["b"])
    writer.add(read_sources([write_jsonl(tmp_path / "c.jsonl", [{"id": "c", "title": "C", "text": "丙。"}])]))
    new_rows = {p.row for p in IndexSnapshot.open(root).article_passages("c")}
    assert not old_rows & new_rows


def test_bad_sources_never_cost_what_is_indexed(tmp_path, sample_page):
    root = tmp_path / "ix"
    writer = hashing_writer(root)
    writer.build(read_sources([sample_page]))
    before = snapshot_state(root)
    broken = write_jsonl(tmp_path / "broken.jsonl", ["{oops", '{"title": "no text"}'])
    with pytest.raises(NothingIndexed, match="existing index is unchanged"):
        writer.build(read_sources([broken, tmp_path / "missing.txt"]))
    with pytest.raises(NothingIndexed):
        writer.add(read_sources([broken]))
    assert snapshot_state(root) == before
    # A mix of good and bad input indexes the good part and reports the rest.
    mixed = write_jsonl(tmp_path / "mixed.jsonl", ['{"title": "好", "text": "可以索引的正文。"}', "not json"])
    report = writer.add(read_sources([mixed]))
    assert report.added == 1 and len(report.problems) == 1
    assert snapshot_state(root)[1] == sorted(before[1] + [(report_id(root, "好"), "好")])


def report_id(root, title):
    return next(a.id for a in IndexSnapshot.open(root).iter_articles() if a.title == title)


def test_opening_with_another_model_is_a_clear_error(tmp_path, sample_page):
    root = tmp_path / "ix"
    hashing_writer(root).build(read_sources([sample_page]))

    class OtherEmbedder(HashingEmbedder):
        name = "some-other-model"

    with pytest.raises(IndexMismatch, match="'hashing-test'.*'some-other-model'"):
        IndexWriter(root, OtherEmbedder()).add(read_sources([sample_page]))


def test_one_writer_at_a_time(tmp_path, sample_page):
    root = tmp_path / "ix"
    writer = IndexWriter(root, HashingEmbedder(), wait=False)
    with (
        writer.layout.writing("build"),
        pytest.raises(IndexBusy, match=r"another index build is running since .*, pid \d+.*--no-wait"),
    ):
        writer.add(read_sources([sample_page]))


def _big_jsonl(path, n=400):
    page = (FIXTURES / "jiangcheng_evening_page.txt").read_text(encoding="utf-8")
    rng = np.random.default_rng(0)
    sentences = [s + "。" for s in page.replace("\n", "").split("。") if len(s) > 8]
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            text = "".join(rng.choice(sentences, size=12))
            fh.write(
                json.dumps({"id": f"big-{i}", "title": f"第{i}篇", "text": text}, ensure_ascii=False) + "\n"
            )
    return path


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_rebuild_killed_midway_leaves_the_old_index_intact(tmp_path, sample_index, sig):
    import shutil

    root = tmp_path / "ix"
    shutil.copytree(sample_index, root)
    before = snapshot_state(root)
    old_generation = IndexLayout(root).pointer()
    big = _big_jsonl(tmp_path / "big.jsonl")
    log = open(tmp_path / "build.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsqa", "index", "build", str(big), "--index", str(root)],
        stdout=log,
        stderr=subprocess.STDOUT,
        # A test run started in the background (`cmd &`) ignores SIGINT, and the child would
        # inherit that; a user's Ctrl-C reaches a process with the default handler.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Starting the build loads the embedder first: on a loaded 2-core machine that alone can take a minute.
    deadline = time.time() + 180
    while time.time() < deadline:
        generations = [p for p in root.glob("gen-*") if p.name != old_generation]
        if generations and (generations[0] / "passages.sqlite").exists():
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the build never started")
    time.sleep(1.0)  # well into embedding
    proc.send_signal(sig)
    proc.wait(timeout=60)
    log.close()
    assert proc.returncode != 0, "the build finished before it could be interrupted"
    assert IndexLayout(root).pointer() == old_generation
    assert snapshot_state(root) == before
    if sig == signal.SIGINT:
        # Ctrl-C cleans up after itself.
        assert [p.name for p in root.glob("gen-*")] == [old_generation]
    # The next write clears what the killed one left behind, and succeeds.
    writer = IndexWriter(root, HashingEmbedder())
    with pytest.raises(IndexMismatch):
        writer.add(read_sources([big]))
    with writer.layout.writing():
        pass
    assert [p.name for p in root.glob("gen-*")] == [old_generation]
    assert Manifest.load(IndexLayout(root).current()).passages == before[0]


def test_an_id_twice_in_the_sources_counts_once_the_first_time(tmp_path):
    root = tmp_path / "ix"
    writer = hashing_writer(root)
    path = write_jsonl(
        tmp_path / "dup.jsonl",
        [
            {"id": "a", "title": "一", "text": "第一个版本。"},
            {"id": "a", "title": "一", "text": "第二个版本。"},
            {"id": "b", "title": "二", "text": "别的。"},
        ],
    )
    first = writer.add(read_sources([path]))
    assert (first.added, first.updated, first.unchanged) == (2, 0, 0)
    again = writer.add(read_sources([path]))
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    assert "第一个版本" in IndexSnapshot.open(root).article("a").text
