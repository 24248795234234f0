"""The index directory on disk: generations, the CURRENT pointer, the manifest, a writer lock.

    INDEX_DIR/
      CURRENT                 name of the live generation, replaced atomically
      .lock                   held by the one process writing
      gen-20261128T133000-1a2b/
        manifest.json         model, dimension, counts, build times, format version
        passages.sqlite       articles and passages (all SQL lives in index/store.py)
        vectors.faiss, ann.json, removed_rows.npy
        bm25/                 term-major postings as .npy, vocabulary as JSON

Every change (build, add, remove) writes a complete new generation and then
swaps CURRENT, so a crash or Ctrl-C at any point leaves the previous index
whole, and a serving process can switch generations between two requests.
"""

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsqa import __version__
from newsqa.errors import IndexBusy, IndexCorrupt, IndexNotFound

FORMAT_VERSION = 1
POINTER = "CURRENT"
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
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexLayout:
    """Generations under one index directory, and the pointer to the live one."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser()

    def pointer(self) -> str | None:
        """The name of the live generation, or None when there is no index yet."""
        try:
            name = (self.root / POINTER).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name or None

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

    def new_generation(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        generation = self.root / f"{GENERATION_PREFIX}{stamp}-{secrets.token_hex(3)}"
        generation.mkdir()
        return generation

    def publish(self, generation: Path) -> None:
        """Make `generation` the live index, atomically, then drop all but the previous one."""
        previous = self.pointer()
        for path in generation.rglob("*"):
            if path.is_file():
                with open(path, "rb") as fh:
                    os.fsync(fh.fileno())
        _fsync_dir(generation)
        _write_atomic(self.root / POINTER, generation.name + "\n")
        _fsync_dir(self.root)
        keep = {generation.name, previous}
        self._remove_generations(keep)

    def discard(self, generation: Path) -> None:
        shutil.rmtree(generation, ignore_errors=True)

    def _remove_generations(self, keep: set[str | None]) -> None:
        # A reader still on the previous generation keeps working: it stays one swap longer.
        for path in self.root.glob(f"{GENERATION_PREFIX}*"):
            if path.name not in keep and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writer lock; leftovers of an interrupted write are cleared first, and a
        failed first write leaves no index directory behind."""
        created = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise IndexBusy(
                    f"another newsqa process is writing the index at {self.root}: "
                    "wait for it to finish, then try again"
                ) from exc
            try:
                # Unpublished generations are what an interrupted build left behind.
                self._remove_generations(self._published())
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
                if created and self.pointer() is None:
                    shutil.rmtree(self.root, ignore_errors=True)

    def _published(self) -> set[str | None]:
        names: set[str | None] = {self.pointer()}
        # The generation published before the current one is kept for readers still on it.
        generations = sorted(p.name for p in self.root.glob(f"{GENERATION_PREFIX}*"))
        current = self.pointer()
        if current in generations:
            i = generations.index(current)
            if i > 0:
                names.add(generations[i - 1])
        return names

    def size_bytes(self) -> int:
        generation = self.current()
        return sum(p.stat().st_size for p in generation.rglob("*") if p.is_file())
