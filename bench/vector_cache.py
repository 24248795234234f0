"""Passage and question vectors computed once and reused, so that store benchmarks measure the
stores, not the embedder (which runs at about 100 passages/s on 2 cores).

`CachedEmbedder` answers from the cache and embeds (and keeps) what it has not seen, with the
real default embedder; it carries that embedder's name and dimension, so the indexes it
builds are what `newsqa index build` would build, vector for vector.
"""

import hashlib
import os
from pathlib import Path

import numpy as np

from newsqa.index.embedders import USEEmbedder


def _key(kind: str, text: str) -> bytes:
    return hashlib.sha1(f"{kind}\x1f{text}".encode()).digest()


class VectorCache:
    """Vectors keyed by a hash of their text, in two .npy files under `directory`.

    One process at a time may `save` (the file is rewritten from what that process holds);
    vectors added and not saved are found by `lookup` all the same.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.index: dict[bytes, int] = {}
        self.vectors = np.zeros((0, 0), dtype=np.float32)
        self._new_keys: list[bytes] = []
        self._new: list[np.ndarray] = []
        self._pending: dict[bytes, int] = {}  # added, not yet saved: key -> position in _new
        keys, vectors = directory / "keys.npy", directory / "vectors.npy"
        if keys.exists() and vectors.exists():
            self.vectors = np.load(vectors, mmap_mode="r")
            self.index = {bytes(k): i for i, k in enumerate(np.load(keys))}

    def __len__(self) -> int:
        return len(self.index) + len(self._new_keys)

    def lookup(self, kind: str, texts: list[str]) -> tuple[list[int], np.ndarray | None]:
        """Positions of the texts not cached, and the vectors (rows for those left empty)."""
        keys = [_key(kind, t) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self.index and k not in self._pending]
        if len(missing) == len(texts):
            return missing, None
        dim = len(self._new[0]) if self._new else self.vectors.shape[1]
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for i, k in enumerate(keys):
            if k in self.index:
                out[i] = self.vectors[self.index[k]]
            elif k in self._pending:
                out[i] = self._new[self._pending[k]]
        return missing, out

    def add(self, kind: str, texts: list[str], vectors: np.ndarray) -> None:
        for text, vector in zip(texts, vectors, strict=True):
            key = _key(kind, text)
            if key not in self.index and key not in self._pending:
                self._pending[key] = len(self._new)
                self._new_keys.append(key)
                self._new.append(np.asarray(vector, dtype=np.float32))

    def save(self) -> None:
        if not self._new_keys:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        old_keys = sorted(self.index, key=self.index.__getitem__)
        keys = np.array(old_keys + self._new_keys, dtype="S20")
        parts = [np.asarray(self.vectors)] if len(self.index) else []
        vectors = np.vstack(parts + [np.stack(self._new)]).astype(np.float32)
        for name, array in (("keys", keys), ("vectors", vectors)):
            tmp = self.directory / f".{name}.{os.getpid()}.npy"
            np.save(tmp, array, allow_pickle=False)
            os.replace(tmp, self.directory / f"{name}.npy")
        self.vectors = np.load(self.directory / "vectors.npy", mmap_mode="r")
        self.index = {bytes(k): i for i, k in enumerate(keys)}
        self._new_keys, self._new, self._pending = [], [], {}


class CachedEmbedder:
    """The default embedder, answered from a `VectorCache` where it can be.

    With `recycle`, a passage not in the cache gets, instead of its own vector, a cached
    vector of another passage (chosen by a hash of its text) with a little noise: a real
    embedding's distribution at no embedding cost, for timing only (it does not match the
    text). `recycled` counts them.
    """

    def __init__(self, cache: VectorCache, threads: int | None = None, *, recycle: bool = False) -> None:
        self.cache = cache
        self.model = USEEmbedder(threads=threads)
        self.name = self.model.name
        self.dim = self.model.dim
        self.recycle = recycle
        self.computed = 0
        self.recycled = 0

    def _recycled(self, texts: list[str]) -> np.ndarray:
        pool = self.cache.vectors
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(_key("r", text)[:8], "little")
            rng = np.random.default_rng(seed)
            vector = pool[seed % len(pool)] + rng.normal(0.0, 0.02, self.dim)
            out[i] = vector / np.linalg.norm(vector)
        self.recycled += len(texts)
        return out

    def warm_up(self) -> None:
        """The model loads only if something is not cached."""

    def _embed(self, kind: str, texts: list[str]) -> np.ndarray:
        missing, vectors = self.cache.lookup(kind, texts)
        if not missing:
            assert vectors is not None
            return vectors
        if kind == "p" and self.recycle:
            fresh = self._recycled([texts[i] for i in missing])
        else:
            encode = self.model.embed_passages if kind == "p" else self.model.embed_queries
            fresh = encode([texts[i] for i in missing])
            self.cache.add(kind, [texts[i] for i in missing], fresh)
            self.computed += len(missing)
        if vectors is None:
            return fresh
        vectors[missing] = fresh
        return vectors

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed("p", texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed("q", texts)
