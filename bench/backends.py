"""The local and milvus (Lite) backends side by side: parity on the dev sets, speed at 10k and
100k passages, and what a passage costs.

    python -m bench.backends --embed          # once: embed every passage (about 30 min on 2 cores)
    python -m bench.backends --parity         # hit@1/@5, EM/F1 of both backends, same reader
    python -m bench.backends --speed 10k 100k # build and add rates, ask p50/p95, memory, disk
    python -m bench.backends --tokens         # Milvus's jieba analyser against our search terms

Both backends get the same passage vectors: they are computed once with the default
embedder and cached in bench/data/vectors (`--embed`), so the build and add rates are the
stores' own. Questions are embedded for real at ask time, as in `newsqa ask`.
Each speed measurement runs in its own process (so memory is that backend's alone).
"""

import argparse
import collections
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import dev_sets, report
from bench.vector_cache import CachedEmbedder, VectorCache
from newsqa.config import Settings
from newsqa.index.backend import open_backend
from newsqa.index.chunking import PassageSplitter
from newsqa.index.sources import read_sources
from newsqa.index.upsert import passage_view

DATA = Path(__file__).resolve().parent / "data"
WORK = DATA / "backends"
VECTORS = DATA / "vectors"
SIZES = {"10k": 10_000, "100k": 100_000}
ADD_PASSAGES = 2_000  # passages added to each built index for the `index add` rate
ASK_QUESTIONS = 200


def settings_for(kind: str, where: Path) -> Settings:
    if kind == "milvus":
        return Settings(backend="milvus", milvus_uri=str(where / "index.milvus.db"))
    return Settings(index_dir=where / "index")


def views_of(paths: list[Path]) -> list[str]:
    """Every passage view the writers will embed for these sources."""
    splitter = PassageSplitter()
    out = []
    for item in read_sources(paths):
        if hasattr(item, "text"):
            out += [passage_view(item.title, p.text) for p in splitter.split(item)]  # type: ignore[union-attr]
    return out


# ---------------------------------------------------------------- corpora
def corpus(size: int) -> Path:
    """The synthetic corpus prefix with `size` passages (bench/gen_corpus.py)."""
    from bench.build_scale import prefix_corpus
    from bench.gen_corpus import generate

    big = DATA / "corpus-backends.jsonl"
    if not big.exists():
        generate(max(SIZES.values()) + ADD_PASSAGES + 500, big)
    return prefix_corpus_from(big, size)


def prefix_corpus_from(big: Path, size: int) -> Path:
    """Articles of `big` making `size` passages, and the next ones making ADD_PASSAGES (to add)."""
    out = DATA / f"corpus-backends-{size}.jsonl"
    extra = DATA / f"corpus-backends-{size}-add.jsonl"
    if out.exists() and extra.exists():
        return out
    splitter = PassageSplitter()
    made = 0
    with open(big, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as a, open(
        extra, "w", encoding="utf-8"
    ) as b:
        for line in src:
            n = len(splitter.spans(json.loads(line)["text"]))
            if made < size:
                a.write(line)
            elif made < size + ADD_PASSAGES:
                b.write(line)
            else:
                break
            made += n
    return out


def add_corpus(size: int) -> Path:
    return DATA / f"corpus-backends-{size}-add.jsonl"


# ---------------------------------------------------------------- --embed
def embed_all() -> None:
    cache = VectorCache(VECTORS)
    embedder = CachedEmbedder(cache)
    largest = max(SIZES.values())
    paths = [*dev_sets(), corpus(largest), add_corpus(largest)]  # the dev sets first: parity needs them
    views = list(dict.fromkeys(views_of(paths)))
    print(f"{len(views)} passage views, {len(cache)} vectors cached", file=sys.stderr)
    started = time.perf_counter()
    done = 0
    for i in range(0, len(views), 2048):
        embedder.embed_passages(views[i : i + 2048])
        done = i + 2048
        cache.save()
        rate = embedder.computed / max(time.perf_counter() - started, 1e-9)
        print(f"{min(done, len(views))}/{len(views)} ({embedder.computed} embedded, {rate:.0f}/s)", file=sys.stderr)
    report("backends-embed", [{"views": len(views), "embedded": embedder.computed, "cached": len(cache)}])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embed", action="store_true", help="embed and cache every passage first")
    args = parser.parse_args()
    if args.embed:
        embed_all()


if __name__ == "__main__":
    main()
