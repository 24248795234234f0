"""The index directory on disk: generations, the CURRENT pointer, the manifest, a writer lock.

    INDEX_DIR/
      CURRENT                 name of the live generation, replaced atomically
      PREVIOUS                name of the generation CURRENT replaced (kept for readers still on it)
      .lock                   flock held by the one process writing; says who (pid, command, since)
      gen-20261128T133000-1a2b/
        manifest.json         model, dimension, counts, build times, format version
        passages.sqlite       articles and passages (its SQL lives in index/articles_db.py and index/store.py)
        vectors.faiss, ann.json, removed_rows.npy
        bm25/                 term-major postings as .npy, vocabulary as JSON
        .pin                  shared flock held by every process reading this generation

Every change (build, add, remove, repair) writes a complete new generation and
then swaps CURRENT, so a crash, a kill or a full disk at any point leaves the
previous index whole, and a serving process can switch generations between
two requests. Old generations are deleted by the next writer, except the
previous one and any a reader still holds (its `.pin`).

The writer lock is an flock, so the kernel releases it when its holder dies,
even by SIGKILL: a lock is never stale. What the holder wrote into the lock
file stays behind, which is how the next writer knows that the last one was
killed, and says so.
"""

import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsqa import __version__
from newsqa.errors import DiskFull, IndexBusy, IndexCorrupt, IndexNotFound

FORMAT_VERSION = 1
POINTER = "CURRENT"
PREVIOUS = "PREVIOUS"
LOCK = ".lock"
PIN = ".pin"
MANIFEST = "manifest.json"
GENERATION_PREFIX = "gen-"


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Manifest:
    """What an index was built with and what it holds."""

    model: str
    dim: int
    articles: int = 0
    passages: int = 0
    built_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)
    chunking: dict[str, int] = field(default_factory=dict)
    ann: dict[str, Any] = field(default_factory=dict)
    bm25: dict[str, Any] = field(default_factory=dict)
    embed_text: str = "title + newline + passage"
    format_version: int = FORMAT_VERSION
    newsqa_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Manifest":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, generation: Path) -> None:
        _write_atomic(generation / MANIFEST, json.dumps(self.to_dict(), ensure_ascii=False, indent=2))

    @classmethod
    def load(cls, generation: Path) -> "Manifest":
        path = generation / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise IndexCorrupt(f"{path} is missing: rebuild with `newsqa index build`") from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise IndexCorrupt(f"cannot read {path} ({exc}): rebuild with `newsqa index build`") from exc
        if data.get("format_version") != FORMAT_VERSION:
            raise IndexCorrupt(
                f"{path} has format version {data.get('format_version')}, this newsqa reads "
                f"version {FORMAT_VERSION}: rebuild with `newsqa index build`"
            )
        return cls.from_dict(data)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_name(path: Path) -> str | None:
    try:
        name = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def tree_bytes(path: Path) -> int:
    """Bytes of the files under `path` (0 when it is gone)."""
    total = 0
    for p in path.rglob("*"):
        with contextlib.suppress(OSError):
            if p.is_file():
                total += p.stat().st_size
    return total


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held) the writer lock, as written into the lock file."""

    pid: int
    command: str
    since: str
    host: str = ""

    def describe(self) -> str:
        return f"another index {self.command} is running since {self.since}, pid {self.pid}"

    @classmethod
    def parse(cls, text: str) -> "LockHolder | None":
        try:
            data = json.loads(text)
            return cls(int(data["pid"]), str(data["command"]), str(data["since"]), str(data.get("host", "")))
        except (ValueError, KeyError, TypeError):
            return None


def _try_flock(fd: int, how: int) -> bool:
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


LOW_SPACE = 1 << 20
"""Free bytes under which a failed write is taken for a full disk, whatever the library said."""


def is_disk_full(exc: BaseException, free: int | None = None) -> bool:
    """Whether an exception from writing means the device (or the user's quota) is full.

    `free`: the bytes free on the device when it failed, if known.
    """
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    # SQLite says SQLITE_FULL in words; FAISS raises RuntimeError quoting strerror of a failed fwrite.
    if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
        return True
    if isinstance(exc, RuntimeError) and any(
        os.strerror(code) in str(exc) for code in (errno.ENOSPC, errno.EDQUOT)
    ):
        return True
    return isinstance(exc, OSError | RuntimeError | sqlite3.Error) and free is not None and free < LOW_SPACE


class IndexLayout:
    """Generations under one index directory, and the pointer to the live one."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser()

    def pointer(self) -> str | None:
        """The name of the live generation, or None when there is no index yet."""
        return _read_name(self.root / POINTER)

    def previous(self) -> str | None:
        """The name of the generation the live one replaced, if any."""
        return _read_name(self.root / PREVIOUS)

    def current(self) -> Path:
        """The live generation's directory.

        Raises:
            IndexNotFound: when nothing has been built here yet.
        """
        name = self.pointer()
        if name is None:
            raise IndexNotFound(self.root)
        generation = self.root / name
        if not generation.is_dir():
            raise IndexCorrupt(
                f"{self.root / POINTER} points to {name}, which is missing: rebuild with `newsqa index build`"
            )
        return generation

    def exists(self) -> bool:
        return self.pointer() is not None

    def generations(self) -> list[Path]:
        return sorted(p for p in self.root.glob(f"{GENERATION_PREFIX}*") if p.is_dir())

    def new_generation(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        generation = self.root / f"{GENERATION_PREFIX}{stamp}-{secrets.token_hex(3)}"
        generation.mkdir()
        (generation / PIN).touch()
        return generation

    def publish(self, generation: Path, on_stage: Callable[[str], None] = lambda _: None) -> None:
        """Make `generation` the live index, atomically, then drop what no one needs any more.

        Everything in the generation reaches the disk before the pointer moves, so
        after a crash CURRENT names either the old generation or a complete new one.
        """
        previous = self.pointer()
        for path in generation.rglob("*"):
            if path.is_file():
                with open(path, "rb") as fh:
                    os.fsync(fh.fileno())
        for directory in [generation, *(p for p in generation.rglob("*") if p.is_dir())]:
            _fsync_dir(directory)
        on_stage("synced")
        if previous is not None and previous != generation.name:
            # Named before the swap: a crash between the two writes only keeps one more generation.
            _write_atomic(self.root / PREVIOUS, previous + "\n")
        _write_atomic(self.root / POINTER, generation.name + "\n")
        _fsync_dir(self.root)
        on_stage("published")
        self.remove_unused()

    def discard(self, generation: Path) -> None:
        shutil.rmtree(generation, ignore_errors=True)

    def remove_unused(self) -> list[str]:
        """Delete generations that are neither live nor previous nor held by a reader; their names."""
        keep = {self.pointer(), self.previous()}
        removed = []
        for path in self.generations():
            if path.name in keep:
                continue
            with self._unpinned(path) as free:
                if free:
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path.name)
        return removed

    @contextlib.contextmanager
    def _unpinned(self, generation: Path) -> Iterator[bool]:
        """True (holding the pin exclusively while the caller deletes) when no reader holds it."""
        try:
            fd = os.open(generation / PIN, os.O_RDONLY)
        except FileNotFoundError:
            yield True  # written by an older newsqa, or never finished: no reader can hold it
            return
        except OSError:
            yield False
            return
        try:
            yield _try_flock(fd, fcntl.LOCK_EX)
        finally:
            os.close(fd)

    def pin(self, generation: Path) -> int | None:
        """Hold a shared lock on `generation` so no writer deletes it under a reader; the fd, or None.

        Never blocks: a generation being deleted right now cannot be pinned (None).
        """
        try:
            fd = os.open(generation / PIN, os.O_RDONLY)
        except OSError:
            return None
        if _try_flock(fd, fcntl.LOCK_SH):
            return fd
        os.close(fd)
        return None

    # ---------- the writer lock ----------
    def holder(self) -> LockHolder | None:
        """Who holds the writer lock now, or None when no one does."""
        path = self.root / LOCK
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            if _try_flock(fd, fcntl.LOCK_SH):
                return None  # nobody holds it exclusively
            return LockHolder.parse(path.read_text(encoding="utf-8"))
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def writing(
        self,
        command: str = "write",
        *,
        wait: bool = True,
        notify: Callable[[str], None] = lambda _: None,
    ) -> Iterator[None]:
        """Hold the writer lock for `command` (build, add, remove, repair).

        When another process holds it: wait for it, saying so once through
        `notify`, or with `wait=False` raise IndexBusy at once. Generations left
        behind by an interrupted or killed writer are deleted first.

        A failed first write (no index published) leaves no index directory behind.

        Raises:
            IndexBusy: another writer holds the lock and `wait` is False.
        """
        created = not self.root.exists()
        fd = self._lock_fd()
        acquired = False
        try:
            if not _try_flock(fd, fcntl.LOCK_EX):
                other = LockHolder.parse(_read_fd(fd))
                who = other.describe() if other else "another newsqa process is writing the index"
                if not wait:
                    raise IndexBusy(
                        f"{who} ({self.root}): wait for it to finish, or run again without --no-wait"
                    )
                notify(f"{who}; waiting for it to finish (--no-wait to fail instead)")
                fcntl.flock(fd, fcntl.LOCK_EX)
                while not self._is_lock_file(fd):
                    # The writer we waited for failed a first write and removed the directory:
                    # lock the file that is there now.
                    os.close(fd)
                    created = not self.root.exists()
                    fd = self._lock_fd()
                    fcntl.flock(fd, fcntl.LOCK_EX)
            acquired = True
            left = LockHolder.parse(_read_fd(fd))
            _write_fd(
                fd,
                json.dumps(
                    {"pid": os.getpid(), "command": command, "since": utc_now(), "host": socket.gethostname()}
                ),
            )
            removed = self.remove_unused()
            if left is not None:
                # The last holder never cleared the file: it died (a kill, a crash, a power cut).
                notify(
                    f"the previous index {left.command} (pid {left.pid}, since {left.since}) did not finish; "
                    f"its lock was released when it stopped"
                    + (f" and its unfinished generation {', '.join(removed)} was removed" if removed else "")
                )
            yield
        finally:
            if acquired:
                # Any exit this process lives through; only a kill or a crash leaves the file filled.
                with contextlib.suppress(OSError):
                    _write_fd(fd, "")
                if created and self.pointer() is None:
                    shutil.rmtree(self.root, ignore_errors=True)  # still locked: no writer is inside
            os.close(fd)  # releases the flock

    def _lock_fd(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        # Opened without truncating: the file says who holds the lock.
        return os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)

    def _is_lock_file(self, fd: int) -> bool:
        """Whether `fd` is still the lock file at its path (not one a failed first write removed)."""
        try:
            at_path = os.stat(self.root / LOCK)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (held.st_dev, held.st_ino) == (at_path.st_dev, at_path.st_ino)

    def check_space(self, needed: int, what: str) -> None:
        """Raise DiskFull when the index's device has less than `needed` bytes free."""
        free = shutil.disk_usage(self.root).free
        if free < needed:
            raise DiskFull(self.root, needed, free, what)

    def size_bytes(self) -> int:
        return tree_bytes(self.current())


def _read_fd(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _write_fd(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode("utf-8"), 0)
