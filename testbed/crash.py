"""Crash safety by experiment: real `newsqa index build/add/remove` processes, killed with SIGKILL.

Each run copies a prepared index, starts one real command on it and kills it
with a real SIGKILL from outside, either after a random delay or at a named
stage of the writer (the writer stops itself there with SIGSTOP when
`NEWSQA_FAULT=stop@STAGE` is set, and this harness then kills it). Then:

1. the index opens (`IndexSnapshot.open`, which loads SQLite, FAISS and BM25);
2. `newsqa index check` passes;
3. the article set (ids and fingerprints) is the one before the command or the
   one after it, never anything in between;
4. the same command, run again without the fault, completes, leaves the
   article set of "after", passes the check, and leaves no partial generation.

Shared by `bench/crash.py` (many randomised runs) and `tests/test_crash.py` (a few).
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from newsqa.index.articles_db import DB_FILE, ArticleReader
from newsqa.index.builder import IndexWriter
from newsqa.index.layout import IndexLayout
from newsqa.index.sources import read_sources
from newsqa.index.store import IndexSnapshot
from newsqa.index.types import Article

OPS = ("build", "add", "remove")
STAGES = {
    "build": [s for s in IndexWriter.STAGES if s != "db-copied"],
    "add": list(IndexWriter.STAGES),
    # A remove embeds nothing unless a wire copy takes a removed article's place.
    "remove": [s for s in IndexWriter.STAGES if s != "batch-written"],
}

State = dict[str, str]  # article id -> fingerprint
Check = Callable[[Path], tuple[bool, str]]


@dataclass(frozen=True)
class Corpus:
    """The sources the commands run on: the starting index, an addition, a rebuild, removals."""

    base: Path
    add: Path
    rebuild: Path
    remove_ids: tuple[str, ...]

    def argv(self, op: str) -> list[str]:
        if op == "build":
            return ["build", str(self.rebuild)]
        if op == "add":
            return ["add", str(self.add)]
        return ["remove", *self.remove_ids]


def make_corpus(articles: list[Article], out: Path, seed: int = 0) -> Corpus:
    """Split real articles into a base, an addition (new ones and changed versions of base ones),
    a different set for a rebuild, and some base ids to remove."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    n = len(articles)
    base = articles[: n // 2]
    new = articles[n // 2 : n * 3 // 4]
    changed = [
        Article(a.id, a.title, a.text + "\n（本报记者补充报道）", a.url, a.published, a.source)
        for a in rng.sample(base, max(1, len(base) // 10))
    ]
    rebuild = articles[n // 4 :]
    removed = tuple(a.id for a in rng.sample(base, max(1, len(base) // 5)))

    def write(name: str, items: list[Article]) -> Path:
        path = out / name
        with open(path, "w", encoding="utf-8") as fh:
            for a in items:
                record = {
                    "id": a.id,
                    "title": a.title,
                    "text": a.text,
                    "published": a.published,
                    "source": a.source,
                }
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        return path

    return Corpus(
        write("base.jsonl", base), write("add.jsonl", new + changed), write("rebuild.jsonl", rebuild), removed
    )


def source_state(path: Path) -> State:
    state: State = {}
    for item in read_sources([path]):
        if isinstance(item, Article) and item.id not in state:
            state[item.id] = item.fingerprint
    return state


def index_state(root: Path) -> State | None:
    """The live article set, after opening the whole index; None when there is no index."""
    layout = IndexLayout(root)
    if not layout.exists():
        return None
    snapshot = IndexSnapshot.open(root)  # raises when any part cannot be loaded
    try:
        reader = ArticleReader(snapshot.generation_dir / DB_FILE)
        try:
            return {a.id: fp for a, fp, _ in reader.articles_with_fingerprints()}
        finally:
            reader.close()
    finally:
        snapshot.close()


def expected_after(op: str, before: State | None, corpus: Corpus) -> State:
    if op == "build":
        return source_state(corpus.rebuild)
    if op == "add":
        return {**(before or {}), **source_state(corpus.add)}
    return {k: v for k, v in (before or {}).items() if k not in set(corpus.remove_ids)}


@dataclass
class KillRun:
    """One command, one kill, and what was found after it."""

    op: str
    how: str  # "stage:NAME#N" or "time:SECONDS"
    embedder: str
    killed: bool = False
    state: str = ""  # before, after, other
    opens: bool = False
    check_ok: bool = False
    rerun_ok: bool = False
    final_ok: bool = False
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.problems)

    def to_dict(self) -> dict:
        return {**asdict(self), "failed": self.failed}


def _stopped(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")


def _newsqa(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "newsqa", "index", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )


def cli_check(root: Path) -> tuple[bool, str]:
    """`newsqa index check` in its own process: (passed, its output)."""
    done = subprocess.run(
        [sys.executable, "-m", "newsqa", "index", "check", "--index", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def calibrate(
    template: Path, corpus: Corpus, op: str, env: dict[str, str], work: Path
) -> tuple[float, float]:
    """(seconds until the writer holds the lock, seconds the whole command takes), unkilled."""
    root = work / f"calibrate-{op}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(template, root)
    started = time.monotonic()
    proc = _newsqa(
        [*corpus.argv(op), "--index", str(root)],
        {**env, "NEWSQA_FAULT": "stop@locked"},
        work / "calibrate.log",
    )
    locked = None
    while proc.poll() is None:
        if _stopped(proc.pid):
            locked = time.monotonic() - started
            os.kill(proc.pid, signal.SIGCONT)
            break
        time.sleep(0.005)
    proc.wait(timeout=600)
    total = time.monotonic() - started
    shutil.rmtree(root, ignore_errors=True)
    return (locked if locked is not None else 0.0), total


def kill_run(
    work: Path,
    template: Path,
    corpus: Corpus,
    op: str,
    *,
    env: dict[str, str],
    stage: str | None = None,
    delay: float | None = None,
    check: Check = cli_check,
    label: str = "run",
) -> KillRun:
    """One run: copy the template index, run `op`, SIGKILL it (at `stage`, or after `delay` s), check."""
    how = f"stage:{stage}" if stage else f"time:{delay:.3f}"
    run = KillRun(op, how, env.get("NEWSQA_MODEL", "default"))
    started = time.monotonic()
    root = work / label
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(template, root)
    log = work / f"{label}.log"
    log.unlink(missing_ok=True)
    before = index_state(root)
    after = expected_after(op, before, corpus)
    argv = [*corpus.argv(op), "--index", str(root)]
    fault_env = {**env, "NEWSQA_FAULT": f"stop@{stage}"} if stage else env
    proc = _newsqa(argv, fault_env, log)
    deadline = time.monotonic() + (delay if delay is not None else 600)
    while proc.poll() is None:
        if stage and _stopped(proc.pid):
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(0.002)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        run.killed = True
    proc.wait(timeout=600)
    if not run.killed and proc.returncode != 0 and not _nothing_to_remove(op, proc.returncode, log):
        run.problems.append(f"the command failed by itself (exit {proc.returncode}): {_tail(log)}")

    # 1. it opens, 2. the check passes, 3. before or after, never in between
    try:
        state = index_state(root)
        run.opens = True
    except Exception as exc:
        run.problems.append(f"the index does not open after the kill: {type(exc).__name__}: {exc}")
        state = None
    if run.opens:
        if state == before:
            run.state = "before"
        elif state == after:
            run.state = "after"
        else:
            run.state = "other"
            run.problems.append(_state_diff(state, before, after))
        if state is not None:
            run.check_ok, output = check(root)
            if not run.check_ok:
                run.problems.append(f"index check failed after the kill: {output[-600:]}")
    # 4. the same command again completes
    rerun = _newsqa(argv, env, log)
    code = rerun.wait(timeout=900)
    run.rerun_ok = code == 0 or _nothing_to_remove(op, code, log)
    if not run.rerun_ok:
        run.problems.append(f"the rerun failed (exit {code}): {_tail(log)}")
    try:
        final = index_state(root)
        ok, output = check(root)
        layout = IndexLayout(root)
        leftovers = {g.name for g in layout.generations()} - {layout.pointer(), layout.previous()}
        run.final_ok = final == after and ok and not leftovers
        if final != after:
            run.problems.append("after the rerun: " + _state_diff(final, before, after))
        if not ok:
            run.problems.append(f"index check failed after the rerun: {output[-600:]}")
        if leftovers:
            run.problems.append(f"partial generations left after the rerun: {sorted(leftovers)}")
    except Exception as exc:
        run.problems.append(f"after the rerun the index does not open: {type(exc).__name__}: {exc}")
    run.seconds = round(time.monotonic() - started, 2)
    shutil.rmtree(root, ignore_errors=True)
    return run


def _nothing_to_remove(op: str, code: int, log: Path) -> bool:
    # `index remove` exits 1 when none of the ids is in the index: what a rerun after a completed remove sees.
    return op == "remove" and code == 1 and "not in the index" in _tail(log)


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-800:]
    except OSError:
        return ""


def _state_diff(state: State | None, before: State | None, after: State) -> str:
    state = state or {}
    ref = before or {}
    return (
        f"article set is neither before nor after: {len(state)} articles; "
        f"{len(set(state) - set(ref) - set(after))} in neither, {len(set(after) - set(state))} of 'after' missing, "
        f"{sum(1 for k, v in state.items() if k in after and after[k] != v and ref.get(k) != v)} with a fingerprint "
        "of neither"
    )


def random_plan(
    rng: random.Random, op: str, durations: dict[str, tuple[float, float]], batches: int
) -> tuple[str | None, float | None]:
    """(stage, delay) for a run of `op`: a stage kill (three in five runs) or a kill after a random delay."""
    if rng.random() < 0.6:
        stage = rng.choice(STAGES[op])
        if stage == "batch-written":
            stage += f"#{rng.randint(1, max(1, batches))}"
        return stage, None
    locked, total = durations[op]
    return None, rng.uniform(locked * 0.8, total * 1.05)
