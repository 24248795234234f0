"""`newsqa index check [--repair]`: each way the parts can disagree is found, one line each, and repaired."""

import json
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner

from newsqa.cli import cli
from newsqa.index.builder import IndexWriter
from newsqa.index.check import check_index
from newsqa.index.chunking import PassageSplitter
from newsqa.index.embedders import HASHING_MODEL, HashingEmbedder, load_embedder
from newsqa.index.layout import IndexLayout
from newsqa.index.sources import read_sources
from newsqa.index.store import IndexSnapshot
from newsqa.index.vectors import AnnParams, FaissStore


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"NEWSQA_MODEL": HASHING_MODEL})


@pytest.fixture
def index(tmp_path, sample_page):
    root = tmp_path / "ix"
    IndexWriter(root, HashingEmbedder(), PassageSplitter(120, 20)).build(read_sources([sample_page]))
    return root


def generation(root):
    return IndexLayout(root).current()


def sql(root, statement, *args):
    conn = sqlite3.connect(generation(root) / "passages.sqlite")
    conn.execute(statement, args)
    conn.commit()
    conn.close()


def edit_manifest(root, **changes):
    path = generation(root) / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def drop_vector(root, row):
    gen = generation(root)
    store = FaissStore.load(gen, json.loads((gen / "manifest.json").read_text())["dim"])
    store.remove(np.array([row]))
    store.save(gen)


def add_vector(root, row):
    gen = generation(root)
    store = FaissStore.load(gen, 64)
    store.add(np.array([row]), HashingEmbedder().embed_passages(["多出来的向量"]))
    store.save(gen)


def replace_vectors(root, scale=1.0, other_text=False):
    gen = generation(root)
    store = FaissStore.load(gen, 64)
    rows, vectors = store.vectors()
    if other_text:
        vectors = HashingEmbedder().embed_passages([f"别的内容{r}" for r in rows])
    fresh = FaissStore.empty(64, store.params)
    fresh.add(rows, vectors * scale)
    fresh.save(gen)


def edit_bm25(root, name, change):
    path = generation(root) / "bm25" / f"{name}.npy"
    values = np.load(path)
    change(values)
    np.save(path, values)


CORRUPTIONS = {
    "article deleted": (
        lambda root: sql(root, "DELETE FROM articles WHERE rowid = 1"),
        ["belongs to article", "which is missing"],
    ),
    "offsets moved": (
        lambda root: sql(root, "UPDATE passages SET start = start + 2 WHERE row = 3"),
        ["but the text splits into"],
    ),
    "offsets outside the text": (
        lambda root: sql(root, "UPDATE passages SET end = end + 100000 WHERE row = 3"),
        ["fall outside its article"],
    ),
    "passage deleted": (
        lambda root: sql(root, "DELETE FROM passages WHERE row = 4"),
        [
            "but the text splits into",
            "vector for row 4, which is not a passage",
            "row 4 is in the postings but",
        ],
    ),
    "last passage deleted": (
        lambda root: sql(root, "DELETE FROM passages WHERE row = (SELECT MAX(row) FROM passages)"),
        ["passages stored, its text splits into"],
    ),
    "article changed outside newsqa": (
        lambda root: sql(root, "UPDATE articles SET title = title || '改' WHERE rowid = 2"),
        ["stored fingerprint does not match"],
    ),
    "vector missing": (lambda root: drop_vector(root, 5), ["passage row 5 has no vector"]),
    "vector without a passage": (
        lambda root: add_vector(root, 999),
        ["vector for row 999, which is not a passage"],
    ),
    "vectors damaged": (lambda root: replace_vectors(root, scale=3.0), ["vectors are not of unit length"]),
    "vectors from another text": (
        lambda root: replace_vectors(root, other_text=True),
        ["the stored vectors are not what model 'hashing-test' gives"],
    ),
    "postings changed": (
        lambda root: edit_bm25(root, "tf", lambda a: a.__setitem__(7, a[7] + 1)),
        ["are not the terms of its text"],
    ),
    "passage lengths changed": (
        lambda root: edit_bm25(root, "doc_len", lambda a: a.__setitem__(2, a[2] + 5)),
        ["are not the terms of its text"],
    ),
    "weights changed": (
        lambda root: edit_bm25(root, "weights", lambda a: a.__setitem__(0, a[0] * 2)),
        ["postings carry a weight BM25 does not give them"],
    ),
    "a passage not in the postings": (
        lambda root: edit_bm25(root, "rows", lambda a: a.__setitem__(0, 777)),
        ["passage row 0 is not in the postings", "row 777 is in the postings but is not a passage"],
    ),
    "manifest counts": (lambda root: edit_manifest(root, passages=1), ["says 7 articles and 1 passages"]),
    "manifest vector kind": (
        lambda root: edit_manifest(root, ann={**AnnParams().to_dict(), "kind": "hnsw"}),
        ["says vector index 'hnsw'; ann.json says 'flat'"],
    ),
    "next row": (
        lambda root: sql(root, "UPDATE meta SET value = '1' WHERE key = 'next_row'"),
        ["the next free row"],
    ),
}


def test_a_healthy_index_passes(index):
    report = check_index(index, load_embedder)
    assert report.ok and report.lines() == []
    assert report.articles == 7 and report.passages > 7
    result = run("index", "check", "--index", index)
    assert result.exit_code == 0 and "every check passed" in result.output


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_each_disagreement_is_found_then_repaired(index, name):
    corrupt, expected = CORRUPTIONS[name]
    corrupt(index)
    result = run("index", "check", "--index", index)
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    for text in expected:
        assert any(text in line for line in lines[:-1]), (text, lines)
    assert "problem" in lines[-1] and "newsqa index check --repair" in lines[-1]
    before = IndexLayout(index).pointer()
    repaired = run("index", "check", "--index", index, "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "repaired:" in repaired.stdout and repaired.stdout.strip().splitlines()[-1].endswith(")")
    assert IndexLayout(index).pointer() != before
    assert check_index(index, load_embedder).ok
    snapshot = IndexSnapshot.open(index)
    (top, _), *_ = snapshot.lexical_search("螺蛳粉全产业链销售收入", 3)
    assert "螺蛳粉" in snapshot.passages([top])[top].passage.text


def test_repair_keeps_sound_vectors_and_embeds_only_the_rest(index):
    last = IndexSnapshot.open(index).manifest.passages - 1  # a passage of the last article
    drop_vector(index, last)
    sql(index, "DELETE FROM articles WHERE rowid = 1")
    built_at = IndexSnapshot.open(index).manifest.built_at
    writer = IndexWriter(index, HashingEmbedder())
    report = writer.repair()
    assert IndexSnapshot.open(index).manifest.built_at == built_at
    assert report.passages_added == 1  # only the passage whose vector was gone
    assert check_index(index, load_embedder).ok
    assert report.articles_total == 6


def test_unrecoverable_damage_says_to_rebuild(index):
    (generation(index) / "passages.sqlite").write_bytes(b"not a database at all" * 100)
    result = run("index", "check", "--index", index, "--repair")
    assert result.exit_code == 1
    assert "cannot be read" in result.stdout and "newsqa index build" in result.stdout.splitlines()[-1]


def test_many_findings_of_one_kind_are_counted_not_listed(index):
    sql(index, "DELETE FROM articles")
    report = check_index(index)
    lines = report.lines()
    orphans = [line for line in lines if "which is missing" in line]
    assert len(orphans) == 5 and any("more like the above" in line for line in lines)


def test_leftovers_of_an_interrupted_write_are_a_note_not_a_problem(index):
    IndexLayout(index).new_generation()
    report = check_index(index)
    assert report.ok and any("interrupted write" in note for note in report.notes)


def test_worker_processes_find_the_same(index, monkeypatch):
    from newsqa.index import check

    monkeypatch.setattr(check, "PARALLEL_FROM", 0)
    monkeypatch.setattr(check, "ARTICLES_PER_TASK", 2)
    monkeypatch.setattr(check, "PASSAGES_PER_TASK", 7)
    assert check_index(index, workers=2).ok
    sql(index, "UPDATE passages SET start = start + 2 WHERE row = 3")
    edit_bm25(index, "tf", lambda a: a.__setitem__(7, a[7] + 1))
    lines = check_index(index, workers=2).lines()
    assert any("but the text splits into" in line for line in lines)
    assert any("are not the terms of its text" in line for line in lines)


def test_wire_copies_pass_and_their_damage_is_found_and_repaired(tmp_path):
    from testbed import WIRE_ARTICLES

    root = tmp_path / "wire"
    IndexWriter(root, HashingEmbedder(), PassageSplitter(120, 20)).build(read_sources([WIRE_ARTICLES]))
    report = check_index(root, load_embedder)
    assert report.ok, report.lines()
    conn = sqlite3.connect(generation(root) / "passages.sqlite")
    copy_id, canonical_id = conn.execute("SELECT article_id, canonical_id FROM copies LIMIT 1").fetchone()
    conn.close()
    # A copy that got passages, and a copy whose canonical article is gone.
    sql(
        root,
        "UPDATE passages SET article_id = ?, id = ? || ':0' WHERE row = (SELECT MIN(row) FROM passages)",
        copy_id,
        copy_id,
    )
    sql(root, "INSERT INTO copies (article_id, canonical_id) VALUES (?, 'gone')", canonical_id)
    found = [str(f) for f in check_index(root, load_embedder).findings]
    assert f"sqlite: article {copy_id} is a copy of {canonical_id} but has 1 passages" in found
    assert f"sqlite: article {canonical_id} is a wire copy of gone, which is missing" in found
    assert f"sqlite: article {copy_id} is a wire copy of {canonical_id}, which is itself a copy" in found
    assert run("index", "check", "--index", root, "--repair").exit_code == 0
    assert check_index(root, load_embedder).ok


def test_an_index_of_a_wider_hashing_embedder_checks_against_its_own_width(tmp_path, sample_page):
    # The manifest names the model; at 512 dimensions the name must bring back 512, not 64.
    root = tmp_path / "wide"
    IndexWriter(root, HashingEmbedder(512), PassageSplitter(120, 20)).build(read_sources([sample_page]))
    manifest = json.loads((generation(root) / "manifest.json").read_text())
    assert manifest["model"] == f"{HASHING_MODEL}-512" and manifest["dim"] == 512
    assert load_embedder(manifest["model"]).dim == 512
    assert check_index(root, load_embedder).ok
