"""Vector stores: passage vectors keyed by passage row, searched by inner product.

`FaissStore` holds them. Below `hnsw_threshold` vectors it is exact
(`IndexFlatIP`); above it, an HNSW graph, whose parameters are recorded in the
manifest. HNSW cannot delete in place, so removed rows are masked out at query
time and the graph is rebuilt once they pass a fraction of it.
"""

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


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

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, vectors) of everything stored, removed rows excluded."""
        import faiss

        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        vectors = self._index.index.reconstruct_n(0, self._index.ntotal)
        keep = ~np.isin(ids, self._removed)
        return ids[keep], vectors[keep]

    def finalize(self) -> None:
        """Choose exact or HNSW by size, and rebuild HNSW when too many rows are masked out."""
        n = len(self)
        want = "hnsw" if n >= self.params.hnsw_threshold else "flat"
        stale = self.kind == "hnsw" and len(self._removed) > 0.1 * max(n, 1)
        if want == self.kind and not stale and not (want == "hnsw" and self._index.ntotal == 0):
            return
        rows, vectors = self.vectors()
        self._build(want, rows, vectors)

    def _build(self, kind: str, rows: np.ndarray, vectors: np.ndarray) -> None:
        import faiss

        self.params = AnnParams.from_dict({**self.params.to_dict(), "kind": kind})
        inner: Any
        if kind == "hnsw":
            inner = faiss.IndexHNSWFlat(self.dim, self.params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = self.params.ef_construction
            inner.hnsw.efSearch = self.params.ef_search
        else:
            inner = faiss.IndexFlatIP(self.dim)
        self._index = faiss.IndexIDMap2(inner)
        self._removed = np.zeros(0, dtype=np.int64)
        self.add(rows, vectors)

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
