"""A transformers question-answering model as the reader (`--reader hf:<name-or-path>`).

For users who have an extractive QA model on disk or in their Hugging Face
cache, e.g. a Chinese RoBERTa fine-tuned on CMRC 2018. It keeps the built-in
reader's contract: the answer is a slice of the cited passage (mapped back
through the tokenizer's character offsets), it comes with its sentence and
article offsets, its confidence is a probability, and below the threshold
the reader abstains. Long passages are read in overlapping windows.
Needs the `st` extra (torch and transformers); nothing is downloaded.
"""

import logging
from typing import Any

import numpy as np

from newsqa.errors import ModelUnavailable
from newsqa.index.text import sentence_spans
from newsqa.qa.types import Answer, Hit

logger = logging.getLogger(__name__)

MAX_LENGTH = 384
STRIDE = 128
MAX_ANSWER_TOKENS = 30
DEFAULT_THRESHOLD = 0.1
MAX_ANSWERS = 4


class HFReader:
    """Extractive QA with a transformers model, windowed over long passages."""

    default_threshold = DEFAULT_THRESHOLD

    def __init__(self, name_or_path: str, device: str = "cpu") -> None:
        self.name = f"hf:{name_or_path}"
        self.model_name = name_or_path
        self.device = device
        self._tokenizer: Any = None
        self._model: Any = None

    def warm_up(self) -> None:
        if self._model is not None:
            return
        try:
            import torch  # noqa: F401
            from transformers import AutoModelForQuestionAnswering, AutoTokenizer
        except ImportError as exc:
            raise ModelUnavailable(
                "the hf reader needs torch and transformers: pip install 'newsqa[st]' "
                "(see the README for a CPU-only torch)"
            ) from exc
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(
                self.model_name, local_files_only=True, use_fast=True
            )
            model = AutoModelForQuestionAnswering.from_pretrained(self.model_name, local_files_only=True)
        except Exception as exc:  # transformers raises OSError, ValueError, ... for "not found"
            raise ModelUnavailable(
                f"cannot load question-answering model {self.model_name!r} offline "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]}). Get it on a connected machine "
                f"with `huggingface-cli download {self.model_name}`, or pass a local folder as hf:<path>"
            ) from exc
        if not getattr(self._tokenizer, "is_fast", False):
            raise ModelUnavailable(
                f"{self.model_name!r} has no fast tokenizer, which the reader needs to map answers back "
                "to characters: save a tokenizer.json with the model"
            )
        self._model = model.to(self.device).eval()

    def read(self, question: str, hits: list[Hit]) -> list[Answer]:
        """The model's best spans over `hits`, best first, distinct in text."""
        import torch

        self.warm_up()
        if not hits:
            return []
        encoded = self._tokenizer(
            [question] * len(hits),
            [h.passage.text for h in hits],
            truncation="only_second",
            max_length=MAX_LENGTH,
            stride=STRIDE,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=True,
            return_tensors="pt",
        )
        window_of = encoded.pop("overflow_to_sample_mapping").tolist()
        offsets = encoded.pop("offset_mapping").tolist()
        inputs = {k: v.to(self.device) for k, v in encoded.items()}
        with torch.no_grad():
            output = self._model(**inputs)
        starts = torch.log_softmax(output.start_logits, dim=-1).cpu().numpy()
        ends = torch.log_softmax(output.end_logits, dim=-1).cpu().numpy()
        spans: list[tuple[float, int, int, int]] = []  # (log prob, hit index, char start, char end)
        for w in range(len(window_of)):
            context = np.array([sid == 1 for sid in encoded.sequence_ids(w)])
            if not context.any():
                continue
            s_scores = np.where(context, starts[w], -np.inf)
            e_scores = np.where(context, ends[w], -np.inf)
            for s in np.argsort(-s_scores)[:20]:
                for e in np.argsort(-e_scores)[:20]:
                    if (
                        e < s
                        or e - s + 1 > MAX_ANSWER_TOKENS
                        or not (np.isfinite(s_scores[s]) and np.isfinite(e_scores[e]))
                    ):
                        continue
                    a, b = offsets[w][s][0], offsets[w][e][1]
                    if b > a:
                        spans.append((float(s_scores[s] + e_scores[e]), window_of[w], a, b))
        answers: list[Answer] = []
        for score, hit_index, a, b in sorted(spans, key=lambda x: -x[0]):
            answer = _answer(hits[hit_index], a, b, float(np.exp(score)))
            if answer is not None and all(answer.text != other.text for other in answers):
                answers.append(answer)
                if len(answers) == MAX_ANSWERS:
                    break
        return answers


def _answer(hit: Hit, a: int, b: int, confidence: float) -> Answer | None:
    """The span a:b of the passage, trimmed of spaces, inside its sentence."""
    text = hit.passage.text
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if a >= b:
        return None
    s_start, s_end = next(((s, e) for s, e in sentence_spans(text) if s <= a < e), (0, len(text)))
    return Answer.from_span(hit, a, b, min(s_start, a), max(s_end, b), confidence)
