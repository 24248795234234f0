"""Evaluation on SQuAD-style data, open-domain: every question against the whole index.

For each question newsqa and a plain baseline (BM25 alone, then the sentence
that shares most words with the question) answer in the same run. Figures:
hit@1 and hit@5 (the gold article among the cited passages), EM and F1 in the
CMRC 2018 style (abstentions score 0), answered and abstained rates, and the
latency of `ask`.
"""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from newsqa.errors import DataFileError
from newsqa.index.filters import SearchFilter
from newsqa.index.sources import as_text, squad_articles, squad_title
from newsqa.index.text import normalize, sentence_spans
from newsqa.index.types import content_id
from newsqa.qa.answerer import Answerer
from newsqa.qa.metrics import exact_match, f1
from newsqa.qa.questions import analyze
from newsqa.qa.retrieval import FusionParams, HybridRetriever, one_per_article
from newsqa.qa.types import Answer, AskResult, Hit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    answers: list[str]
    article_id: str
    title: str = ""
    paragraph: str = ""
    """The question's own paragraph (its SQuAD `context`), for reading it given the right passage."""


def squad_entries(path: Path) -> list[Any]:
    """The `data` list of a SQuAD-style file.

    Raises:
        DataFileError: the file cannot be read or is not SQuAD-style JSON at all.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"cannot read {path}: {exc}") from exc
    except (ValueError, RecursionError) as exc:
        raise DataFileError(f"{path} is not valid JSON ({str(exc).splitlines()[0][:120]})") from exc
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise DataFileError(f'{path} is not SQuAD-style JSON: expected {{"data": [...]}}')
    return entries


def load_squad(path: Path, on_problem: Callable[[str], None] | None = None) -> tuple[list[EvalQuestion], int]:
    """The questions of a SQuAD-style file, each with the id of its gold article, and how many articles.

    Answers given as numbers (`"text": 180`) count as their text ("180"). A
    question that cannot be used (no question text, answers of the wrong
    type) is skipped, and `on_problem` gets one line naming the file, the item
    and the reason; questions with no answer at all are skipped silently.

    Raises:
        DataFileError: the file cannot be read or is not SQuAD-style JSON at all.
    """
    path = Path(path)
    problem = on_problem or (lambda message: logger.warning("%s", message))
    entries = squad_entries(path)
    ids = {
        title: content_id(title or text[:40], text)
        for title, text in squad_articles(entries, lambda message: problem(f"{path}: {message}"))
    }
    questions = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("paragraphs"), list):
            continue  # reported by squad_articles
        article_id = ids.get(squad_title(entry))
        for j, paragraph in enumerate(entry["paragraphs"]):
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if qas is None:
                continue
            if not isinstance(qas, list):
                problem(f'{path}: data[{i}].paragraphs[{j}]: "qas" must be a list, got {type(qas).__name__}')
                continue
            for k, qa in enumerate(qas):
                where = f"{path}: data[{i}].paragraphs[{j}].qas[{k}]"
                try:
                    question, answers = _question(qa)
                except ValueError as exc:
                    problem(f"{where}: {exc}; skipped")
                    continue
                if article_id and answers:
                    context = paragraph.get("context")
                    context = context.strip() if isinstance(context, str) else ""
                    questions.append(EvalQuestion(question, answers, article_id, squad_title(entry), context))
    return questions, len(ids)


def _question(qa: Any) -> tuple[str, list[str]]:
    """(question, answer texts) of one SQuAD `qas` item; ValueError says what is wrong."""
    if not isinstance(qa, dict):
        raise ValueError(f"expected an object, got {type(qa).__name__}")
    label = qa.get("id")
    label = f" (id {label})" if isinstance(label, str | int) and not isinstance(label, bool) else ""
    question = (as_text(qa.get("question"), f'"question"{label}') or "").strip()
    if not question:
        raise ValueError(f"no question text{label}")
    answers = qa.get("answers")
    if answers is None:
        return question, []
    if not isinstance(answers, list):
        raise ValueError(f'"answers"{label} must be a list, got {type(answers).__name__}')
    texts = []
    for n, answer in enumerate(answers):
        value = answer.get("text") if isinstance(answer, dict) else answer
        text = as_text(value, f"answer {n}{label}")
        if text is not None and text.strip():
            texts.append(text)
    return question, texts


@dataclass
class Figures:
    questions: int = 0
    hit_at_1: float = 0.0
    hit_at_5: float = 0.0
    em: float = 0.0
    f1: float = 0.0
    answered: float = 0.0
    abstained: float = 0.0
    em_when_answered: float = 0.0
    f1_when_answered: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    by_type: dict[str, dict[str, float]] = field(default_factory=dict)


class _Tally:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, q: EvalQuestion, result: AskResult, qtype: str) -> None:
        articles = [h.article.id for h in result.hits]
        text = result.answer.text if result.answer else None
        self.rows.append(
            {
                "hit1": articles[:1] == [q.article_id],
                "hit5": q.article_id in articles[:5],
                "answered": text is not None,
                "em": exact_match(text, q.answers) if text is not None else 0.0,
                "f1": f1(text, q.answers) if text is not None else 0.0,
                "ms": result.took_ms,
                "qtype": qtype,
            }
        )

    def figures(self) -> Figures:
        rows = self.rows
        n = len(rows) or 1
        answered = [r for r in rows if r["answered"]]
        ms = np.array([r["ms"] for r in rows]) if rows else np.zeros(1)
        by_type: dict[str, dict[str, float]] = {}
        for qtype in sorted({r["qtype"] for r in rows}):
            sub = [r for r in rows if r["qtype"] == qtype]
            by_type[qtype] = {
                "questions": len(sub),
                "em": round(sum(r["em"] for r in sub) / len(sub), 4),
                "f1": round(sum(r["f1"] for r in sub) / len(sub), 4),
            }
        return Figures(
            questions=len(rows),
            hit_at_1=round(sum(r["hit1"] for r in rows) / n, 4),
            hit_at_5=round(sum(r["hit5"] for r in rows) / n, 4),
            em=round(sum(r["em"] for r in rows) / n, 4),
            f1=round(sum(r["f1"] for r in rows) / n, 4),
            answered=round(len(answered) / n, 4),
            abstained=round(1 - len(answered) / n, 4),
            em_when_answered=round(sum(r["em"] for r in answered) / max(len(answered), 1), 4),
            f1_when_answered=round(sum(r["f1"] for r in answered) / max(len(answered), 1), 4),
            latency_p50_ms=round(float(np.percentile(ms, 50)), 2),
            latency_p95_ms=round(float(np.percentile(ms, 95)), 2),
            by_type=by_type,
        )


class BestSentenceReader:
    """The baseline reader: the sentence of the first three passages sharing most question words."""

    name = "baseline"
    default_threshold = 0.5

    def warm_up(self) -> None:
        pass

    def read(self, question: str, hits: list[Hit]) -> list[Answer]:
        q_terms = set(analyze(question).terms)
        best: tuple[float, Hit, int, int] | None = None
        for hit in hits[:3]:
            norm = normalize(hit.passage.text)
            for a, b in sentence_spans(hit.passage.text):
                overlap = sum(len(t) for t in q_terms if t in norm[a:b])
                if best is None or overlap > best[0]:
                    best = (overlap, hit, a, b)
        if best is None or best[0] == 0:
            return []
        _, hit, a, b = best
        return [Answer.from_span(hit, a, b, a, b, 1.0)]


class BaselineAnswerer:
    """BM25 alone, then the best sentence (`BestSentenceReader`)."""

    def __init__(self, answerer: Answerer) -> None:
        self.retriever = HybridRetriever(
            answerer.snapshot, answerer.embedder, FusionParams(method="weighted", lexical_weight=1.0)
        )
        self.reader = BestSentenceReader()

    def ask(self, question: str, top_k: int = 5, where: SearchFilter | None = None) -> AskResult:
        started = time.perf_counter()
        hits = self.retriever.search_lexical(question, max(top_k * 3, 10), where)
        answers = self.reader.read(question, hits)
        took = (time.perf_counter() - started) * 1000
        return AskResult(question, answers[0] if answers else None, one_per_article(hits, top_k), took)


def evaluate(
    answerer: Answerer,
    questions: list[EvalQuestion],
    *,
    baseline: bool = True,
    progress: Callable[[int], object] | None = None,
    where: SearchFilter | None = None,
) -> dict[str, Figures]:
    """Ask every question (among the articles `where` allows); figures for newsqa and, from the
    same run, the baseline."""
    systems: dict[str, Any] = {"newsqa": answerer}
    if baseline:
        systems["baseline"] = BaselineAnswerer(answerer)
    tallies = {name: _Tally() for name in systems}
    for i, q in enumerate(questions):
        qtype = analyze(q.question).qtype.value
        for name, system in systems.items():
            tallies[name].add(q, system.ask(q.question, top_k=5, where=where), qtype)
        if progress:
            progress(i + 1)
    return {name: tally.figures() for name, tally in tallies.items()}


def figures_table(results: dict[str, Figures]) -> str:
    columns = [
        ("hit@1", "hit_at_1"),
        ("hit@5", "hit_at_5"),
        ("EM", "em"),
        ("F1", "f1"),
        ("answered", "answered"),
        ("abstained", "abstained"),
        ("EM|ans", "em_when_answered"),
        ("F1|ans", "f1_when_answered"),
        ("p50 ms", "latency_p50_ms"),
        ("p95 ms", "latency_p95_ms"),
    ]
    lines = ["system    " + "".join(f"{c:>10}" for c, _ in columns)]
    for name, fig in results.items():
        values = asdict(fig)
        lines.append(
            f"{name:<10}"
            + "".join(
                f"{values[k]:>10.3f}" if isinstance(values[k], float) else f"{values[k]:>10}"
                for _, k in columns
            )
        )
    return "\n".join(lines)
