"""Vector stores: passage vectors keyed by passage row, searched by inner product.

`FaissStore` holds them. Below `hnsw_threshold` vectors it is exact
(`IndexFlatIP`); above it, an HNSW graph, whose parameters are recorded in the
manifest. HNSW cannot delete in place, so removed rows are masked out at query
time and the graph is rebuilt once they pass a fraction of it.

The writer never holds more than one copy of the vectors: new vectors are
spooled to disk as they are embedded (`VectorSpool`), and `write_vectors`
builds the generation's FAISS file from the spool in batches; a graph that must
be rebuilt is spilled to disk first and dropped before the new one is built.
"""

import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# Vectors moved at a time between disk and FAISS while writing (10k x 512 float32 = 20 MB).
WRITE_BATCH = 10_000
# An HNSW graph is rebuilt once this share of its rows is masked out as removed.
STALE_SHARE = 0.1


@dataclass(frozen=True)
class AnnParams:
    """How the vectors are searched; recorded in the manifest."""

    kind: str = "flat"  # "flat" (exact) or "hnsw"
    hnsw_threshold: int = 50_000
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 768

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "AnnParams":
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in fields})  # type: ignore[arg-type]

    def kind_for(self, n: int) -> str:
        """Exact search below the threshold, HNSW from it on."""
        return "hnsw" if n >= self.hnsw_threshold else "flat"

    def with_kind(self, kind: str) -> "AnnParams":
        return AnnParams.from_dict({**self.to_dict(), "kind": kind})


def one_thread_per_search() -> None:
    """Make FAISS search each query on one OpenMP thread, for a process that answers many
    questions at once (a server): its OpenMP pool only waits on a busy machine (a search
    of a small index measured 9 ms with the pool, 0.03 ms without, on 2 shared cores)."""
    import faiss

    faiss.omp_set_num_threads(1)


class FaissStore:
    """FAISS vectors with ids = passage rows: exact below a size threshold, HNSW above it."""

    FILE = "vectors.faiss"
    MASK_FILE = "removed_rows.npy"

    def __init__(self, dim: int, params: AnnParams = AnnParams()) -> None:
        import faiss

        self.dim = dim
        self.params = params
        self._index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._removed = np.zeros(0, dtype=np.int64)

    @property
    def kind(self) -> str:
        return self.params.kind

    def __len__(self) -> int:
        return int(self._index.ntotal) - len(self._removed)

    def add(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        if len(rows) == 0:
            return
        self._index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(rows, dtype=np.int64)
        )

    def remove(self, rows: np.ndarray) -> None:
        import faiss

        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return
        if self.kind == "flat":
            self._index.remove_ids(faiss.IDSelectorBatch(rows))
        else:
            self._removed = np.union1d(self._removed, rows)

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each (n_queries, k), missing hits row -1; only `allowed` rows when given."""
        import faiss

        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self._index.ntotal == 0 or (allowed is not None and len(allowed) == 0):
            return (
                np.full((len(queries), k), -np.inf, dtype=np.float32),
                np.full((len(queries), k), -1, dtype=np.int64),
            )
        # IndexIDMap2 forwards a selector translated to internal ids. Allowed rows come from
        # the live passages, so they never include a row masked out of the HNSW graph.
        selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)) if allowed is not None else None
        if self.kind == "hnsw":
            hnsw = faiss.SearchParametersHNSW(efSearch=max(self.params.ef_search, k))  # type: ignore[attr-defined]
            if selector is not None:
                hnsw.sel = selector
            elif len(self._removed):
                hnsw.sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(self._removed))
            return self._index.search(queries, k, params=hnsw)
        if selector is not None:
            params = faiss.SearchParameters()
            params.sel = selector
            return self._index.search(queries, k, params=params)
        return self._index.search(queries, k)

    def search_among(self, queries: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over the vectors of `rows` only (for filters that allow few passages)."""
        rows = np.asarray(rows, dtype=np.int64)
        out_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_r = np.full((len(queries), k), -1, dtype=np.int64)
        if len(rows) == 0:
            return out_s, out_r
        vectors = self._index.reconstruct_batch(rows)
        scores = np.ascontiguousarray(queries, dtype=np.float32) @ vectors.T
        k_eff = min(k, len(rows))
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k_eff]
        out_s[:, :k_eff] = np.take_along_axis(scores, top, axis=1)
        out_r[:, :k_eff] = rows[top]
        return out_s, out_r

    @classmethod
    def empty(cls, dim: int, params: AnnParams) -> "FaissStore":
        """An empty store of `params.kind`."""
        import faiss

        store = cls(dim, params)
        if params.kind == "hnsw":
            inner = faiss.IndexHNSWFlat(dim, params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = params.ef_construction
            inner.hnsw.efSearch = params.ef_search
            store._index = faiss.IndexIDMap2(inner)
        return store

    @property
    def removed(self) -> np.ndarray:
        """Rows masked out of an HNSW graph (always empty for exact search)."""
        return self._removed

    def ids(self) -> np.ndarray:
        """Every row stored, masked ones included, in storage order."""
        import faiss

        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def iter_vectors(self, batch: int = WRITE_BATCH) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rows, vectors) of everything stored, removed rows excluded, `batch` at a time."""
        ids = self.ids()
        for start in range(0, len(ids), batch):
            rows = ids[start : start + batch]
            vectors = self._index.index.reconstruct_n(start, len(rows))
            keep = ~np.isin(rows, self._removed)
            yield rows[keep], vectors[keep]

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, vectors) of everything stored, removed rows excluded, in one copy."""
        parts = list(self.iter_vectors())
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate([r for r, _ in parts]), np.vstack([v for _, v in parts])

    def vector(self, row: int) -> np.ndarray:
        """The stored vector of one row."""
        return self._index.reconstruct(int(row))

    def is_stale(self) -> bool:
        """Whether so many rows are masked out that the graph should be rebuilt."""
        return self.kind == "hnsw" and len(self._removed) > STALE_SHARE * max(len(self), 1)

    def save(self, directory: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(directory / self.FILE))
        np.save(directory / self.MASK_FILE, self._removed, allow_pickle=False)
        (directory / "ann.json").write_text(json.dumps(self.params.to_dict()), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, dim: int, *, mmap: bool = False) -> "FaissStore":
        """The store saved in `directory`.

        Args:
            mmap: map the vectors read-only instead of reading them (for serving: processes
                share one copy in the page cache); such a store must not be changed.
        """
        import faiss

        params = AnnParams.from_dict(json.loads((directory / "ann.json").read_text(encoding="utf-8")))
        store = cls(dim, params)
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
        store._index = faiss.read_index(str(directory / cls.FILE), flags)
        if store._index.d != dim:
            raise ValueError(f"vectors have {store._index.d} dimensions, the manifest says {dim}")
        store._removed = np.load(directory / cls.MASK_FILE, allow_pickle=False)
        return store


class VectorSpool:
    """Vectors on disk while a write runs: appended batch by batch, read back batch by batch.

    Plain files of int64 rows and float32 vectors, read with ordinary reads (no
    memory map), so what has been spooled never counts against the writer's memory.
    """

    def __init__(self, directory: Path, dim: int, name: str = "spool") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self.rows_path = directory / f"{name}.rows.i64"
        self.vectors_path = directory / f"{name}.vectors.f32"
        self._rows = open(self.rows_path, "wb")
        self._vectors = open(self.vectors_path, "wb")
        self.count = 0

    def append(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(rows), self.dim):
            raise ValueError(f"expected {len(rows)} vectors of {self.dim} dimensions, got {vectors.shape}")
        self._rows.write(rows.tobytes())
        self._vectors.write(vectors.tobytes())
        self.count += len(rows)

    def close(self) -> None:
        self._rows.close()
        self._vectors.close()

    def rows(self) -> np.ndarray:
        """Every row spooled so far (8 bytes each: small beside the vectors)."""
        if not self._rows.closed:
            self._rows.flush()
        return np.fromfile(self.rows_path, dtype=np.int64)

    def batches(
        self, batch: int = WRITE_BATCH, without: np.ndarray | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rows, vectors) `batch` at a time, leaving out the rows in `without`."""
        self.close()
        for start in range(0, self.count, batch):
            n = min(batch, self.count - start)
            rows = np.fromfile(self.rows_path, dtype=np.int64, count=n, offset=start * 8)
            vectors = np.fromfile(
                self.vectors_path, dtype=np.float32, count=n * self.dim, offset=start * self.dim * 4
            ).reshape(n, self.dim)
            if without is not None and len(without):
                keep = ~np.isin(rows, without)
                rows, vectors = rows[keep], vectors[keep]
            yield rows, vectors

    def delete(self) -> None:
        self.close()
        self.rows_path.unlink(missing_ok=True)
        self.vectors_path.unlink(missing_ok=True)


def write_vectors(
    out: Path,
    dim: int,
    params: AnnParams,
    spool: VectorSpool,
    *,
    base: Path | None = None,
    remove_rows: np.ndarray | None = None,
) -> AnnParams:
    """Write a generation's vectors: `base`'s (if any) without `remove_rows`, plus the spool's.

    The base's search parameters win over `params`. Exact or HNSW is chosen by
    the final count; the graph is rebuilt when that choice changes or too many
    rows are masked out, from a copy spilled to disk, never beside a second copy
    in memory.

    Returns:
        The parameters written (for the manifest).
    """
    work = spool.rows_path.parent
    removed = np.asarray(remove_rows if remove_rows is not None else [], dtype=np.int64)
    # Rows removed may also be in the spool: passages this very write added and then dropped.
    new = spool.count - int(np.isin(spool.rows(), removed).sum()) if len(removed) else spool.count
    sources = [spool]
    if base is not None:
        store = FaissStore.load(base, dim)
        store.remove(removed)
        params = store.params
        kind = params.kind_for(len(store) + new)
        if kind == store.kind and not store.is_stale() and not (kind == "hnsw" and store._index.ntotal == 0):
            for rows, vectors in spool.batches(without=removed):
                store.add(rows, vectors)
            store.save(out)
            return store.params
        kept = VectorSpool(work, dim, "kept")
        for rows, vectors in store.iter_vectors():
            kept.append(rows, vectors)
        del store
        sources = [kept, spool]
    else:
        kind = params.kind_for(new)
    fresh = FaissStore.empty(dim, params.with_kind(kind))
    for source in sources:
        for rows, vectors in source.batches(without=removed):
            fresh.add(rows, vectors)
        if source is not spool:
            source.delete()
    fresh.save(out)
    return fresh.params
