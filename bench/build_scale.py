"""Build the scale benchmark's indexes (about 1k, 10k, 100k and 300k passages) and measure each write.

    python -m bench.build_scale [--sizes 1000 10000 100000 300000] [--model NAME] [--add-to 100000]
                                [--ops build add] [--out DIR] [--threads N]

Generates the synthetic corpus (bench/gen_corpus.py) once at the largest size;
each smaller corpus is a prefix of it. Each write runs in its own process, so
its peak RSS is that write's alone. At each size the index is built from
scratch, into OUT/index-<size> (OUT defaults to bench/data, where
bench/scale.py finds the indexes). With `--add-to S`, every larger size is
also written as the S index plus `index add` of the larger corpus (what was
already there is left alone, the rest is added), into OUT/index-<size>-add:
how a growing archive is kept. `--ops add` runs only those growths (and the
S build they start from, unless it is there already).

Printed per write: passages written, end-to-end rate beside the embedder's
own rate on the same passages, RSS once the model and the segmenter's
dictionaries are loaded (`rss_ready_mb`), the peak RSS of the whole write and
the highest RSS sampled in each of its phases (reading and embedding, SQLite,
vectors, postings, publishing), and bytes on disk per passage. With the
default embedder the 300k build takes over an hour on 2 cores (about 70
passages/s); with `--model hashing-test` (a character-hash embedder, 64
dimensions, or as many as `--dim` says) the same writes take minutes, which
shows how a write's memory grows with the corpus apart from the model: with
`--dim 512` its vectors and graph weigh what the default model's do.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import report
from bench.gen_corpus import generate
from newsqa.config import DEFAULT_MODEL

DATA = Path(__file__).resolve().parent / "data"
SIZES = (1_000, 10_000, 100_000, 300_000)


def label(size: int) -> str:
    return f"{size // 1000}k"


def prefix_corpus(big: Path, size: int) -> Path:
    """The first articles of the big corpus that make `size` passages."""
    from newsqa.index.chunking import PassageSplitter

    out = big.parent / f"corpus-{label(size)}.jsonl"
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


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PhaseMemory:
    """The highest RSS seen in each phase of a write, sampled every 0.1 s and told apart by the
    writer's stages: reading and embedding, SQLite, vectors, postings, publishing."""

    PHASES = {
        "locked": "ingest",
        "ingested": "sqlite",
        "db-committed": "vectors",
        "vectors-written": "bm25",
        "bm25-written": "publish",
    }

    def __init__(self) -> None:
        self.phase = "start"
        self._peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def stage(self, name: str) -> None:
        self._note()
        self.phase = self.PHASES.get(name, self.phase)
        self._note()

    def _note(self) -> None:
        self._peaks[self.phase] = max(self._peaks.get(self.phase, 0.0), rss_mb())

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self._note()

    def __enter__(self) -> "PhaseMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peaks(self) -> dict[str, float]:
        return {phase: round(mb, 1) for phase, mb in self._peaks.items()}


def write_one(
    size: int, corpus: Path, root: Path, op: str, model: str, threads: int, figures: Path, dim: int | None
) -> None:
    """Run in a child process: one build or add, its figures written as JSON."""
    import resource

    from newsqa.index.builder import IndexWriter
    from newsqa.index.embedders import HashingEmbedder, load_embedder
    from newsqa.index.layout import IndexLayout
    from newsqa.index.sources import read_sources
    from newsqa.index.text import terms

    embedder = load_embedder(model, threads=threads)
    if dim and isinstance(embedder, HashingEmbedder):
        embedder = HashingEmbedder(dim)
    embedder.warm_up()
    embedder.embed_passages(["预热"])
    terms("预热")  # the segmenter's and the converter's dictionaries load on first use
    rss_ready = rss_mb()
    phases = PhaseMemory()
    started = time.perf_counter()
    writer = IndexWriter(root, embedder, progress=sys.stderr.isatty(), on_stage=phases.stage)
    with phases:
        report = getattr(writer, op)(read_sources([corpus]))
    seconds = time.perf_counter() - started
    size_bytes = IndexLayout(root).size_bytes()
    record = {
        "size": label(size),
        "operation": op,
        "model": embedder.name,
        "dim": embedder.dim,
        "embedder_threads": threads,
        "passages_total": report.passages_total,
        "passages_written": report.passages_added,
        "seconds": round(seconds, 1),
        "e2e_passages_per_s": round(report.passages_added / seconds, 1),
        # The embedder's own time on exactly these passages, in the same batches.
        "raw_encode_per_s": round(report.passages_added / max(report.embed_seconds, 1e-9), 1),
        "e2e_share_of_raw": round(report.embed_seconds / seconds, 3),
        "rss_ready_mb": round(rss_ready, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "raw_vectors_mb": round(report.passages_total * embedder.dim * 4 / 2**20, 1),
        "peak_rss_by_phase_mb": phases.peaks(),
        "disk_bytes_per_passage": round(size_bytes / max(report.passages_total, 1)),
        "ann": json.loads((IndexLayout(root).current() / "ann.json").read_text())["kind"],
    }
    figures.write_text(json.dumps(record, indent=2))
    print(json.dumps(record), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--model", default=DEFAULT_MODEL, help="Embedder [default: %(default)s].")
    parser.add_argument(
        "--add-to", type=int, default=None, help="Also grow this size's index to each larger size."
    )
    parser.add_argument("--out", type=Path, default=DATA, help="Where corpora, indexes and figures go.")
    parser.add_argument("--threads", type=int, default=None, help="Embedder threads [default: one per core].")
    parser.add_argument(
        "--dim",
        type=int,
        default=None,
        help="With --model hashing-test: its dimensions (512, as the default model's).",
    )
    parser.add_argument(
        "--ops",
        nargs="+",
        choices=("build", "add"),
        default=("build", "add"),
        help="Which writes to run at the sizes: a fresh build, the `--add-to` growth, or both [default: both].",
    )
    parser.add_argument(
        "--one", nargs=5, metavar=("SIZE", "CORPUS", "ROOT", "OP", "FIGURES"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    threads = args.threads or os.cpu_count() or 1
    if args.one:
        size, corpus, root, op, figures = args.one
        write_one(int(size), Path(corpus), Path(root), op, args.model, threads, Path(figures), args.dim)
        return
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.model == DEFAULT_MODEL else f"-{args.model}" + (f"-{args.dim}" if args.dim else "")
    big = out / f"corpus-{label(max(args.sizes))}.jsonl"
    if not big.exists():
        generate(max(args.sizes), big)
    plan: list[tuple[int, str, Path]] = []
    for size in sorted(args.sizes):
        if "build" in args.ops or size == args.add_to:
            plan.append((size, "build", out / f"index-{label(size)}{suffix}"))
        if "add" in args.ops and args.add_to and size > args.add_to:
            plan.append((size, "add", out / f"index-{label(size)}{suffix}-add"))
    rows = []
    for size, op, root in plan:
        figures = out / f"{op}-{label(size)}{suffix}.json"
        if (root / "CURRENT").exists() and figures.exists():
            print(f"{root} exists; skipping (delete it to measure again)", file=sys.stderr)
            rows.append(json.loads(figures.read_text()))
            continue
        shutil.rmtree(root, ignore_errors=True)
        if op == "add":
            source = out / f"index-{label(args.add_to)}{suffix}"
            if not (source / "CURRENT").exists():
                sys.exit(f"--add-to {args.add_to}: build {source} first (include {args.add_to} in --sizes)")
            shutil.copytree(source, root)
        corpus = prefix_corpus(big, size)
        subprocess.run(
            [sys.executable, "-m", "bench.build_scale", "--model", args.model, "--threads", str(threads)]
            + (["--dim", str(args.dim)] if args.dim else [])
            + ["--one", str(size), str(corpus), str(root), op, str(figures)],
            check=True,
        )
        rows.append(json.loads(figures.read_text()))
    report("build_scale", rows)


if __name__ == "__main__":
    main()
