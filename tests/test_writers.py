"""Two writers at once, a writer killed while holding the lock, readers during a write, a full disk.

All with real `newsqa` processes: a writer is held still at a named stage
(NEWSQA_FAULT=stop@STAGE makes it SIGSTOP itself there) while the rest happens.
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from newsqa.cli import cli
from newsqa.index.check import check_index
from newsqa.index.embedders import HASHING_MODEL, load_embedder
from newsqa.index.layout import IndexLayout
from newsqa.index.sources import read_sources
from newsqa.index.store import IndexSnapshot
from testbed.server import running_server
from tests.helpers import hashing_writer, write_jsonl

ENV = {**os.environ, "NEWSQA_MODEL": HASHING_MODEL}


def articles(prefix: str, n: int, words: str = "港口投资十二亿元，预计明年完工。") -> list[dict]:
    """Distinct articles (random characters around `words`), so that none is folded as a wire copy."""
    out = []
    for i in range(n):
        rng = random.Random(f"{prefix}{i}")
        filler = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(150))
        out.append(
            {"id": f"{prefix}{i}", "title": f"{prefix}第{i}篇", "text": f"第{i}篇报道。{words}{filler}。"}
        )
    return out


def ids(root: Path) -> set[str]:
    snapshot = IndexSnapshot.open(root)
    try:
        return {a.id for a in snapshot.iter_articles()}
    finally:
        snapshot.close()


def assert_healthy(root: Path) -> None:
    report = check_index(root, load_embedder)
    assert report.ok, report.lines()


def is_stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("T", "t")


def newsqa(*args: object, env: dict | None = None, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "newsqa", *map(str, args)],
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        env={**ENV, **(env or {})},
    )


@contextmanager
def writer_stopped_at(stage: str, *args: object, log: Path):
    """A real `newsqa index ...` process, standing still at `stage`; killed if still there at the end."""
    proc = newsqa("index", *args, env={"NEWSQA_FAULT": f"stop@{stage}"}, log=log)
    deadline = time.monotonic() + 60
    while not is_stopped(proc.pid):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"never reached {stage}: {log.read_text()}"
        time.sleep(0.01)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for_text(log: Path, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace")
        if text in content:
            return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {log}:\n{log.read_text()}")


@pytest.fixture
def index(tmp_path) -> Path:
    root = tmp_path / "ix"
    hashing_writer(root).build(read_sources([write_jsonl(tmp_path / "base.jsonl", articles("base", 5))]))
    return root


def test_a_second_writer_waits_and_says_for_whom(tmp_path, index):
    first = write_jsonl(tmp_path / "first.jsonl", articles("first", 3))
    second = write_jsonl(tmp_path / "second.jsonl", articles("second", 3))
    with writer_stopped_at("batch-written", "add", first, "--index", index, log=tmp_path / "a.log") as a:
        b = newsqa("index", "add", second, "--index", index, log=tmp_path / "b.log")
        message = wait_for_text(tmp_path / "b.log", "waiting")
        assert "another index add is running since 20" in message and f"pid {a.pid}" in message
        time.sleep(0.5)
        assert b.poll() is None, "the second writer did not wait"
        os.kill(a.pid, signal.SIGCONT)
        assert a.wait(timeout=60) == 0 and b.wait(timeout=60) == 0, (tmp_path / "b.log").read_text()
    assert {"first0", "second0", "base0"} <= ids(index)
    assert_healthy(index)


def test_a_writer_waiting_on_a_failed_first_build_holds_the_lock_of_the_new_directory(tmp_path):
    """The failed first build removes the index directory, lock file included: the writer that
    waited for it locks the file that is there now, so a third writer finds the index busy."""
    root = tmp_path / "fresh"
    bad = write_jsonl(tmp_path / "bad.jsonl", ["{broken"])
    good = write_jsonl(tmp_path / "good.jsonl", articles("good", 3))
    with writer_stopped_at("locked", "build", bad, "--index", root, log=tmp_path / "a.log") as a:
        b = newsqa(
            "index",
            "build",
            good,
            "--index",
            root,
            env={"NEWSQA_FAULT": "stop@locked"},
            log=tmp_path / "b.log",
        )
        try:
            wait_for_text(tmp_path / "b.log", "waiting")
            os.kill(a.pid, signal.SIGCONT)
            assert a.wait(timeout=60) == 1 and "no index was written" in (tmp_path / "a.log").read_text()
            deadline = time.monotonic() + 60
            while not is_stopped(b.pid):  # b holds the lock now
                assert b.poll() is None and time.monotonic() < deadline, (tmp_path / "b.log").read_text()
                time.sleep(0.01)
            third = subprocess.run(
                [sys.executable, "-m", "newsqa", "index", "build", good, "--index", root, "--no-wait"],
                capture_output=True,
                text=True,
                env=ENV,
            )
            assert third.returncode == 1 and f"pid {b.pid}" in third.stderr, third.stderr
            os.kill(b.pid, signal.SIGCONT)
            assert b.wait(timeout=60) == 0, (tmp_path / "b.log").read_text()
        finally:
            if b.poll() is None:
                b.kill()
                b.wait()
    assert ids(root) == {"good0", "good1", "good2"}
    assert_healthy(root)


def test_no_wait_fails_at_once_with_one_line(tmp_path, index):
    first = write_jsonl(tmp_path / "first.jsonl", articles("first", 3))
    with writer_stopped_at("locked", "build", first, "--index", index, log=tmp_path / "a.log") as a:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "newsqa", "index", "remove", "base0", "--index", index, "--no-wait"],
            capture_output=True,
            text=True,
            env=ENV,
        )
        assert time.monotonic() - started < 30
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and "another index build is running since" in lines[0] and f"pid {a.pid}" in lines[0]
    )
    assert "base0" in ids(index)


def test_a_killed_writers_lock_is_taken_over_and_its_leftovers_removed(tmp_path, index):
    before = ids(index)
    more = write_jsonl(tmp_path / "more.jsonl", articles("more", 4))
    with writer_stopped_at("db-committed", "add", more, "--index", index, log=tmp_path / "a.log") as a:
        unfinished = {g.name for g in IndexLayout(index).generations()} - {IndexLayout(index).pointer()}
        assert unfinished
        a.kill()
        a.wait()
    # The kernel released the flock with the process; its note in the lock file stayed.
    assert IndexLayout(index).holder() is None
    done = subprocess.run(
        [sys.executable, "-m", "newsqa", "index", "add", more, "--index", index, "--no-wait"],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr
    assert f"the previous index add (pid {a.pid}" in done.stderr and "did not finish" in done.stderr
    assert all(name in done.stderr for name in unfinished)
    assert ids(index) == before | {f"more{i}" for i in range(4)}
    layout = IndexLayout(index)
    assert {g.name for g in layout.generations()} <= {layout.pointer(), layout.previous()}
    assert_healthy(index)


def test_readers_never_wait_for_a_writer_and_see_old_or_new(tmp_path, index):
    old_generation = IndexLayout(index).pointer()
    more = write_jsonl(tmp_path / "more.jsonl", articles("more", 4, "夜市今晚开张。"))
    with running_server(index, tmp_path / "serve.log", env={"NEWSQA_MODEL": HASHING_MODEL}) as url:
        with writer_stopped_at(
            "manifest-written", "add", more, "--index", index, log=tmp_path / "w.log"
        ) as w:
            # The writer holds the lock and its generation is complete on disk but not published.
            for _ in range(5):
                started = time.monotonic()
                reply = httpx.post(f"{url}/ask", json={"question": "港口投资多少？"}, timeout=10)
                assert reply.status_code == 200 and time.monotonic() - started < 5
            assert httpx.get(f"{url}/healthz").json()["generation"] == old_generation
            assert ids(index) == {f"base{i}" for i in range(5)}
            os.kill(w.pid, signal.SIGCONT)
            assert w.wait(timeout=60) == 0
        # Each worker of the server follows the pointer on its own: wait until several answers
        # in a row (whichever worker takes them) come from the new generation.
        new_articles = {f"more{i}" for i in range(4)}
        deadline = time.monotonic() + 30
        in_a_row = 0
        while in_a_row < 6:
            assert time.monotonic() < deadline, "the server never switched"
            reply = httpx.post(f"{url}/ask", json={"question": "夜市今晚开张吗？", "top_k": 10}).json()
            if {p["article_id"] for p in reply["passages"]} & new_articles:
                in_a_row += 1
            else:
                in_a_row = 0
                time.sleep(0.2)
        assert httpx.get(f"{url}/healthz").json()["generation"] == IndexLayout(index).pointer()


def test_a_generation_in_use_by_a_reader_outlives_later_writes(tmp_path, index):
    reader = IndexSnapshot.open(index)
    held = reader.generation_dir
    writer = hashing_writer(index)
    for i in range(3):
        writer.add(read_sources([write_jsonl(tmp_path / f"m{i}.jsonl", articles(f"m{i}-", 2))]))
    assert held.is_dir(), "a generation was deleted under its reader"
    # A new thread's first query opens the generation's SQLite file afresh.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(reader.article, "base0").result() is not None
    reader.close()
    writer.remove(["m0-0"])
    assert not held.exists()


# ---------- a full disk ----------
FAULT_STAGES = [
    "db-copied",
    "batch-written",
    "db-committed",
    "vectors-written",
    "bm25-written",
    "manifest-written",
]


@pytest.mark.parametrize("stage", FAULT_STAGES)
def test_a_full_disk_at_any_stage_fails_in_one_line_and_keeps_the_index(tmp_path, index, stage):
    before, generation = ids(index), IndexLayout(index).pointer()
    more = write_jsonl(tmp_path / "more.jsonl", articles("more", 4))
    result = CliRunner().invoke(
        cli,
        ["index", "add", str(more), "--index", str(index)],
        env={"NEWSQA_FAULT": f"enospc@{stage}", "NEWSQA_MODEL": HASHING_MODEL},
    )
    assert result.exit_code == 1
    (line,) = [x for x in result.output.splitlines() if x.strip() and not x.startswith("newsqa: fault")]
    assert line.startswith(f"Error: not enough space on the disk of {index}: ") and " MB are free" in line
    assert IndexLayout(index).pointer() == generation and ids(index) == before
    assert [g.name for g in IndexLayout(index).generations()] == [generation]
    assert_healthy(index)


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )


def test_a_really_full_disk(tmp_path):
    """A small tmpfs: the add that does not fit fails in one line, leaves nothing, and the index serves on."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "1m"):
        pytest.skip("mounting a tmpfs needs root (the ENOSPC tests above run everywhere)")
    try:
        root = disk / "ix"
        base = write_jsonl(tmp_path / "base.jsonl", articles("base", 20))
        assert (
            CliRunner()
            .invoke(
                cli, ["index", "build", str(base), "--index", str(root)], env={"NEWSQA_MODEL": HASHING_MODEL}
            )
            .exit_code
            == 0
        )
        before, generation = ids(root), IndexLayout(root).pointer()
        big = write_jsonl(
            tmp_path / "big.jsonl", articles("big", 600, "港口夜市今晚开张，投资十二亿元。" * 4)
        )
        done = subprocess.run(
            [sys.executable, "-m", "newsqa", "index", "add", big, "--index", root],
            capture_output=True,
            text=True,
            env=ENV,
        )
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: not enough space on the disk of {root}: "), (
            done.stderr
        )
        assert ids(root) == before and IndexLayout(root).pointer() == generation
        assert [p.name for p in root.iterdir()] and not [
            p for p in root.rglob("*") if ".work" in p.parts or p.name.endswith(".tmp")
        ]
        assert [g.name for g in IndexLayout(root).generations()] == [generation]
        assert_healthy(root)
        with running_server(root, tmp_path / "serve.log", env={"NEWSQA_MODEL": HASHING_MODEL}) as url:
            assert httpx.post(f"{url}/ask", json={"question": "港口投资多少？"}).status_code == 200
    finally:
        # lazily: this process may still map a file of the index (the in-process build), and a busy
        # mount left behind would stop pytest from cleaning its temporary folders
        subprocess.run(["umount", "--lazy", str(disk)], capture_output=True)
