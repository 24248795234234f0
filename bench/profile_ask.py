"""Profile the ask path with pyinstrument: where a question's milliseconds go.

    python -m bench.profile_ask [--index bench/data/index-100k] [--questions 200]

Loads the index once, warms up, then asks the dev sets' questions (shuffled,
as bench/scale.py does) under pyinstrument and prints the call tree of the
asks only, without load time. Also prints the mean time per stage (retrieval,
reading) as a JSON line, so a change to the hot path can be checked.
"""

import argparse
import time
from pathlib import Path

from bench.common import report
from bench.scale import DATA, questions


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index", type=Path, default=DATA / "index-100k")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--depth", type=int, default=14, help="Call-tree depth to print [14].")
    args = parser.parse_args()

    from pyinstrument import Profiler

    from newsqa.qa.answerer import READ_PASSAGES, Answerer

    answerer = Answerer.load(args.index)
    qs = questions(args.questions)
    for q in qs[:20]:
        answerer.ask(q)

    retrieve_ms, read_ms = [], []
    for q in qs:
        t0 = time.perf_counter()
        hits = answerer.retriever.search(q, max(5 * 3, READ_PASSAGES * 2))  # as Answerer.ask does
        t1 = time.perf_counter()
        answerer.reader.read(q, hits[:READ_PASSAGES])
        retrieve_ms.append((t1 - t0) * 1000)
        read_ms.append((time.perf_counter() - t1) * 1000)

    profiler = Profiler(interval=0.0005)
    profiler.start()
    for q in qs:
        answerer.ask(q)
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False, show_all=False, max_depth=args.depth))
    report(
        "profile_ask",
        [
            {
                "index": args.index.name,
                "passages": answerer.snapshot.manifest.passages,
                "questions": len(qs),
                "retrieve_ms_mean": round(sum(retrieve_ms) / len(qs), 2),
                "read_ms_mean": round(sum(read_ms) / len(qs), 2),
            }
        ],
    )


if __name__ == "__main__":
    main()
