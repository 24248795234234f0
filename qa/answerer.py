"""The Python API: `Answerer.load(index_dir).ask(question, top_k=5)`."""

import logging
import time
from pathlib import Path

from newsqa.config import Settings
from newsqa.errors import EmptyQuestion, IndexMismatch, QuestionTooLong
from newsqa.index.backend import Store, open_backend
from newsqa.index.embedders import Embedder, load_embedder
from newsqa.index.filters import SearchFilter
from newsqa.qa.readers import load_reader
from newsqa.qa.retrieval import FusionParams, HybridRetriever, one_per_article
from newsqa.qa.types import Answer, AskResult, Reader

logger = logging.getLogger(__name__)

# Passages the reader reads; its best span's passage becomes the first hit.
READ_PASSAGES = 4
# Runner-up answers returned beside the answer.
ALTERNATIVES = 3


class Answerer:
    """Answers questions from one loaded index; safe to share between threads.

    It owns what is common to every reader: how many passages the reader sees,
    abstention below the confidence threshold, and the order of the cited passages.
    """

    def __init__(
        self,
        snapshot: Store,
        embedder: Embedder,
        reader: Reader,
        *,
        fusion: FusionParams | None = None,
        max_question_chars: int = 500,
        abstain_below: float | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self.reader = reader
        self.retriever = HybridRetriever(snapshot, embedder, fusion)
        self.max_question_chars = max_question_chars
        self.abstain_below = reader.default_threshold if abstain_below is None else abstain_below

    @classmethod
    def load(
        cls,
        index_dir: Path | str | None = None,
        *,
        settings: Settings | None = None,
        model: str | None = None,
    ) -> "Answerer":
        """Load the index the settings name (or the local index at `index_dir`) with its own embedder.

        Raises:
            IndexNotFound: nothing is built there.
            IndexMismatch: `model` names another embedder than the index was built with.
        """
        settings = settings or Settings()
        if index_dir is not None:
            settings = settings.model_copy(update={"backend": "local", "index_dir": Path(index_dir)})
        snapshot = open_backend(settings).open()
        built_with = snapshot.manifest.model
        if model is not None and model != built_with:
            raise IndexMismatch(snapshot.location, built_with, model)
        embedder = load_embedder(
            built_with, device=settings.device, batch_size=settings.batch_size, threads=settings.threads
        )
        answerer = cls(
            snapshot,
            embedder,
            load_reader(settings.reader, snapshot, settings),
            max_question_chars=settings.max_question_chars,
            abstain_below=settings.abstain_below,
        )
        answerer.warm_up()
        return answerer

    def warm_up(self) -> None:
        self.embedder.warm_up()
        self.reader.warm_up()
        if self.embedder.dim != self.snapshot.manifest.dim:
            raise IndexMismatch(
                self.snapshot.location,
                f"{self.snapshot.manifest.model} ({self.snapshot.manifest.dim} dimensions)",
                f"{self.embedder.name} ({self.embedder.dim} dimensions)",
            )

    def check_question(self, question: str) -> str:
        question = (question or "").strip()
        if not question:
            raise EmptyQuestion()
        if len(question) > self.max_question_chars:
            raise QuestionTooLong(len(question), self.max_question_chars)
        return question

    def ask(self, question: str, top_k: int = 5, where: SearchFilter | None = None) -> AskResult:
        """Answer one question.

        Args:
            question: in Chinese (Simplified or Traditional) or English.
            top_k: how many supporting passages to return, one per article.
            where: answer only from the articles this filter allows (dates, sources).

        Returns:
            The answer (None when no passage answers it with enough confidence),
            the runner-up answers, and the passages behind them, the cited one first.
        """
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        started = time.perf_counter()
        question = self.check_question(question)
        hits = self.retriever.search(question, max(top_k * 3, READ_PASSAGES * 2), where)
        answers = self.reader.read(question, hits[:READ_PASSAGES])
        answer = answers[0] if answers and answers[0].confidence >= self.abstain_below else None
        passages = one_per_article(hits, top_k)
        if answer is not None:
            cited = next(h for h in hits if h.passage.id == answer.passage.id)
            passages = [cited] + [h for h in passages if h.article.id != cited.article.id][: top_k - 1]
        took = (time.perf_counter() - started) * 1000
        return AskResult(question, answer, passages, took, _runners_up(answers, answer))


def _runners_up(answers: list[Answer], chosen: Answer | None) -> list[Answer]:
    """The reader's other answers, when it gave one: what "see other answers" shows."""
    if chosen is None:
        return []
    return [a for a in answers[1:] if a.text != chosen.text][:ALTERNATIVES]
