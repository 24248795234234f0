"""Streaming BM25 postings (sorted runs on disk, merged term by term) equal an in-memory build."""

import json
from collections import Counter

import numpy as np
import pytest

from newsqa.index import postings as postings_module
from newsqa.index.lexical import K1, B, BM25Index
from newsqa.index.postings import PostingsWriter


def reference(docs: list[tuple[int, list[str]]]) -> dict:
    """The postings of `docs` (row, words) built the plain way: term -> [(position, tf, weight)]."""
    vocab: dict[str, int] = {}
    for _, words in docs:
        for w in words:
            vocab.setdefault(w, len(vocab))
    n = max(len(docs), 1)
    lens = [len(words) for _, words in docs]
    avg = max(float(np.mean(lens)) if lens else 0.0, 1.0)
    postings: dict[str, list] = {t: [] for t in vocab}
    for pos, (_, words) in enumerate(docs):
        for term, tf in Counter(words).items():
            postings[term].append((pos, tf))
    out = {}
    for term, plist in postings.items():
        df = len(plist)
        idf = np.float32(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
        out[term] = [
            (pos, tf, float(idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * lens[pos] / avg))))
            for pos, tf in plist
        ]
    return {"rows": [row for row, _ in docs], "lens": lens, "postings": out}


def written(folder) -> dict:
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    arrays = {
        name: np.load(folder / f"{name}.npy")
        for name in ("indptr", "docs", "tf", "weights", "doc_len", "rows")
    }
    postings = {}
    for t, term in enumerate(vocab):
        lo, hi = arrays["indptr"][t], arrays["indptr"][t + 1]
        plist = [
            (int(d), int(f), float(w))
            for d, f, w in zip(
                arrays["docs"][lo:hi], arrays["tf"][lo:hi], arrays["weights"][lo:hi], strict=True
            )
        ]
        if plist:
            postings[term] = plist
    return {"rows": arrays["rows"].tolist(), "lens": arrays["doc_len"].tolist(), "postings": postings}


def assert_same(got: dict, want: dict) -> None:
    assert got["rows"] == want["rows"] and got["lens"] == want["lens"]
    want_postings = {t: p for t, p in want["postings"].items() if p}
    assert got["postings"].keys() == want_postings.keys()
    for term, plist in want_postings.items():
        assert [(d, f) for d, f, _ in got["postings"][term]] == [(d, f) for d, f, _ in plist], term
        assert np.allclose([w for *_, w in got["postings"][term]], [w for *_, w in plist], rtol=1e-5), term


def random_docs(rng, n, first_row, vocabulary=60):
    words = [f"词{i}" for i in range(vocabulary)]
    return [(first_row + i, list(rng.choice(words, size=rng.integers(0, 25)))) for i in range(n)]


@pytest.fixture
def small_chunks(monkeypatch):
    # Tiny runs, merge chunks and cursor blocks, so that a few hundred passages cross every boundary.
    monkeypatch.setattr(postings_module, "MERGE_POSTINGS", 37)
    monkeypatch.setattr(postings_module, "CURSOR_BLOCK", 5)


def test_a_build_in_many_runs_equals_the_plain_build(tmp_path, small_chunks):
    docs = random_docs(np.random.default_rng(1), 300, first_row=0)
    writer = PostingsWriter(tmp_path / "work", run_postings=50)
    for row, words in docs:
        writer.add(row, words)
    stats = writer.write(tmp_path / "out")
    assert len(list((tmp_path / "work").glob("run-*.docs"))) > 10
    assert stats.passages == 300
    assert_same(written(tmp_path / "out"), reference(docs))


def test_an_update_keeps_the_base_less_removed_rows_then_adds(tmp_path, small_chunks):
    rng = np.random.default_rng(2)
    base_docs = random_docs(rng, 200, first_row=0)
    base = PostingsWriter(tmp_path / "w0", run_postings=80)
    for row, words in base_docs:
        base.add(row, words)
    base.write(tmp_path / "base")
    # New words too, so that the vocabulary grows between runs.
    added = random_docs(rng, 150, first_row=500, vocabulary=90)
    removed = set(rng.choice(200, size=40, replace=False).tolist())
    update = PostingsWriter(tmp_path / "w1", base=tmp_path / "base", run_postings=60)
    for row, words in added:
        update.add(row, words)
    update.remove(removed)
    update.write(tmp_path / "new")
    kept = [(row, words) for row, words in base_docs if row not in removed]
    assert_same(written(tmp_path / "new"), reference(kept + added))
    # Passages added by this very write and removed again (a story's canonical article demoted).
    again = PostingsWriter(tmp_path / "w3", base=tmp_path / "base", run_postings=60)
    for row, words in added:
        again.add(row, words)
    dropped = {added[3][0], added[100][0], 7}
    again.remove(dropped)
    again.write(tmp_path / "again")
    assert_same(
        written(tmp_path / "again"),
        reference([(r, w) for r, w in base_docs + added if r not in dropped]),
    )
    # A removal alone, with nothing added.
    only = PostingsWriter(tmp_path / "w2", base=tmp_path / "new")
    only.remove([500, 501, 3])
    only.write(tmp_path / "after")
    assert_same(
        written(tmp_path / "after"),
        reference([(r, w) for r, w in kept + added if r not in {500, 501, 3}]),
    )


def test_what_is_written_searches_like_a_bm25_index(tmp_path):
    writer = PostingsWriter(tmp_path / "work")
    writer.add(7, ["港口", "投资", "港口"])
    writer.add(9, ["夜市", "投资"])
    writer.write(tmp_path / "bm25")
    index = BM25Index.load(tmp_path / "bm25")
    rows, scores = index.search(["港口"], 5)
    assert rows.tolist() == [7] and scores[0] > 0
    assert index.search(["投资"], 5)[0].tolist() in ([7, 9], [9, 7])


def test_an_empty_write_makes_an_empty_index(tmp_path):
    PostingsWriter(tmp_path / "work").write(tmp_path / "bm25")
    index = BM25Index.load(tmp_path / "bm25")
    assert len(index) == 0 and index.search(["港口"], 3)[0].tolist() == []
