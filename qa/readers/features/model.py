"""The feature reader's learned model: span weights (linear, plus one ReLU layer when learned
with one), and the logistic confidence model over the best span's score, its margin over the
runner-up and how well its sentence and passage cover the question."""

import json
import math
from dataclasses import dataclass
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from newsqa.errors import ModelUnavailable
from newsqa.qa.readers.features.columns import FEATURE_NAMES

WEIGHTS_FILE = "weights.json"


@dataclass(frozen=True)
class ReaderWeights:
    """Learned span weights, confidence model and abstention threshold."""

    span: np.ndarray
    hidden: dict[str, np.ndarray] | None
    confidence: dict[str, float]
    threshold: float
    info: dict[str, Any]

    @classmethod
    def load(cls, path: Path | Traversable | None = None) -> "ReaderWeights":
        """The weights in `path` (default: the ones shipped with newsqa).

        Raises:
            ModelUnavailable: the file is missing, unreadable, or learned for other features.
        """
        source = path or files("newsqa.qa.readers.features") / WEIGHTS_FILE
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
            names = data["feature_names"]
            hidden = data.get("hidden")
            weights = cls(
                span=np.asarray(data["span_weights"], dtype=np.float32),
                hidden={k: np.asarray(v, dtype=np.float32) for k, v in hidden.items()} if hidden else None,
                confidence={k: float(v) for k, v in data["confidence"].items()},
                threshold=float(data["threshold"]),
                info=data.get("info", {}),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelUnavailable(
                f"cannot read the feature reader's weights {source} ({type(exc).__name__}: {exc}): "
                "reinstall newsqa, or learn them with `python -m tools.learn_reader`"
            ) from exc
        if names != FEATURE_NAMES or weights.span.shape != (len(FEATURE_NAMES),):
            differ = len(set(FEATURE_NAMES) ^ set(names))
            raise ModelUnavailable(
                f"{source} was learned for other features ({differ} differ): "
                "learn weights for this code with `python -m tools.learn_reader`"
            )
        return weights

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Span scores: linear, plus one ReLU layer when the weights have one."""
        s = features @ self.span
        if self.hidden is not None:
            h = np.maximum(features @ self.hidden["W"].T + self.hidden["c"], 0.0)
            s = s + h @ self.hidden["v"]
        return s


def confidence_features(
    scores: np.ndarray,
    texts: list[str],
    sentence_stats: list[dict[str, float]],
    sentence_of: list[int],
    best: int,
) -> dict[str, float]:
    """What the confidence model sees about the best candidate."""
    order = np.argsort(-scores)
    top = scores[best]
    runner = next(
        (scores[i] for i in order[1:] if texts[i] != texts[best] and texts[best] not in texts[i]), top - 5.0
    )
    probs = np.exp(scores - top)
    return {
        "score": float(top),
        "margin": float(min(top - runner, 5.0)),
        "share": float(probs[best] / probs.sum()),
        **sentence_stats[sentence_of[best]],
    }


def confidence(weights: dict[str, float], feats: dict[str, float]) -> float:
    """The logistic confidence model: a probability that the span answers the question."""
    z = weights.get("bias", 0.0) + sum(weights.get(k, 0.0) * v for k, v in feats.items())
    return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))
