"""A soak: a real `newsqa serve` answering clients without pause while the index is rewritten under it.

`soak()` starts the server on an index, runs `clients` threads that ask one
question after another for `seconds`, and meanwhile runs the given writes
(`newsqa index add/build` processes, one after the other, the first once the
warm-up is over; every write runs, and the clients keep asking until the
server has switched to the last one). It records every request (start, end,
status), each write's publish time (when CURRENT moved) and when the server
switched to it (every worker seen), and the RSS of the server's processes
together (supervisor and workers) every second. Shared by `bench/soak.py`
and the short soak in the tests.
"""

import contextlib
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import psutil

from newsqa.index.layout import IndexLayout
from testbed.server import running_server


@dataclass
class Write:
    argv: list[str]  # after `newsqa index`, e.g. ["add", "more.jsonl"]
    started: float = 0.0
    ended: float = 0.0
    returncode: int | None = None
    published: float | None = None  # when CURRENT moved to its generation
    switched: float | None = None  # when the server answered from it
    generation: str | None = None


@dataclass
class SoakResult:
    seconds: float
    clients: int
    requests: int
    errors: int
    error_samples: list[str]
    p50_ms: float
    p99_ms: float
    max_ms: float
    swap_requests: int
    swap_p99_ms: float
    swap_max_ms: float
    writes: list[Write]
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MB)
    rss_slope_mb_per_min: float = 0.0  # after the warm-up
    rss_steady_slope_mb_per_min: float | None = None  # after the last swap
    rss_first_mb: float = 0.0  # median of the first quarter after the warm-up
    rss_last_mb: float = 0.0  # median of the last quarter

    def figures(self) -> dict:
        return {
            "seconds": round(self.seconds, 1),
            "clients": self.clients,
            "requests": self.requests,
            "errors": self.errors,
            "p50_ms": round(self.p50_ms, 1),
            "p99_ms": round(self.p99_ms, 1),
            "max_ms": round(self.max_ms, 1),
            "swap_requests": self.swap_requests,
            "swap_p99_ms": round(self.swap_p99_ms, 1),
            "swap_max_ms": round(self.swap_max_ms, 1),
            "rss_first_quarter_mb": round(self.rss_first_mb, 1),
            "rss_last_quarter_mb": round(self.rss_last_mb, 1),
            "rss_slope_mb_per_min": round(self.rss_slope_mb_per_min, 2),
            "rss_steady_slope_mb_per_min": (
                None
                if self.rss_steady_slope_mb_per_min is None
                else round(self.rss_steady_slope_mb_per_min, 2)
            ),
            "writes": [
                {
                    "command": " ".join(w.argv[:1]),
                    "returncode": w.returncode,
                    "seconds": round(w.ended - w.started, 1),
                    "swap_s": None
                    if w.published is None or w.switched is None
                    else round(w.switched - w.published, 2),
                }
                for w in self.writes
            ],
        }


SWAP_MARGIN_S = 1.0
"""A request counts as "during the swap" when it overlaps [publish - margin, switch + margin]."""
SWITCH_WAIT_S = 120.0
"""How long the soak waits, after the last write, for the server to switch to its generation."""


def soak(
    index_dir: Path,
    writes: list[list[str]],
    questions: list[str],
    work: Path,
    *,
    clients: int = 8,
    seconds: float = 600,
    warmup: float = 60,
    gap: float = 10,
    env: dict[str, str] | None = None,
    progress: Callable[[str], object] | None = None,
) -> SoakResult:
    """Serve `index_dir` to `clients` askers for `seconds` while running `writes` (each `newsqa index ...`)."""
    import httpx

    env = {**(env or {}), "NEWSQA_WATCH_INDEX": "true"}
    layout = IndexLayout(index_dir)
    records: list[tuple[float, float, int | str]] = []
    lock = threading.Lock()
    stop = threading.Event()
    jobs = [Write(argv) for argv in writes]
    rss: list[tuple[float, float]] = []
    with running_server(index_dir, work / "soak-server.log", env=env) as url:
        server = _serve_process(url)
        t0 = time.monotonic()

        def ask(seed: int) -> None:
            rng = random.Random(seed)
            with httpx.Client(timeout=60) as http:
                while not stop.is_set():
                    question = rng.choice(questions)
                    started = time.monotonic()
                    try:
                        status: int | str = http.post(f"{url}/ask", json={"question": question}).status_code
                    except httpx.HTTPError as exc:
                        status = f"{type(exc).__name__}: {exc}"
                    with lock:
                        records.append((started - t0, time.monotonic() - t0, status))

        def watch() -> None:
            last_rss = 0.0
            serving: dict[int, str | None] = {}  # worker pid -> the generation it answered from last
            with httpx.Client(timeout=10) as http:
                while not stop.is_set():
                    now = time.monotonic() - t0
                    pointer = layout.pointer()
                    for job in jobs:
                        if job.generation is None and job.started and pointer not in (None, *known):
                            job.generation, job.published = pointer, now
                            known.add(pointer)
                    try:
                        health = http.get(f"{url}/healthz").json()
                        serving[int(health.get("worker", 0))] = health.get("generation")
                    except (httpx.HTTPError, ValueError, TypeError):
                        pass
                    for i, job in enumerate(jobs):
                        # Switched: every worker seen so far answers from this write's generation
                        # or a later one (a worker may go straight to the next write's).
                        if job.generation is None or job.switched is not None or not serving:
                            continue
                        newer = {later.generation for later in jobs[i:] if later.generation is not None}
                        if all(g in newer for g in serving.values()):
                            job.switched = now
                    if now - last_rss >= 1.0:
                        rss.append((now, _tree_rss_mb(server)))
                        last_rss = now
                    time.sleep(0.05)

        def write() -> None:
            if stop.wait(warmup):
                return
            for job in jobs:
                job.started = time.monotonic() - t0
                with open(work / "soak-writes.log", "ab") as log:
                    done = subprocess.run(
                        [sys.executable, "-m", "newsqa", "index", *job.argv, "--index", str(index_dir)],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, **(env or {})},
                    )
                job.ended, job.returncode = time.monotonic() - t0, done.returncode
                if progress:
                    progress(f"{time.monotonic() - t0:6.1f}s: index {job.argv[0]} exited {done.returncode}")
                if stop.wait(gap):
                    return

        known: set[str | None] = {layout.pointer()}
        threads = [threading.Thread(target=ask, args=(i,), daemon=True) for i in range(clients)]
        writer = threading.Thread(target=write, daemon=True)
        threads += [threading.Thread(target=watch, daemon=True), writer]
        for thread in threads:
            thread.start()
        said = 0.0
        while time.monotonic() - t0 < seconds:
            time.sleep(0.5)
            if progress and time.monotonic() - t0 - said >= 60:
                said = time.monotonic() - t0
                progress(f"{said:6.1f}s: {len(records)} requests")
        # Every write runs to its end, also those still to come when the time is up (the server
        # keeps serving); bounded by the writes themselves.
        while writer.is_alive() and any(job.returncode is None for job in jobs):
            time.sleep(0.5)
        # Then the server switches to the last generation (loading it takes a while on a busy
        # machine, in each worker): wait for that, bounded, and a margin after it.
        deadline = time.monotonic() + SWITCH_WAIT_S
        while time.monotonic() < deadline and any(
            job.published is not None and job.switched is None for job in jobs
        ):
            time.sleep(0.2)
        time.sleep(2 * SWAP_MARGIN_S + 1)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        elapsed = time.monotonic() - t0
    return _result(records, jobs, rss, clients, elapsed, warmup)


def _serve_process(url: str) -> "psutil.Process":
    """The `newsqa serve` process started for `url` (the supervisor of its workers, if any)."""
    import psutil

    port = url.rsplit(":", 1)[1]
    for proc in psutil.process_iter(["cmdline"]):
        argv = proc.info["cmdline"] or []
        if "newsqa" in argv and "serve" in argv and port in argv:
            return proc
    raise RuntimeError(f"no `newsqa serve` process for {url}")


def _tree_rss_mb(top: "psutil.Process") -> float:
    """RSS of `top` and all its children, in MB (a process that ends meanwhile counts nothing)."""
    import psutil

    total = 0
    with contextlib.suppress(psutil.NoSuchProcess):
        for proc in [top, *top.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
    return total / 2**20


def _result(
    records: list[tuple[float, float, int | str]],
    jobs: list[Write],
    rss: list[tuple[float, float]],
    clients: int,
    elapsed: float,
    warmup: float,
) -> SoakResult:
    latencies = np.array([(end - start) * 1000 for start, end, _ in records]) if records else np.zeros(1)
    errors = [f"{status}" for _, _, status in records if status != 200]
    windows = [
        (job.published - SWAP_MARGIN_S, (job.switched or job.published) + SWAP_MARGIN_S)
        for job in jobs
        if job.published is not None
    ]
    during = np.array(
        [(end - start) * 1000 for start, end, _ in records if any(start < b and end > a for a, b in windows)]
    )
    after_warmup = [(t, mb) for t, mb in rss if t >= warmup]
    quarter = max(1, len(after_warmup) // 4)
    switched = [job.switched for job in jobs if job.switched is not None]
    steady = [(t, mb) for t, mb in rss if switched and t >= max(switched) + SWAP_MARGIN_S]
    return SoakResult(
        seconds=elapsed,
        clients=clients,
        requests=len(records),
        errors=len(errors),
        error_samples=sorted(set(errors))[:5],
        p50_ms=float(np.percentile(latencies, 50)),
        p99_ms=float(np.percentile(latencies, 99)),
        max_ms=float(latencies.max()),
        swap_requests=len(during),
        swap_p99_ms=float(np.percentile(during, 99)) if len(during) else 0.0,
        swap_max_ms=float(during.max()) if len(during) else 0.0,
        writes=jobs,
        rss=rss,
        rss_slope_mb_per_min=_slope(after_warmup),
        rss_steady_slope_mb_per_min=_slope(steady) if len(steady) >= 10 else None,
        rss_first_mb=float(np.median([mb for _, mb in after_warmup[:quarter]])) if after_warmup else 0.0,
        rss_last_mb=float(np.median([mb for _, mb in after_warmup[-quarter:]])) if after_warmup else 0.0,
    )


def _slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of RSS over time, in MB per minute."""
    if len(samples) < 2:
        return 0.0
    t = np.array([s for s, _ in samples])
    mb = np.array([m for _, m in samples])
    return float(np.polyfit(t, mb, 1)[0] * 60)
