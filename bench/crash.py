"""Crash safety: real `newsqa index build/add/remove` processes killed with SIGKILL, many times.

    python -m bench.crash [--runs 60] [--real-runs 4] [--budget-s 1200] [--seed 1]

Each run copies a prepared index, starts one real command and kills it with
SIGKILL, at a random named stage of the writer (three runs in five) or after a
random delay; then the index must open, `newsqa index check` (its own process)
must pass, the article set must be the one before or after the command, and
the same command run again must complete (testbed/crash.py says exactly what
is checked). The corpus is real news text: the bundled sample page, the test
fixtures' pages and, when `../shared/data/qa` is here, the DRCD dev set's
articles. `--runs` use the hashing embedder (fast; meaning does not matter
here), `--real-runs` the default embedder on a smaller part of the corpus.
Prints one line per run, then the figures.
"""

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import report
from newsqa.index.embedders import HASHING_MODEL
from newsqa.index.sources import read_sources
from newsqa.index.types import Article
from newsqa.resources import sample_dir
from testbed import REPO, shared_qa_file
from testbed.crash import OPS, Corpus, calibrate, kill_run, make_corpus, random_plan


def real_articles() -> list[Article]:
    paths = [*sorted(sample_dir().glob("*.txt")), *sorted((REPO / "tests" / "fixtures").glob("*.txt"))]
    drcd = shared_qa_file("DRCD_dev.json")
    if drcd.is_file():
        paths.append(drcd)
    seen: set[str] = set()
    out = []
    for item in read_sources(paths):
        if isinstance(item, Article) and item.id not in seen:
            seen.add(item.id)
            out.append(item)
    return out


def prepare(work: Path, articles: list[Article], env: dict[str, str]) -> tuple[Path, Corpus]:
    corpus = make_corpus(articles, work / "corpus")
    template = work / "template"
    subprocess.run(
        [sys.executable, "-m", "newsqa", "index", "build", str(corpus.base), "--index", str(template)],
        env={**__import__("os").environ, **env},
        check=True,
        capture_output=True,
    )
    return template, corpus


def series(
    work: Path, articles: list[Article], env: dict[str, str], runs: int, rng: random.Random, until: float
) -> list:
    template, corpus = prepare(work, articles, env)
    durations = {op: calibrate(template, corpus, op, env, work) for op in ("build", "add", "remove")}
    print(
        f"# {env.get('NEWSQA_MODEL', 'default embedder')}: {len(articles)} articles; "
        + ", ".join(f"{op} locks at {a:.2f}s, ends at {b:.2f}s" for op, (a, b) in durations.items()),
        flush=True,
    )
    batches = max(1, sum(1 for _ in open(corpus.rebuild, encoding="utf-8")) * 5 // 256)
    done = []
    for i in range(runs):
        if time.monotonic() > until:
            print(f"# time budget spent after {i} runs", flush=True)
            break
        op = OPS[i % len(OPS)]  # each command as often; where it is killed is random
        stage, delay = random_plan(rng, op, durations, batches)
        run = kill_run(work, template, corpus, op, env=env, stage=stage, delay=delay, label=f"run-{i}")
        done.append(run)
        status = "FAIL " + " | ".join(run.problems) if run.failed else "ok"
        print(
            f"{len(done):3d} {run.embedder:<20} {op:<7} {run.how:<28} killed={run.killed!s:<5} "
            f"state={run.state:<6} check={run.check_ok!s:<5} rerun={run.rerun_ok!s:<5} {run.seconds:5.1f}s {status}",
            flush=True,
        )
    return done


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=60, help="Runs with the hashing embedder.")
    parser.add_argument("--real-runs", type=int, default=4, help="Runs with the default embedder.")
    parser.add_argument("--articles", type=int, default=240, help="Articles in the hashing runs' corpus.")
    parser.add_argument("--real-articles", type=int, default=40, help="Articles in the real runs' corpus.")
    parser.add_argument("--budget-s", type=float, default=1800, help="Stop starting runs after this long.")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    articles = real_articles()
    started = time.monotonic()
    until = started + args.budget_s
    runs = []
    with tempfile.TemporaryDirectory(prefix="newsqa-crash-") as tmp:
        work = Path(tmp)
        hashing = work / "hashing"
        hashing.mkdir()
        runs += series(
            hashing, articles[: args.articles], {"NEWSQA_MODEL": HASHING_MODEL}, args.runs, rng, until
        )
        if args.real_runs:
            real = work / "real"
            real.mkdir()
            runs += series(real, articles[: args.real_articles], {}, args.real_runs, rng, until + 600)
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for (embedder, op), group in sorted(
        {
            (r.embedder, r.op): [x for x in runs if (x.embedder, x.op) == (r.embedder, r.op)] for r in runs
        }.items()
    ):
        states = Counter(r.state for r in group)
        rows.append(
            {
                "embedder": embedder,
                "op": op,
                "runs": len(group),
                "stage_kills": sum(r.how.startswith("stage") for r in group),
                "timed_kills": sum(r.how.startswith("time") for r in group),
                "killed": sum(r.killed for r in group),
                "state_before": states["before"],
                "state_after": states["after"],
                "failures": sum(r.failed for r in group),
            }
        )
    report(
        "crash",
        rows,
        runs=len(runs),
        failures=sum(r.failed for r in runs),
        seconds=round(time.monotonic() - started, 1),
        failed_runs=[r.to_dict() for r in runs if r.failed],
    )


if __name__ == "__main__":
    main()
