"""Index build throughput: end-to-end passages/s beside the embedder's raw encode rate.

    python -m bench.index_speed [--model use-multilingual-v3] [SOURCES...]

Builds a fresh index of the sources (default: both shared SQuAD-style dev sets),
then encodes exactly the same passage texts with the embedder alone, in the same
batch size, and prints both rates, the pipeline overhead, peak RSS and the size
on disk per passage.
"""

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import dev_sets, peak_rss_mb, report
from newsqa.index.builder import IndexWriter
from newsqa.index.embedders import load_embedder
from newsqa.index.layout import IndexLayout
from newsqa.index.sources import read_sources
from newsqa.index.store import IndexSnapshot
from newsqa.index.upsert import EMBED_BATCH, passage_view


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sources", nargs="*", type=Path)
    parser.add_argument("--model", default="use-multilingual-v3")
    args = parser.parse_args()
    sources = args.sources or dev_sets()

    embedder = load_embedder(args.model)
    embedder.warm_up()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ix"
        started = time.perf_counter()
        result = IndexWriter(root, embedder).build(read_sources(sources))
        e2e_seconds = time.perf_counter() - started
        passages = result.passages_added
        snap = IndexSnapshot.open(root)
        views = []
        for article in snap.iter_articles():
            views += [passage_view(article.title, p.text) for p in snap.article_passages(article.id)]
        size = IndexLayout(root).size_bytes()

    started = time.perf_counter()
    for i in range(0, len(views), EMBED_BATCH):
        embedder.embed_passages(views[i : i + EMBED_BATCH])
    raw_seconds = time.perf_counter() - started

    e2e_rate = passages / e2e_seconds
    raw_rate = len(views) / raw_seconds
    report(
        "index_speed",
        [
            {
                "passages": passages,
                "articles": result.added,
                "e2e_passages_per_s": round(e2e_rate, 1),
                "raw_encode_per_s": round(raw_rate, 1),
                "e2e_share_of_raw": round(e2e_rate / raw_rate, 3),
                "overhead": round(1 - e2e_rate / raw_rate, 3),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "disk_bytes_per_passage": round(size / passages),
            }
        ],
        model=args.model,
        sources=[str(s) for s in sources],
    )


if __name__ == "__main__":
    main()
