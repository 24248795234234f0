"""The Python API: `Answerer.load(index_dir).ask(question, top_k=5)`."""

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from newsqa.config import Settings
from newsqa.errors import IndexMismatch
from newsqa.index.backend import Store, open_backend
from newsqa.index.embedders import Embedder, load_embedder
from newsqa.index.filters import SearchFilter
from newsqa.qa.conversation import Turn, resolve
from newsqa.qa.readers import load_reader
from newsqa.qa.retrieval import FusionParams, HybridRetriever, one_per_article
from newsqa.qa.types import Answer, AskResult, Reader
from newsqa.qa.validation import clean_question

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
        embedder: Embedder | None = None,
    ) -> "Answerer":
        """Load the index the settings name (or the local index at `index_dir`) with its own embedder.

        Args:
            embedder: one already loaded, used when it is the index's model (a server
                reloading the index keeps its embedder instead of loading it again).

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
        if embedder is None or embedder.name != built_with:
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
        """The question cleaned up (see `clean_question`), or an error saying what is wrong with it."""
        return clean_question(question, self.max_question_chars)

    def ask(
        self,
        question: str,
        top_k: int = 5,
        *,
        context: Sequence[Turn] = (),
        where: SearchFilter | None = None,
    ) -> AskResult:
        """Answer one question.

        Args:
            question: in Chinese (Simplified or Traditional) or English.
            top_k: how many supporting passages to return, one per article.
            context: the conversation's earlier turns, oldest first; a follow-up
                ("那同比增长多少？", "他出席了什么会议？") is resolved against them
                (see `qa/conversation.py`), and the previous turn's article is preferred.
            where: answer only from the articles this filter allows (dates, sources).

        Returns:
            The answer (None when no passage answers it with enough confidence),
            the runner-up answers, and the passages behind them, the cited one first.
        """
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        started = time.perf_counter()
        question = self.check_question(question)
        resolution = resolve(question, self._with_title(context))
        asked = resolution.question
        hits = self.retriever.search(
            asked, max(top_k * 3, READ_PASSAGES * 2), where, prefer_article=resolution.prefer_article
        )
        answers = [
            a for a in self.reader.read(asked, hits[:READ_PASSAGES]) if a.text not in resolution.exclude
        ]
        answer = answers[0] if answers and answers[0].confidence >= self.abstain_below else None
        passages = one_per_article(hits, top_k)
        if answer is not None:
            cited = next(h for h in hits if h.passage.id == answer.passage.id)
            passages = [cited] + [h for h in passages if h.article.id != cited.article.id][: top_k - 1]
        took = (time.perf_counter() - started) * 1000
        return AskResult(question, answer, passages, took, _runners_up(answers, answer), asked)

    def _with_title(self, context: Sequence[Turn]) -> Sequence[Turn]:
        """The turns, the last one with its article's title (a pronoun may name the article)."""
        if not context or context[-1].title or not context[-1].article_id:
            return context
        article = self.snapshot.article(context[-1].article_id)
        if article is None:
            return context
        return [*context[:-1], replace(context[-1], title=article.title)]


def _runners_up(answers: list[Answer], chosen: Answer | None) -> list[Answer]:
    """The reader's other answers, when it gave one: what "see other answers" shows."""
    if chosen is None:
        return []
    return [a for a in answers[1:] if a.text != chosen.text][:ALTERNATIVES]
