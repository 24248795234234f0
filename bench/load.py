"""Load on a real `newsqa serve`: concurrent clients asking over HTTP; latency percentiles,
throughput and errors.

    python -m bench.load [--index DIR] [--threads 8] [--per-thread 200]

Without --index it builds the bundled sample page into a temporary index first.
The server runs as `python -m newsqa serve` on a free port of 127.0.0.1 (one
process, as users run it). Each client thread cycles through the sample's eight
questions and some rewordings (Traditional Chinese, English, no question mark).
Goal: 0 errors.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from bench.common import report
from newsqa.resources import SAMPLE_PUBLISHED, SAMPLE_SOURCE, sample_dir
from testbed import SAMPLE_EXPECTED
from testbed.server import running_server

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

    with httpx.Client(base_url=url, timeout=60) as http:  # warm up: first requests pay lazy setup
        for question in asked[:threads]:
            http.post("/ask", json={"question": question})
    workers = [threading.Thread(target=client, args=(i * 3,)) for i in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - started
    lat = np.array(latencies) if latencies else np.zeros(1)
    return {
        "threads": threads,
        "requests": threads * per_thread,
        "errors": len(errors),
        "answered": answered,
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p95_ms": round(float(np.percentile(lat, 95)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
        "max_ms": round(float(lat.max()), 1),
        "server_p50_ms": round(float(np.percentile(server_ms, 50)), 1) if server_ms else None,
        "req_per_s": round(len(latencies) / seconds, 2),
        "seconds": round(seconds, 1),
        "first_errors": errors[:3],
    }


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
    args = parser.parse_args()

    asked = questions()
    with tempfile.TemporaryDirectory(prefix="newsqa-load-") as tmp:
        index_dir = args.index
        if index_dir is None:
            index_dir = Path(tmp) / "sample-index"
            build_sample(index_dir)
        with running_server(index_dir, Path(tmp) / "serve.log") as url:
            row = run_load(url, args.threads, args.per_thread, asked)
    first_errors = row.pop("first_errors")
    report(
        "load",
        [row],
        index=str(args.index or "bundled sample"),
        questions=len(asked),
        server="newsqa serve (one uvicorn process)",
        first_errors=first_errors,
    )


if __name__ == "__main__":
    main()
