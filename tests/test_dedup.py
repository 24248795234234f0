"""Wire copies: near-duplicates folded into one story at ingest; the canonical article is the
earliest published (an agency's on a tie); copies are stored without passages and cited as also_in."""

import json
import sqlite3

import numpy as np

from newsqa.config import Settings
from newsqa.index.dedup import BandIndex, lsh_shape, precedes, shingles, signature, similarity
from newsqa.index.embedders import HashingEmbedder
from newsqa.index.layout import IndexLayout
from newsqa.index.sources import read_sources
from newsqa.index.store import IndexSnapshot
from newsqa.index.types import Article
from newsqa.qa.answerer import Answerer
from newsqa.qa.readers import load_reader
from testbed import WIRE_ARTICLES
from tests.helpers import hashing_writer

WIRE = [json.loads(line) for line in WIRE_ARTICLES.read_text(encoding="utf-8").splitlines()]
BODY = {r["id"]: r for r in WIRE}


def article(record_id, **changes):
    r = {**BODY[record_id], **changes}
    return Article(r["id"], r["title"], r["text"], None, r["published"], r["source"])


def copies(root):
    db = sqlite3.connect(IndexLayout(root).current() / "passages.sqlite")
    try:
        links = dict(db.execute("SELECT article_id, canonical_id FROM copies"))
        indexed = {r[0] for r in db.execute("SELECT DISTINCT article_id FROM passages")}
    finally:
        db.close()
    return links, indexed


def test_shingles_fold_script_width_and_punctuation():
    assert shingles("國鐵集團，发送旅客！") == shingles("国铁集团发送旅客")
    assert shingles("ＡＢＣ 12") == shingles("abc12")


def test_copies_are_similar_and_templated_releases_are_not():
    orig = signature(BODY["cpi_aug-orig"]["text"])
    assert similarity(orig, signature(BODY["cpi_aug-r5"]["text"])) > 0.8  # Traditional reprint
    assert similarity(orig, signature(BODY["cpi_aug-r3"]["text"])) >= 0.5  # rewritten dateline
    assert similarity(orig, signature(BODY["cpi_jul-orig"]["text"])) < 0.5  # next month's release


def test_canonical_is_earliest_then_an_agency_then_by_source():
    assert precedes(("2024-09-18", "人民网", "b"), ("2024-09-19", "新华社", "a"))
    assert precedes(("2024-09-19", "新华社", "b"), ("2024-09-19", "人民网", "a"))
    assert precedes(("2024-09-19", "东江日报", "b"), ("2024-09-19", "南湖晚报", "a"))
    assert precedes(("2024-09-19", None, "b"), (None, "新华社", "a"))


def test_band_index_finds_what_shares_a_band_and_forgets_removed():
    bands = BandIndex(*lsh_shape(0.3))
    sigs = np.random.default_rng(0).integers(0, 2**32, size=(3, 128), dtype=np.uint64).astype(np.uint32)
    bands.load(["a", "b"], sigs[:2])
    bands.add("c", sigs[2])
    assert bands.query(sigs[0]) == {"a"} and bands.query(sigs[2]) == {"c"}
    near = sigs[2].copy()
    near[100:] = 0
    assert bands.query(near) == {"c"}
    bands.remove("c")
    assert bands.query(sigs[2]) == set()


def test_building_the_wire_stories_indexes_one_article_per_story(tmp_path):
    root = tmp_path / "ix"
    report = hashing_writer(root).build(read_sources([WIRE_ARTICLES]))
    assert report.added == len(WIRE) and report.copies == len(WIRE) - len({r["story"] for r in WIRE})
    links, indexed = copies(root)
    canonical = {r["id"]: links.get(r["id"], r["id"]) for r in WIRE}
    for story in {r["story"] for r in WIRE}:
        members = [r["id"] for r in WIRE if r["story"] == story]
        assert len({canonical[m] for m in members}) == 1, story
        orig = f"{story}-orig"
        if orig in members:
            assert canonical[orig] == orig, f"{story}: the agency's original is canonical"
    assert indexed == set(canonical.values()), "copies have no passages"
    snapshot = IndexSnapshot.open(root)
    also = snapshot.also_in(["harvest-orig"])["harvest-orig"]
    # Earliest first: the same-day reprints, then the next day's; the canonical's own source is not repeated.
    assert set(also[:2]) == {"人民网", "中国新闻网"} and "港島日報" in also[2:] and "新华社" not in also
    assert [c.id for c in snapshot.copies_of("panda-orig")][:1] == ["panda-r1"]


def test_an_earlier_original_arriving_later_takes_over_the_story(tmp_path):
    root = tmp_path / "ix"
    writer = hashing_writer(root)
    writer.build([article("rail-r4"), article("rail-r1")])  # the reprints come first
    _, indexed = copies(root)
    assert indexed == {"rail-r1"}, "the earlier reprint is canonical for now"
    report = writer.add([article("rail-orig")])
    links, indexed = copies(root)
    assert indexed == {"rail-orig"} and report.copies == 0
    assert links == {"rail-r1": "rail-orig", "rail-r4": "rail-orig"}
    snapshot = IndexSnapshot.open(root)
    assert snapshot.check() is None and len(snapshot.bm25) == len(snapshot.vectors)


def test_within_one_write_too(tmp_path):
    root = tmp_path / "ix"
    hashing_writer(root).build([article("panda-r3"), article("panda-orig"), article("panda-r1")])
    links, indexed = copies(root)
    assert indexed == {"panda-orig"} and set(links) == {"panda-r3", "panda-r1"}
    IndexSnapshot.open(root).check()


def test_removing_the_canonical_article_promotes_its_earliest_copy(tmp_path):
    root = tmp_path / "ix"
    writer = hashing_writer(root)
    writer.build(
        [article("typhoon-orig"), article("typhoon-r1"), article("typhoon-r4"), article("harvest-orig")]
    )
    report = writer.remove(["typhoon-orig"])
    assert report.removed == 1
    links, indexed = copies(root)
    assert indexed == {"typhoon-r1", "harvest-orig"} and links == {"typhoon-r4": "typhoon-r1"}
    snapshot = IndexSnapshot.open(root)
    snapshot.check()
    assert snapshot.manifest.articles == 3


def test_updating_a_canonical_article_keeps_its_story(tmp_path):
    root = tmp_path / "ix"
    writer = hashing_writer(root)
    writer.build([article("satellite-orig"), article("satellite-r1")])
    corrected = BODY["satellite-orig"]["text"].replace("10时许", "10时12分")
    report = writer.add([article("satellite-orig", text=corrected)])
    assert report.updated == 1 and report.added == 0
    links, indexed = copies(root)
    assert indexed == {"satellite-orig"} and links == {"satellite-r1": "satellite-orig"}


def test_answers_cite_the_canonical_article_with_also_in(tmp_path):
    root = tmp_path / "ix"
    hashing_writer(root).build(read_sources([WIRE_ARTICLES]))
    snapshot = IndexSnapshot.open(root)
    settings = Settings(index_dir=root, model="hashing-test")
    answerer = Answerer(snapshot, HashingEmbedder(), load_reader("features", snapshot, settings))
    answerer.warm_up()
    result = answerer.ask("国庆假期全国铁路累计发送旅客多少人次？", top_k=5)
    rail = [h for h in result.hits if BODY[h.article.id]["story"] == "rail"]
    assert [h.article.id for h in rail] == ["rail-orig"], "one hit for the story, not one per reprint"
    assert set(rail[0].to_dict()["also_in"]) == {
        "人民网",
        "中国新闻网",
        "东江日报",
        "南湖晚报",
        "港島日報",
        "西岭日报",
    }
    assert result.answer is not None and result.answer.article.id == "rail-orig"
    assert result.to_dict()["answer"]["also_in"] == list(rail[0].article.also_in)


def test_band_index_finds_the_same_after_merging_what_was_added(monkeypatch):
    monkeypatch.setattr(BandIndex, "MERGE_FROM", 3)
    bands = BandIndex(*lsh_shape(0.3))
    sigs = np.random.default_rng(1).integers(0, 2**32, size=(20, 128), dtype=np.uint64).astype(np.uint32)
    bands.load(["s0", "s1"], sigs[:2])
    for i in range(2, 20):
        bands.add(f"s{i}", sigs[i])  # merged into the sorted arrays every few additions
    assert bands._sorted_keys and len(bands._sorted_keys[0]) > 2
    for i in range(20):
        assert bands.query(sigs[i]) == {f"s{i}"}
    bands.remove("s5")
    assert bands.query(sigs[5]) == set()
