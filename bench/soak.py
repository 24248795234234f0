"""Soak: 8 clients ask without pause for 10 minutes while the index is added to twice and rebuilt.

    python -m bench.soak [--seconds 600] [--clients 8] [--warmup 60] [--model NAME]

A real `newsqa serve` (watching its index) answers the shared dev sets'
questions from 8 client threads. After the warm-up, `newsqa index add` runs
twice (each a fifth of the dev sets' articles) and then `newsqa index build`
of all of them, one after the other, each a real process. Printed: requests,
errors (goal 0), latency p50/p99/max overall and during the swaps (requests
overlapping [publish - 1 s, server switched + 1 s]), each write's time and how
long the server took to switch, and the server's RSS: median of the first and
last quarter after the warm-up, and the least-squares slope (MB/min) after the
warm-up and after the last swap (goal: no upward trend). The index starts
with the other three fifths of the articles, built before the clock starts.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import dev_sets, report
from newsqa.config import DEFAULT_MODEL
from newsqa.index.sources import read_sources
from newsqa.index.types import Article
from newsqa.qa.evaluate import load_squad
from testbed.soak import soak


def write_jsonl(path: Path, articles: list[Article]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for a in articles:
            fh.write(json.dumps(a.to_dict(), ensure_ascii=False) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=60)
    parser.add_argument("--gap", type=float, default=20, help="Seconds between two writes.")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    sets = dev_sets()
    articles = [a for a in read_sources(sets) if isinstance(a, Article)]
    questions = [q.question for path in sets for q in load_squad(path)[0]]
    n = len(articles)
    with tempfile.TemporaryDirectory(prefix="newsqa-soak-") as tmp:
        work = Path(tmp)
        base = write_jsonl(work / "base.jsonl", articles[: n * 3 // 5])
        add1 = write_jsonl(work / "add1.jsonl", articles[n * 3 // 5 : n * 4 // 5])
        add2 = write_jsonl(work / "add2.jsonl", articles[n * 4 // 5 :])
        everything = write_jsonl(work / "all.jsonl", articles)
        root = work / "index"
        env = {"NEWSQA_MODEL": args.model}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "newsqa",
                "index",
                "build",
                str(base),
                "--index",
                str(root),
                "--model",
                args.model,
            ],
            check=True,
            capture_output=True,
        )
        result = soak(
            root,
            [["add", str(add1)], ["add", str(add2)], ["build", str(everything)]],
            questions,
            work,
            clients=args.clients,
            seconds=args.seconds,
            warmup=args.warmup,
            gap=args.gap,
            env=env,
            progress=lambda line: print(f"# {line}", flush=True),
        )
        shutil.copy(work / "soak-server.log", Path(tempfile.gettempdir()) / "newsqa-soak-server.log")
    figures = result.figures()
    writes = figures.pop("writes")
    report(
        "soak",
        [
            {"command": w["command"], "exit": w["returncode"], "seconds": w["seconds"], "swap_s": w["swap_s"]}
            for w in writes
        ],
        model=args.model,
        articles=n,
        **figures,
        error_samples=result.error_samples,
        rss_samples=[[round(t, 1), round(mb, 1)] for t, mb in result.rss],
    )
    print()
    for key, value in figures.items():
        print(f"{key:<28} {value}")


if __name__ == "__main__":
    main()
