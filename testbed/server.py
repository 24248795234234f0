"""A real `newsqa serve` (or `demo`) in a subprocess on 127.0.0.1, for tests and benches."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(
    index_dir: Path,
    log: Path,
    *,
    env: dict[str, str] | None = None,
    command: str = "serve",
    args: Sequence[str] = (),
    cwd: Path | None = None,
    timeout: float = 120,
) -> Iterator[str]:
    """`python -m newsqa serve` (or `demo`) over `index_dir` on a free port of 127.0.0.1.

    Args:
        args: more arguments for the command (e.g. `--workers 2`).
        cwd: run from there, e.g. an older checkout of newsqa, whose package then comes first.

    Yields its URL once /healthz answers.
    """
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "newsqa", command, "--index", str(index_dir), "--port", str(port), *args]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=cwd
        )
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


def server_processes(url: str) -> list[int]:
    """The pids of a server's processes: the `newsqa serve` process listening on the URL's port
    (or the supervisor above the worker that does) and all of its children."""
    import psutil

    listener = psutil.Process(server_pid(url))
    top = listener
    for parent in listener.parents():
        if "newsqa" not in " ".join(parent.cmdline()):
            break
        top = parent
    return [top.pid, *(child.pid for child in top.children(recursive=True))]
