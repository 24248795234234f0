"""Build the scale benchmark's indexes: about 1k, 10k, 100k and 300k passages.

    python -m bench.build_scale [--sizes 1000 10000 100000 300000]

Generates the synthetic corpus (bench/gen_corpus.py) once at the largest size;
each smaller corpus is a prefix of it. Each index is built in its own process
(so peak RSS is that build's), into bench/data/index-<size>; the 300k index is
the 100k one plus `index add` of the rest, which is how a growing archive is
kept. Build figures go to bench/data/build-<size>.json for bench/scale.py.
Takes over an hour on 2 cores: the embedder runs at about 70 passages/s.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.gen_corpus import generate

DATA = Path(__file__).resolve().parent / "data"
SIZES = (1_000, 10_000, 100_000, 300_000)


def label(size: int) -> str:
    return f"{size // 1000}k"


def prefix_corpus(big: Path, size: int) -> Path:
    """The first articles of the big corpus that make `size` passages."""
    from newsqa.index.chunking import PassageSplitter

    out = DATA / f"corpus-{label(size)}.jsonl"
    if out.exists():
        return out
    splitter = PassageSplitter()
    made = 0
    with open(big, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for line in src:
            if made >= size:
                break
            dst.write(line)
            made += len(splitter.spans(json.loads(line)["text"]))
    return out


def build_one(size: int, corpus: Path, root: Path, op: str, threads: int) -> None:
    """Run in a child process: one build or add, figures written as JSON."""
    import resource

    from newsqa.index.builder import IndexWriter
    from newsqa.index.embedders import USEEmbedder
    from newsqa.index.layout import IndexLayout
    from newsqa.index.sources import read_sources

    embedder = USEEmbedder(threads=threads)
    embedder.warm_up()
    started = time.perf_counter()
    report = getattr(IndexWriter(root, embedder, progress=True), op)(read_sources([corpus]))
    seconds = time.perf_counter() - started
    size_bytes = IndexLayout(root).size_bytes()
    figures = {
        "size": size,
        "operation": op,
        "embedder_threads": threads,
        "passages_total": report.passages_total,
        "passages_written": report.passages_added,
        "seconds": round(seconds, 1),
        "e2e_passages_per_s": round(report.passages_added / seconds, 1),
        # The embedder's own time on exactly these passages, in the same batches.
        "raw_encode_per_s": round(report.passages_added / max(report.embed_seconds, 1e-9), 1),
        "e2e_share_of_raw": round(report.embed_seconds / seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "disk_bytes_per_passage": round(size_bytes / max(report.passages_total, 1)),
        "ann": json.loads((IndexLayout(root).current() / "ann.json").read_text()),
    }
    (DATA / f"build-{label(size)}.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--threads", type=int, default=None, help="Embedder threads [default: one per core].")
    parser.add_argument("--one", nargs=4, metavar=("SIZE", "CORPUS", "ROOT", "OP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        size, corpus, root, op = args.one
        build_one(int(size), Path(corpus), Path(root), op, args.threads or os.cpu_count() or 1)
        return
    DATA.mkdir(parents=True, exist_ok=True)
    big = DATA / f"corpus-{label(max(args.sizes))}.jsonl"
    if not big.exists():
        generate(max(args.sizes), big)
    for size in sorted(args.sizes):
        root = DATA / f"index-{label(size)}"
        if (root / "CURRENT").exists():
            print(f"{root} exists; skipping", file=sys.stderr)
            continue
        corpus = prefix_corpus(big, size)
        op = "build"
        smaller = [
            s for s in sorted(args.sizes) if s < size and (DATA / f"index-{label(s)}" / "CURRENT").exists()
        ]
        if size >= 300_000 and smaller:
            # Grow the largest smaller index, as an archive grows.
            shutil.copytree(DATA / f"index-{label(smaller[-1])}", root)
            op = "add"
        subprocess.run(
            [sys.executable, "-m", "bench.build_scale", "--one", str(size), str(corpus), str(root), op]
            + (["--threads", str(args.threads)] if args.threads else []),
            check=True,
        )


if __name__ == "__main__":
    main()
