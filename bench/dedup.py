"""Wire-copy detection: precision and recall on the fixture stories, and what the LSH state costs.

The fixture (testbed/wire/articles.jsonl) holds wire stories with their reprints
(verbatim, with 原标题/（完）/editor lines, a rewritten dateline, a dropped last
paragraph, in Traditional characters, lightly edited) and hard negatives: the
same events reported independently, follow-ups, and templated releases (one
month's CPI report beside the next month's). Every article has a gold story.

1. Pairs: for each threshold, precision and recall over all pairs of articles
   of "estimated Jaccard ≥ threshold" against "same story".
2. The pipeline: the real index writer (hashing embedder) builds the fixture,
   and the stories it formed are scored the same way (pairs in one story), with
   how many stories got the right canonical article (the original wire copy).
3. Cost: MinHash signature per article, and rebuilding the band index from N
   stored signatures (what the first placement of each write pays), beside
   datasketch's MinHashLSH built from 10,000.

    python -m bench.dedup
"""

import itertools
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import report
from newsqa.index.articles_db import ArticleDB
from newsqa.index.builder import IndexWriter
from newsqa.index.dedup import NUM_PERM, THRESHOLD, WireCopies, signature, similarity
from newsqa.index.embedders import HashingEmbedder
from newsqa.index.layout import IndexLayout
from newsqa.index.sources import read_sources
from testbed import WIRE_ARTICLES


def pair_scores(same: list[bool], predicted: list[bool]) -> tuple[float, float]:
    tp = sum(s and p for s, p in zip(same, predicted, strict=True))
    fp = sum(p and not s for s, p in zip(same, predicted, strict=True))
    fn = sum(s and not p for s, p in zip(same, predicted, strict=True))
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1)


def main() -> None:
    records = [json.loads(line) for line in WIRE_ARTICLES.read_text(encoding="utf-8").splitlines() if line]
    signature("预热：第一次调用加载繁简转换词典")  # warm up: the first call loads the OpenCC dictionaries
    started = time.perf_counter()
    sigs = [signature(r["text"]) for r in records]
    sign_ms = (time.perf_counter() - started) * 1000 / len(records)
    pairs = list(itertools.combinations(range(len(records)), 2))
    same = [records[i]["story"] == records[j]["story"] for i, j in pairs]
    estimate = [similarity(sigs[i], sigs[j]) for i, j in pairs]
    rows = []
    for threshold in (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8):
        precision, recall = pair_scores(same, [e >= threshold for e in estimate])
        rows.append({"what": f"pairs, threshold {threshold}", "precision": precision, "recall": recall})

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "index"
        IndexWriter(root, HashingEmbedder()).build(read_sources([WIRE_ARTICLES]))
        db = sqlite3.connect(IndexLayout(root).current() / "passages.sqlite")
        copies = dict(db.execute("SELECT article_id, canonical_id FROM copies"))
        db.close()
    canonical = {r["id"]: copies.get(r["id"], r["id"]) for r in records}
    predicted = [canonical[records[i]["id"]] == canonical[records[j]["id"]] for i, j in pairs]
    precision, recall = pair_scores(same, predicted)
    stories = {r["story"] for r in records}
    originals = {r["story"]: r["id"] for r in records if r["id"].endswith("-orig")}
    right_canonical = sum(canonical[orig] == orig for orig in originals.values())
    rows.append(
        {"what": f"pipeline (index writer), threshold {THRESHOLD}", "precision": precision, "recall": recall}
    )

    rebuild = {}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1_000, 10_000, 100_000):
            db = ArticleDB(Path(tmp) / f"sig-{n}.sqlite")
            stored = rng.integers(0, 2**32, size=(n, NUM_PERM), dtype=np.uint64).astype(np.uint32)
            for k, row in enumerate(stored):
                db.save_signature(f"a{k}", row.tobytes())
            db.conn.commit()
            t0 = time.perf_counter()
            WireCopies()._index(db)  # what the first placement of a write pays
            rebuild[n] = time.perf_counter() - t0
            db.commit_and_close()
    # datasketch's own MinHashLSH, for comparison, at 10,000 (it grows linearly)
    from datasketch import LeanMinHash, MinHashLSH

    from newsqa.index.dedup import CANDIDATE_THRESHOLD, SCHEME, SEED

    stored = rng.integers(0, 2**32, size=(10_000, NUM_PERM), dtype=np.uint64).astype(np.uint32)
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=CANDIDATE_THRESHOLD, num_perm=NUM_PERM)
    for k, row in enumerate(stored):
        lsh.insert(str(k), LeanMinHash(seed=SEED, hashvalues=row, scheme=SCHEME), check_duplication=False)
    datasketch_10k = time.perf_counter() - t0
    report(
        "dedup",
        rows,
        articles=len(records),
        stories=len(stories),
        gold_pairs=sum(same),
        pairs=len(pairs),
        threshold=THRESHOLD,
        canonical_right=f"{right_canonical}/{len(originals)} stories with reprints cite the original",
        signature_ms_per_article=round(sign_ms, 2),
        band_index_rebuild_seconds={str(k): round(v, 3) for k, v in rebuild.items()},
        datasketch_minhashlsh_build_10k_seconds=round(datasketch_10k, 2),
        signature_bytes_per_article=NUM_PERM * 4,
    )
    print(
        f"\ncanonical: {right_canonical}/{len(originals)} stories cite the original; "
        f"signature {sign_ms:.2f} ms/article; band index rebuild "
        + ", ".join(f"{n:,} signatures {s:.3f}s" for n, s in rebuild.items())
        + f" (datasketch MinHashLSH: {datasketch_10k:.2f}s for 10,000)"
    )


if __name__ == "__main__":
    main()
