"""Shared bits of the bench scripts: machine description, output as a JSON line plus a table."""

import contextlib
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

SHARED_QA = Path(__file__).resolve().parents[2] / "shared" / "data" / "qa"
DEV_SETS = ("cmrc2018_trial.json", "DRCD_dev.json")


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dev_sets() -> list[Path]:
    if not SHARED_QA.is_dir():
        sys.exit(f"bench: {SHARED_QA} is not here; the dev sets live in ../shared/data/qa")
    return [SHARED_QA / name for name in DEV_SETS]


def report(name: str, rows: list[dict], **extra) -> None:
    """Print a JSON line (for machines) and a table (for people)."""
    record = {"bench": name, "machine": machine(), **extra, "rows": rows}
    print(json.dumps(record, ensure_ascii=False))
    if not rows:
        return
    columns = list(rows[0])
    width = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print()
    print(
        f"{name} — {record['machine']['cores']} cores, {record['machine']['cpu']}, {record['machine']['date']}"
    )
    print("  ".join(c.ljust(width[c]) for c in columns))
    print("  ".join("-" * width[c] for c in columns))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(width[c]) for c in columns))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server(
    index_dir: Path,
    log: Path,
    *,
    env: dict[str, str] | None = None,
    command: str = "serve",
    timeout: float = 120,
) -> Iterator[str]:
    """`python -m newsqa serve` (or `demo`) over `index_dir` on a free port of 127.0.0.1.

    Yields its URL once /healthz answers; the tests start their real servers with it too.
    """
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "newsqa", command, "--index", str(index_dir), "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"newsqa {command} exited with {proc.returncode}:\n{log.read_text()}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"newsqa {command} did not come up in {timeout:.0f}s:\n{log.read_text()}"
                    )
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def server_pid(url: str) -> int:
    """The pid of the process listening on the URL's port (for its RSS)."""
    import psutil

    port = int(url.rsplit(":", 1)[1])
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            return conn.pid
    raise RuntimeError(f"no process listens on port {port}")
