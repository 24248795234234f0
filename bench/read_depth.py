"""How many passages the span reader should read: open-domain figures for N = 1..8.

    python -m bench.read_depth [--weights bench/data/span-cmrc.npz] [--depths 1 2 3 4 5 6 8]

N is chosen without touching any test set: the weights file records which
files it was trained on and which of their articles were held out (by seed),
and only questions of those held-out articles are asked, over an index of the
training files (bench/data/dev-<model>-cmrc for CMRC, -drcd for DRCD). For
each N: EM, F1, abstention on the questions, abstention with the gold
article removed, and the reader's ms per question.
"""

import argparse
import random
from pathlib import Path

from bench.common import report
from bench.quality import SETS, index_for
from bench.readers import load_questions, run
from newsqa.config import Settings
from newsqa.index.sources import squad_articles
from newsqa.qa.answerer import Answerer
from newsqa.qa.readers.span.model import read_meta
from newsqa.qa.readers.span.reader import SpanReader
from testbed import SHARED_QA

DATA = Path(__file__).resolve().parent / "data"


def heldout_titles(files: list[Path], share: float, seed: int) -> set[str]:
    """The titles tools/train_reader.py held out (the same shuffle of the same article list)."""
    import json

    titles = []
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        titles += [title for title, _ in squad_articles(data)]
    order = list(range(len(titles)))
    random.Random(seed).shuffle(order)
    return {titles[i] for i in order[: int(round(len(order) * share))]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights", type=Path, default=DATA / "span-cmrc.npz")
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 8])
    parser.add_argument("--model", default="use-multilingual-v3")
    args = parser.parse_args()
    training = read_meta(args.weights)["training"]
    names = training["files"]
    key = next(k for k, (_, files, _) in SETS.items() if sorted(files) == sorted(names))
    files = [SHARED_QA / n for n in names]
    train_args = training["args"]
    held = heldout_titles(files, float(train_args["heldout"]), int(train_args["seed"]))
    questions = [q for q in load_questions(files) if q.title in held]
    root = index_for(key, files, args.model)
    answerer = Answerer.load(root, settings=Settings(index_dir=root, reader="features"))
    reader = SpanReader(answerer.snapshot.term_weights, args.weights)
    reader.warm_up()
    rows = []
    for depth in args.depths:
        fig = run(answerer, {"span": reader}, questions, read=depth)["span"]
        rows.append({"N": depth, **{k: v for k, v in fig.items() if not k.startswith("gold")}})
    report("read_depth", rows, weights=str(args.weights), trained_on=names, heldout_questions=len(questions))


if __name__ == "__main__":
    main()
