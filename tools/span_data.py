"""Training data for the span reader: SQuAD-style files → passages, questions, examples.

Articles are built exactly as `newsqa index build` builds them from a SQuAD-style
file (one article per title, paragraphs joined by newlines) and split by the
same PassageSplitter, so the reader trains on the passages it will read.
Each question becomes a positive example on every passage that holds a gold
answer, and negatives: a passage of its own article without the answer, the
best BM25 passage of another article, and a passage of its article paired with
a question about another article (a shuffled question).
"""

import random
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from newsqa.index.chunking import PassageSplitter
from newsqa.index.lexical import BM25Index
from newsqa.index.postings import PostingsWriter
from newsqa.index.sources import as_text, squad_articles, squad_title
from newsqa.index.text import terms
from newsqa.qa.evaluate import squad_entries
from newsqa.qa.readers.span.features import Featurizer, QuestionFeatures, TextFeatures, span_edges


@dataclass
class Question:
    text: str
    article: int  # index into the articles
    answers: list[str]
    spans: list[tuple[int, int]]  # gold answers as offsets into the article text
    qid: str = ""


@dataclass
class Article:
    title: str
    text: str
    passages: list[tuple[int, int]]  # (start, end) in text
    questions: list[int] = field(default_factory=list)


@dataclass
class Corpus:
    articles: list[Article]
    questions: list[Question]
    passages: list[tuple[int, int, int]]  # (article, start, end), all passages of all articles

    def passage_text(self, p: int) -> str:
        a, s, e = self.passages[p]
        return self.articles[a].text[s:e]


def load_corpus(paths: list[Path], passage_chars: int = 300, overlap: int = 60) -> Corpus:
    """Articles, passages and questions of SQuAD-style files (gold offsets into the articles)."""
    splitter = PassageSplitter(passage_chars, overlap)
    articles: list[Article] = []
    questions: list[Question] = []
    for path in paths:
        data = squad_entries(Path(path))
        index_of: dict[str, int] = {}
        offsets: dict[str, int] = {}
        for title, text in squad_articles(data):
            index_of[title] = len(articles)
            articles.append(Article(title, text, splitter.spans(text)))
        for entry in data:
            title = squad_title(entry)
            if title not in index_of:
                continue
            a = index_of[title]
            text = articles[a].text
            for paragraph in entry.get("paragraphs", []):
                raw = paragraph.get("context") or ""
                context = raw.strip()
                if not context:
                    continue
                base = text.find(context, offsets.get(title, 0))
                offsets[title] = base + len(context)
                lead = len(raw) - len(raw.lstrip())
                for qa in paragraph.get("qas", []):
                    spans, answers = [], []
                    for ans in qa.get("answers", []):
                        try:  # numbers count as their text, as for every SQuAD reader here
                            t = (as_text(ans.get("text"), "answer") or "").strip()
                            s = int(ans.get("answer_start", -1)) - lead
                        except (ValueError, TypeError):
                            continue
                        if not t:
                            continue
                        if context[s : s + len(t)] != t:
                            s = _nearest(context, t, s)
                        if s < 0:
                            continue
                        answers.append(t)
                        spans.append((base + s, base + s + len(t)))
                    if spans and qa.get("question", "").strip():
                        articles[a].questions.append(len(questions))
                        questions.append(
                            Question(qa["question"].strip(), a, answers, sorted(set(spans)), qa.get("id", ""))
                        )
    passages = [(a, s, e) for a, art in enumerate(articles) for s, e in art.passages]
    return Corpus(articles, questions, passages)


def _nearest(context: str, answer: str, near: int) -> int:
    found = [m.start() for m in re.finditer(re.escape(answer), context)]
    return min(found, key=lambda s: abs(s - near)) if found else -1


def split_articles(corpus: Corpus, heldout: float, seed: int) -> tuple[list[int], list[int]]:
    """Article indices for training and for held-out selection (by article, never by question)."""
    order = list(range(len(corpus.articles)))
    random.Random(seed).shuffle(order)
    n = int(round(len(order) * heldout))
    return sorted(order[n:]), sorted(order[:n])


def bm25_over(corpus: Corpus) -> BM25Index:
    """A BM25 index of the corpus's passages (row = passage index), for IDF and hard negatives."""
    with tempfile.TemporaryDirectory(prefix="newsqa-train-bm25-") as scratch:
        writer = PostingsWriter(Path(scratch) / "work")
        for p in range(len(corpus.passages)):
            writer.add(p, terms(corpus.passage_text(p)))
        writer.write(Path(scratch) / "bm25")
        return BM25Index.load(Path(scratch) / "bm25")


@dataclass
class Example:
    question: int
    passage: int
    spans: list[tuple[int, int]]  # gold (start atom, end atom), inclusive; empty: no answer here
    kind: str  # "gold", "same-article", "retrieved", "shuffled", "synthetic"


def gold_atoms(feats: TextFeatures, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Gold character spans (relative to the passage) → atom spans snapped out to whole words,
    then in from edges where no answer may start or end (punctuation, see span_edges)."""
    seq = feats.atoms
    start_ok, end_ok = span_edges(feats)
    ok_start = np.flatnonzero(seq.word_start)
    ok_end = np.flatnonzero(seq.word_end)
    out = []
    for s, e in spans:
        starts = ok_start[seq.starts[ok_start] <= s]
        ends = ok_end[seq.ends[ok_end] >= e]
        if not (len(starts) and len(ends)):
            continue
        a, b = int(starts[-1]), int(ends[0])
        while a <= b and not start_ok[a]:
            a += 1
        while b >= a and not end_ok[b]:
            b -= 1
        if a <= b:
            out.append((a, b))
    return sorted(set(out))


@dataclass
class ReadCorpus:
    """A corpus with every passage and question read by the featurizer."""

    corpus: Corpus
    passages: list[TextFeatures]
    questions: list[QuestionFeatures]
    featurizer: Featurizer


def read_corpus(corpus: Corpus, featurizer: Featurizer) -> ReadCorpus:
    passages = [featurizer.text(corpus.passage_text(p)) for p in range(len(corpus.passages))]
    questions = [featurizer.question(q.text) for q in corpus.questions]
    return ReadCorpus(corpus, passages, questions, featurizer)


def passage_spans(corpus: Corpus, q: Question, p: int) -> list[tuple[int, int]]:
    """Gold spans of q inside passage p, relative to the passage."""
    a, s, e = corpus.passages[p]
    if a != q.article:
        return []
    return [(gs - s, ge - s) for gs, ge in q.spans if gs >= s and ge <= e]


def build_examples(
    read: ReadCorpus,
    question_ids: list[int],
    bm25: BM25Index,
    rng: random.Random,
    negatives: bool = True,
) -> list[Example]:
    """Positives on every passage holding a gold answer; negatives as the module says."""
    corpus = read.corpus
    by_article: dict[int, list[int]] = {}
    for p, (a, _, _) in enumerate(corpus.passages):
        by_article.setdefault(a, []).append(p)
    examples: list[Example] = []
    pool = list(question_ids)
    for qi in question_ids:
        q = corpus.questions[qi]
        holding = []
        for p in by_article[q.article]:
            spans = gold_atoms(read.passages[p], passage_spans(corpus, q, p))
            if spans:
                holding.append(p)
                examples.append(Example(qi, p, spans, "gold"))
        if not negatives or not holding:
            continue
        text_of = corpus.passage_text
        others = [
            p
            for p in by_article[q.article]
            if p not in holding and not any(a in text_of(p) for a in q.answers)
        ]
        if others:
            examples.append(Example(qi, rng.choice(others), [], "same-article"))
        rows, _ = bm25.search(terms(q.text), 20)
        retrieved = [
            int(r)
            for r in rows
            if corpus.passages[int(r)][0] != q.article and not any(a in text_of(int(r)) for a in q.answers)
        ]
        if retrieved:
            examples.append(Example(qi, retrieved[0], [], "retrieved"))
        other_q = rng.choice(pool)
        if corpus.questions[other_q].article != q.article:
            p = rng.choice(holding)
            if not any(a in text_of(p) for a in corpus.questions[other_q].answers):
                examples.append(Example(other_q, p, [], "shuffled"))
    return examples
