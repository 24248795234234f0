"""Load on a real `newsqa serve`: concurrent clients asking over HTTP; latency percentiles,
throughput, errors, and the server's memory, for each server configuration in one run.

    python -m bench.load [--index DIR] [--threads 8] [--per-thread 200]
                         [--workers 1 2] [--baseline GIT_REF]

Without --index it builds the bundled sample page into a temporary index first.
Each configuration is a `python -m newsqa serve` on a free port of 127.0.0.1:
this checkout with each `--workers` count, and, with `--baseline REF` (e.g.
02e04e4, the code before the multi-worker server), that commit exported to a
temporary directory and served the way it served (one process). Each client
thread cycles through the sample's eight questions and some rewordings
(Traditional Chinese, English, no question mark) on one keep-alive connection.
Goal (issue 14): 8 clients x 200 questions, 0 errors, >= 60 req/s, p95 <= 200 ms.

All servers start first; then the load runs in --rounds rounds in which the
servers take turns (8 clients x per-thread/rounds questions each), so that on
a shared machine a change in the background load falls on every server alike.

CPU: the server's CPU seconds (all its processes) per request. Latency and
throughput on a shared machine measure the machine; CPU per request measures
the server: on 2 free cores, N >= 2 workers can serve at most about
2000 / cpu_ms_per_req requests per second.

Memory: RSS of every process of the server (supervisor and workers) summed,
and PSS (proportional set size: shared pages, e.g. the memory-mapped index
and the libraries, counted once across the processes), after the load.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from bench.common import report
from newsqa.resources import SAMPLE_PUBLISHED, SAMPLE_SOURCE, sample_dir
from testbed import REPO, SAMPLE_EXPECTED
from testbed.server import running_server, server_processes

VARIATIONS = [
    "柳州的市委书记叫什么名字",
    "柳州市委書記是誰？",
    "上半年柳州GDP多少？",
    "螺蛳粉产业上半年卖了多少钱？",
    "征兵宣传专线是哪一路公交车？",
    "How many teams took part in the Liuzhou civility contest final?",
    "充电基础设施条例什么时候施行",
    "商会调解活动开了多长时间？",
]


def questions() -> list[str]:
    expected = json.loads(SAMPLE_EXPECTED.read_text(encoding="utf-8"))
    return [q["question"] for q in expected["questions"]] + expected["unanswerable"] + VARIATIONS


def build_sample(index_dir: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "newsqa",
            "index",
            "build",
            str(sample_dir()),
            "--index",
            str(index_dir),
            "--source",
            SAMPLE_SOURCE,
            "--published",
            SAMPLE_PUBLISHED,
        ],
        check=True,
        capture_output=True,
    )


def export(ref: str, target: Path) -> Path:
    """The tree of commit `ref` of this repository, written under `target`."""
    archive = target / "baseline.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(archive), ref], check=True)
    tree = target / "baseline"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="tar")
    return tree


def run_load(url: str, threads: int, per_thread: int, asked: list[str]) -> dict:
    latencies: list[float] = []
    server_ms: list[float] = []
    errors: list[str] = []
    answered = 0
    lock = threading.Lock()

    def client(offset: int) -> None:
        nonlocal answered
        mine, took, failed, hits = [], [], [], 0
        with httpx.Client(base_url=url, timeout=60) as http:
            for i in range(per_thread):
                question = asked[(offset + i) % len(asked)]
                started = time.perf_counter()
                try:
                    response = http.post("/ask", json={"question": question})
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        failed.append(f"{response.status_code} {response.text[:120]}")
                        continue
                    data = response.json()
                except (httpx.HTTPError, ValueError) as exc:
                    failed.append(repr(exc))
                    continue
                mine.append(elapsed)
                took.append(data["took_ms"])
                hits += data["answer"] is not None
        with lock:
            latencies.extend(mine)
            server_ms.extend(took)
            errors.extend(failed)
            answered += hits

    workers = [threading.Thread(target=client, args=(i * 3,)) for i in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - started
    return {
        "latencies": latencies,
        "server_ms": server_ms,
        "errors": errors,
        "answered": answered,
        "seconds": seconds,
    }


def warm_up(url: str, asked: list[str]) -> None:
    """First requests pay lazy setup (each worker's): a few rounds of every question."""
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(3):
            for question in asked:
                http.post("/ask", json={"question": question})


def cpu_seconds(url: str) -> float:
    """CPU time (user + system) the server's processes have used so far."""
    import psutil

    total = 0.0
    for pid in server_processes(url):
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system + times.children_user + times.children_system
    return total


def combine(parts: list[dict]) -> dict:
    """One row of figures from the rounds of one server."""
    latencies = [x for p in parts for x in p["latencies"]]
    server_ms = [x for p in parts for x in p["server_ms"]]
    errors = [x for p in parts for x in p["errors"]]
    seconds = sum(p["seconds"] for p in parts)
    lat = np.array(latencies) if latencies else np.zeros(1)
    return {
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "answered": sum(p["answered"] for p in parts),
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p95_ms": round(float(np.percentile(lat, 95)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
        "max_ms": round(float(lat.max()), 1),
        "server_p50_ms": round(float(np.percentile(server_ms, 50)), 1) if server_ms else None,
        "req_per_s": round(len(latencies) / seconds, 2),
        # CPU the server spent per request: unlike latency, it hardly depends on what else runs.
        "cpu_ms_per_req": round(1000 * sum(p["cpu_s"] for p in parts) / max(len(latencies), 1), 1),
        "first_errors": errors[:3],
    }


def memory(url: str) -> dict:
    """RSS and PSS of every process of the server, in MB."""
    import psutil

    rss = pss = 0
    pids = server_processes(url)
    for pid in pids:
        info = psutil.Process(pid).memory_full_info()
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return {"processes": len(pids), "rss_mb": round(rss / 2**20), "pss_mb": round(pss / 2**20)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--index",
        type=Path,
        default=None,
        help="Serve this index [default: the sample, built into a temp dir].",
    )
    parser.add_argument("--threads", type=int, default=8, help="Concurrent client threads [8].")
    parser.add_argument("--per-thread", type=int, default=200, help="Questions each thread asks [200].")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="Worker counts to serve with [1 2]."
    )
    parser.add_argument(
        "--baseline", default=None, help="Also serve this git commit (e.g. 02e04e4) the way it served."
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="Rounds the servers take turns in [4]; each is per-thread/rounds.",
    )
    args = parser.parse_args()

    asked = questions()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="newsqa-load-") as tmp, contextlib.ExitStack() as servers:
        index_dir = args.index
        if index_dir is None:
            index_dir = Path(tmp) / "sample-index"
            build_sample(index_dir)
        configs: list[tuple[str, list[str], Path | None]] = []
        if args.baseline:
            configs.append((f"{args.baseline} (1 process)", [], export(args.baseline, Path(tmp))))
        configs += [(f"this, {n} worker(s)", ["--workers", str(n)], None) for n in args.workers]
        # Every server up at once (idle, they cost memory only), then the load in rounds that
        # take turns: on a shared machine, a change in the background load hits every server alike.
        urls = [
            servers.enter_context(
                running_server(index_dir, Path(tmp) / f"serve-{i}.log", args=extra, cwd=cwd)
            )
            for i, (_, extra, cwd) in enumerate(configs)
        ]
        for url in urls:
            warm_up(url, asked)
        results: list[list[dict]] = [[] for _ in configs]
        per_round = max(1, args.per_thread // args.rounds)
        for r in range(args.rounds):
            order = list(range(len(configs)))
            order = order[r % len(order) :] + order[: r % len(order)]
            for i in order:
                before = cpu_seconds(urls[i])
                part = run_load(urls[i], args.threads, per_round, asked)
                part["cpu_s"] = cpu_seconds(urls[i]) - before
                results[i].append(part)
        rows = [
            {"server": name, **combine(parts), **memory(url)}
            for (name, _, _), parts, url in zip(configs, results, urls, strict=True)
        ]
    first_errors = {row["server"]: row.pop("first_errors") for row in rows}
    report(
        "load",
        rows,
        index=str(args.index or "bundled sample"),
        questions=len(asked),
        clients=args.threads,
        per_client=args.per_thread,
        rounds=args.rounds,
        load_average_before=round(load_before, 2),
        load_average_after=round(os.getloadavg()[0], 2),
        first_errors=first_errors,
    )


if __name__ == "__main__":
    main()
