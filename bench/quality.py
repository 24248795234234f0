"""Answer quality on the shared dev sets, open-domain, newsqa beside the baseline in the same run.

    python -m bench.quality [--limit N] [--reader features|hf:PATH] [--model NAME]

Indexes all contexts of each dev set (cached under bench/data/dev-<model>-<set>),
asks every question against its whole index, and prints hit@1, hit@5, EM, F1,
answered and abstained rates and ask latency (p50, p95) for newsqa and for the
BM25 + best-overlap-sentence baseline. The same as `newsqa eval FILE --json`.
"""

import argparse
import re
from dataclasses import asdict
from pathlib import Path

from bench.common import dev_sets, report
from newsqa.config import Settings
from newsqa.index.builder import IndexWriter
from newsqa.index.embedders import load_embedder
from newsqa.index.layout import IndexLayout
from newsqa.index.sources import read_sources
from newsqa.qa.answerer import Answerer
from newsqa.qa.evaluate import evaluate, load_squad

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--reader", default="features")
    parser.add_argument("--model", default="use-multilingual-v3")
    args = parser.parse_args()
    rows = []
    by_type = {}
    for path in dev_sets():
        slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(args.model).name)
        root = DATA / f"dev-{slug}-{path.stem}"
        if not IndexLayout(root).exists():
            IndexWriter(root, load_embedder(args.model)).build(read_sources([path]))
        answerer = Answerer.load(root, settings=Settings(index_dir=root, reader=args.reader))
        questions, _ = load_squad(path)
        if args.limit:
            questions = questions[: args.limit]
        results = evaluate(answerer, questions)
        for system, fig in results.items():
            figures = asdict(fig)
            by_type[f"{path.stem}/{system}"] = figures.pop("by_type")
            rows.append({"set": path.stem, "system": system, **figures})
    report("quality", rows, model=args.model, reader=args.reader, by_type=by_type)


if __name__ == "__main__":
    main()
