"""Answer quality of the readers side by side, on data the span reader never trained on.

    python -m bench.quality [--limit N] [--read N] [--model NAME] [--sets drcd cmrc]
        [--span-cmrc PATH] [--span-drcd PATH] [--span-shipped PATH]

Each test set is indexed whole (all its contexts; cached under
bench/data/dev-<model>-<set>) and every question is asked of it (see
bench/readers.py for the figures). Rows:
1. DRCD dev: baseline, feature reader, and the span reader trained on CMRC 2018
   trial + dev only (--span-cmrc, default bench/data/span-cmrc.npz);
2. CMRC 2018 trial + dev: the same, with the span reader trained on DRCD dev
   only (--span-drcd, default bench/data/span-drcd.npz);
3. the shipped span reader (trained on all three files) on both sets: in-sample.
The feature reader's weights were learned on DRCD dev (tools/learn_reader.py),
so its DRCD rows are in-sample and its CMRC rows are not.

With --features-cmrc (default bench/data/features-cmrc.json, when it is there)
the DRCD rows also hold the feature reader learned on CMRC only, so that both
readers are compared on a set neither saw.

The cross-trained weights are not shipped; make them with
    python -m tools.train_reader --train cmrc2018_trial.json cmrc2018_dev.json --out bench/data/span-cmrc.npz
    python -m tools.train_reader --train DRCD_dev.json --out bench/data/span-drcd.npz
    python -m tools.learn_reader --train ../shared/data/qa/cmrc2018_trial.json \
        ../shared/data/qa/cmrc2018_dev.json --heldout --out bench/data/features-cmrc.json
"""

import argparse
import re
import sys
from pathlib import Path

from bench.common import report
from bench.readers import load_questions, run
from newsqa.config import Settings
from newsqa.index.builder import IndexWriter
from newsqa.index.embedders import load_embedder
from newsqa.index.layout import IndexLayout
from newsqa.index.sources import read_sources
from newsqa.qa.answerer import READ_PASSAGES, Answerer
from newsqa.qa.evaluate import BestSentenceReader
from newsqa.qa.readers.features.model import ReaderWeights
from newsqa.qa.readers.features.reader import FeatureReader
from newsqa.qa.readers.span.reader import SpanReader, default_weights
from newsqa.qa.types import Reader
from testbed import SHARED_QA

DATA = Path(__file__).resolve().parent / "data"
SETS = {
    "drcd": ("DRCD dev", ["DRCD_dev.json"], "span-cmrc"),
    "cmrc": ("CMRC 2018 trial+dev", ["cmrc2018_trial.json", "cmrc2018_dev.json"], "span-drcd"),
}


def index_for(name: str, files: list[Path], model: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(model).name)
    root = DATA / f"dev-{slug}-{name}"
    if not IndexLayout(root).exists():
        IndexWriter(root, load_embedder(model)).build(read_sources(files))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=None, help="first N questions of each set")
    parser.add_argument("--read", type=int, default=READ_PASSAGES, help="passages each reader reads")
    parser.add_argument("--model", default="use-multilingual-v3")
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=["drcd", "cmrc"])
    parser.add_argument("--span-cmrc", type=Path, default=DATA / "span-cmrc.npz")
    parser.add_argument("--span-drcd", type=Path, default=DATA / "span-drcd.npz")
    parser.add_argument("--span-shipped", type=Path, default=default_weights())
    parser.add_argument(
        "--features-cmrc",
        type=Path,
        default=DATA / "features-cmrc.json",
        help="feature reader weights learned on CMRC only, for a DRCD row that is unseen for it too",
    )
    parser.add_argument("--no-shipped", action="store_true", help="skip the in-sample rows")
    args = parser.parse_args()
    if not SHARED_QA.is_dir():
        sys.exit(f"bench: {SHARED_QA} is not here; the dev sets live in ../shared/data/qa")
    cross = {"span-cmrc": args.span_cmrc, "span-drcd": args.span_drcd}
    rows = []
    for key in args.sets:
        label, names, trained = SETS[key]
        files = [SHARED_QA / n for n in names]
        root = index_for(key, files, args.model)
        answerer = Answerer.load(root, settings=Settings(index_dir=root, reader="features"))
        questions = load_questions(files)[: args.limit]
        readers: dict[str, Reader] = {"baseline": BestSentenceReader(), "features": answerer.reader}
        names_of = {"baseline": "baseline (BM25 + best sentence)", "features": "features"}
        if key == "drcd":
            names_of["features"] = "features (in-sample)"
            if args.features_cmrc.is_file():
                readers["features-cmrc"] = FeatureReader(
                    ReaderWeights.load(args.features_cmrc), term_weight=answerer.snapshot.term_weights
                )
                names_of["features-cmrc"] = "features, learned on CMRC only"
        if cross[trained].is_file():
            readers["span"] = SpanReader(answerer.snapshot.term_weights, cross[trained])
            names_of["span"] = f"span, trained on {'CMRC' if trained == 'span-cmrc' else 'DRCD'} only"
        else:
            print(
                f"bench: {cross[trained]} is missing: see `python -m bench.quality --help`", file=sys.stderr
            )
        if not args.no_shipped:
            readers["shipped"] = SpanReader(answerer.snapshot.term_weights, args.span_shipped)
            names_of["shipped"] = "span, shipped (in-sample)"
        for reader in readers.values():
            reader.warm_up()
        figures = run(answerer, readers, questions, read=args.read, progress=_progress(len(questions)))
        for name, fig in figures.items():
            rows.append({"set": label, "system": names_of[name], **fig})
    report("quality", rows, model=args.model, read=args.read)


def _progress(total: int):
    def show(done: int) -> None:
        if done % 200 == 0 or done == total:
            print(f"  {done}/{total}", file=sys.stderr)

    return show


if __name__ == "__main__":
    main()
