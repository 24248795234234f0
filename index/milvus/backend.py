"""`MilvusBackend`: an index in Milvus, reached by an alias (`index.backend.Backend`)."""

from collections.abc import Callable
from typing import Any

from newsqa.config import Settings
from newsqa.errors import IndexNotFound
from newsqa.index.backend import Store, StoreWriter
from newsqa.index.chunking import PassageSplitter
from newsqa.index.embedders import Embedder
from newsqa.index.layout import Manifest
from newsqa.index.milvus.client import Milvus, build_options
from newsqa.index.milvus.store import MilvusStore, live_generation, read_manifest
from newsqa.index.sources import SourceProblem


class MilvusBackend:
    """The index behind `alias` in the Milvus at `uri` (a server, or a Milvus Lite file)."""

    name = "milvus"

    def __init__(self, milvus: Milvus, alias: str, *, shards: int = 1, replicas: int = 1) -> None:
        self.milvus = milvus
        self.alias = alias
        self.shards = shards
        self.replicas = replicas

    @classmethod
    def from_settings(cls, settings: Settings) -> "MilvusBackend":
        assert settings.milvus_uri is not None  # Settings checks it for backend 'milvus'
        return cls(
            Milvus(settings.milvus_uri, settings.milvus_token, settings.milvus_timeout),
            settings.milvus_collection,
            shards=settings.milvus_shards,
            replicas=settings.milvus_replicas,
        )

    @property
    def location(self) -> str:
        return f"{self.milvus.uri} (Milvus collection {self.alias!r})"

    def exists(self) -> bool:
        return live_generation(self.milvus, self.alias) is not None

    def pointer(self) -> str | None:
        generation = live_generation(self.milvus, self.alias)
        return generation.name if generation is not None else None

    def manifest(self) -> Manifest:
        generation = live_generation(self.milvus, self.alias)
        if generation is None:
            raise IndexNotFound(self.location, build_options(self.milvus, self.alias))
        return read_manifest(self.milvus, generation)

    def info(self) -> dict[str, Any]:
        generation = live_generation(self.milvus, self.alias)
        if generation is None:
            raise IndexNotFound(self.location, build_options(self.milvus, self.alias))
        return {
            "backend": self.name,
            "milvus_uri": self.milvus.uri,
            "collection": self.alias,
            "generation": generation.name,
            "collections": list(generation.collections),
            **read_manifest(self.milvus, generation).to_dict(),
        }

    def open(self) -> Store:
        return MilvusStore.open(self.milvus, self.alias, replicas=self.replicas)

    def writer(
        self,
        embedder: Embedder,
        splitter: PassageSplitter | None = None,
        *,
        progress: bool = False,
        on_problem: Callable[[SourceProblem], None] | None = None,
    ) -> StoreWriter:
        from newsqa.index.milvus.writer import MilvusWriter

        return MilvusWriter(
            self.milvus,
            self.alias,
            embedder,
            splitter,
            shards=self.shards,
            progress=progress,
            on_problem=on_problem,
        )
