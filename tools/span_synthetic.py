"""Synthetic questions from training passages: a name, place, date or number is masked in its
clause and the matching question word put in its place.

"柳州上半年地区生产总值1472.3亿元" → "柳州上半年地区生产总值是多少？", answer "1472.3亿元".
They are made from training articles only, and teach answer types and
boundaries (a number keeps its unit, a name is whole) more than reading.
"""

import random
import re

from newsqa.index.text import sentence_spans
from newsqa.qa.questions import UNITS
from tools.span_data import Question, ReadCorpus

# rjieba tag group → question word
_WH = {"nr": "谁", "ns": "哪里", "t": "什么时候", "m": "多少"}
_UNIT_TAGS = {"m", "q", "mq"}
_UNITS = frozenset(UNITS)
_CLAUSE_MARKS = re.compile(r"[，,；;：:]")


def _group(tag: str) -> str:
    if tag in ("nr", "nrfg", "nrt"):
        return "nr"
    if tag in ("ns", "nsf"):
        return "ns"
    return tag if tag in _WH else ""


def _candidates(text: str, words: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str]]:
    """(start, end, group) of maximal runs that can be answers: a name, a place, an organisation,
    a date, or a number with what follows it (its unit)."""
    out = []
    i = 0
    while i < len(words):
        s, e, w, tag = words[i]
        group = _group(tag)
        if not group or not w.strip():
            i += 1
            continue
        j = i + 1
        while j < len(words) and (
            _group(words[j][3]) == group
            or (group == "m" and (words[j][3] in _UNIT_TAGS or words[j][2] in _UNITS))
            or (group == "nr" and words[j][2] in "·•" and j + 1 < len(words))
            or (group == "nr" and words[j - 1][2] in "·•")
        ):
            j += 1
        end = words[j - 1][1]
        span = text[s:end]
        if group in ("m", "t") and not any(c.isdigit() for c in span):
            group = ""  # "一些", "今年": not what anyone asks for
        if group == "nr" and (end - s < 2 or text[max(0, s - 1) : s] == "的"):
            group = ""  # a lone surname, or a noun rjieba took for a name
        if group and 1 <= end - s <= 20:
            out.append((s, end, group))
        i = j
    return out


def synthetic_questions(
    read: ReadCorpus, articles: list[int], per_question: float, rng: random.Random
) -> list[int]:
    """Append synthetic questions about passages of `articles` to the corpus; their indices.

    Args:
        read: the read corpus (questions and their features are appended to it).
        articles: training articles only.
        per_question: how many synthetic questions per real question of those articles.
        rng: seeded.
    """
    corpus = read.corpus
    wanted = int(per_question * sum(len(corpus.articles[a].questions) for a in articles))
    featurizer = read.featurizer
    made: list[int] = []
    passages = [p for p, (a, _, _) in enumerate(corpus.passages) if a in set(articles)]
    attempts = 0
    while len(made) < wanted and attempts < wanted * 20:
        attempts += 1
        p = rng.choice(passages)
        a, base, _ = corpus.passages[p]
        feats = read.passages[p]
        text = corpus.passage_text(p)
        folded = "".join(feats.words.texts)
        words = [
            (int(s), int(e), w, t)
            for s, e, w, t in zip(
                feats.words.starts, feats.words.ends, feats.words.texts, feats.words.tags, strict=True
            )
        ]
        cands = _candidates(folded, words)
        if not cands:
            continue
        s, e, group = rng.choice(cands)
        clause = _clause(text, s, e)
        if clause is None:
            continue
        cs, ce = clause
        if group == "m" and re.search(r"[年月日]|世纪", text[s:e]):
            group = "t"
        wh = _WH[group]
        if group == "m" and s > cs and not text[cs:s].rstrip().endswith(("是", "为", "达", "有", "约", "共")):
            wh = "是多少"
        question = (text[cs:s] + wh + text[e:ce]).strip(" ，,。") + "？"
        if len(question) < 6 or text[s:e] in question:
            continue
        corpus.questions.append(
            Question(question, a, [text[s:e]], [(base + s, base + e)], f"synthetic-{len(made)}")
        )
        read.questions.append(featurizer.question(question))
        made.append(len(corpus.questions) - 1)
    return made


def _clause(text: str, s: int, e: int) -> tuple[int, int] | None:
    """The clause around text[s:e], at most 40 characters, that says more than the answer."""
    for a, b in sentence_spans(text):
        if a <= s and e <= b:
            left = max((m.end() for m in _CLAUSE_MARKS.finditer(text, a, s)), default=a)
            right = min((m.start() for m in _CLAUSE_MARKS.finditer(text, e, b)), default=b)
            if right - left > 40 or (right - left) - (e - s) < 4:
                return None
            return left, right
    return None
