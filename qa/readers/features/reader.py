"""The built-in extractive reader: from the top passages, the sentence that answers,
then the shortest span inside it that answers.

No extractive QA model installs offline, so this reader is feature-based:
1. every sentence of the top passages is scored by how much of the question it
   covers (IDF-weighted words, character bigrams, the longest shared stretch);
2. inside the best sentences, candidate spans are generated from word
   segmentation (rjieba with part-of-speech tags), from patterns for numbers,
   dates and units, and from clause boundaries;
3. each candidate gets features: does it have the type the question word asks
   for, do the words before/after the question word stand before/after it in
   the sentence, is it near the matched words, does it repeat the question, its
   length and parts of speech, each crossed with the question type;
4. a linear model scores the candidates; its weights were learned on the shared
   dev sets by tools/learn_reader.py and ship as weights.json;
5. a small logistic model turns the best score, its margin and the coverage
   into a confidence in [0, 1]; below a threshold the reader abstains.

The answer text is always a slice of the cited passage.
"""

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from newsqa.index.text import CLOSERS, is_punctuation, normalize, sentence_spans
from newsqa.qa.questions import UNITS, QType, Question, analyze
from newsqa.qa.types import Answer, Hit

WEIGHTS_FILE = "weights.json"

# How much of the retrieved text is read.
MAX_ANSWERS = 4  # the answer and its runners-up
READ_SENTENCES = 6
MAX_SPAN_TOKENS = 7

_HARD_MARKS = set("，,；;：:。！？!?…\n")
_SOFT_MARKS = set("、")
_OPENERS = set("“‘「『（(《〈【[\"'")
_FUNCTION_EDGE = set("的了是在和与及或而把被对从向于为也都就还将并且着过")

_DIGITS = r"[0-9０-９]"
_CN_NUM = "零〇一二三四五六七八九十百千万亿两几半"
_NUMBER = rf"(?:{_DIGITS}+(?:[.,，]{_DIGITS}+)*|[{_CN_NUM}]+)"
_UNIT_ALT = "|".join(re.escape(u) for u in UNITS)
_NUMBER_UNIT_RE = re.compile(
    rf"(?:约|近|第)?{_NUMBER}(?:多|余|几)?(?:%|％|‰|(?:{_UNIT_ALT}))*(?:左右|多|余)?"
)
_DATE_RE = re.compile(
    rf"(?:(?:公元前?|西元前?)?{_NUMBER}年(?:代)?)?(?:{_NUMBER}月)?(?:{_NUMBER}[日号])?(?:(?:上午|下午|晚上|凌晨)?{_NUMBER}[时点](?:{_NUMBER}分)?)?"
    rf"|{_NUMBER}世纪(?:{_NUMBER}年代)?(?:初|中|末|初期|中期|末期|中叶)?"
    rf"|(?:春|夏|秋|冬)(?:季|天)|[上下]半年|(?:今|去|明|前)年"
)
_PERSON_TAGS = {"nr", "nrfg", "nrt"}
_PLACE_TAGS = {"ns", "nt", "nsf"}
_NOUN_TAGS = {"n", "nz", "nr", "nrfg", "nrt", "ns", "nt", "nsf", "eng", "vn", "nl", "ng"}

_POS_GROUPS = ("n", "nr", "ns", "nt", "nz", "m", "t", "v", "a", "eng", "x", "other")
_LEN_BUCKETS = (2, 4, 8, 16, 32)
_KINDS = ("token", "entity", "clause", "tail", "head", "sentence")


def _pos_group(tag: str) -> str:
    if tag in _PERSON_TAGS:
        return "nr"
    if tag in _PLACE_TAGS:
        return "ns" if tag != "nt" else "nt"
    if tag in ("nz", "eng", "m", "t", "x"):
        return tag
    if tag.startswith("n"):
        return "n"
    if tag.startswith("v"):
        return "v"
    if tag.startswith("a"):
        return "a"
    return "other"


# ---------------------------------------------------------------- feature names
def _feature_names() -> list[str]:
    base = [
        "bias",
        "sent_cover",  # IDF-weighted share of question words in the sentence
        "sent_bigram",  # share of question character bigrams in the sentence
        "sent_lcs",  # longest shared stretch with the question / its length
        "sent_best",  # 1 for the best-covering sentence
        "passage_score",  # fused retrieval score of the passage
        "passage_first",
        "context_cover",  # question words in the sentences around it
        "left_align",  # words before the question word stand right before the span
        "right_align",  # words after the question word stand right after the span
        "left_align_any",
        "right_align_any",
        "near",  # closeness to matched question words
        "far",
        "q_overlap",  # share of the span's characters that occur in the question
        "q_term_inside",  # the span contains a whole question word
        "unit_match",  # the span ends with the unit named after 几/多少
        "year_q*year_span",  # the grain of a date asked for against the grain of the span
        "year_q*day_span",
        "day_q*year_span",
        "day_q*day_span",
        "when_q*year_span",
        "when_q*day_span",
        "when_q*month_span",
        "year_q*entity_part",  # the span is a proper part of a longer date ("2024年" of "2024年8月1日")
        "day_q*entity_part",
        "when_q*entity_part",
        "cat_suffix",  # the span ends with the noun asked about ("哪一个民族" → …族)
        "cat_last_char",
        "cat_inside",
        "left_terms_before",  # question words before the question word occur before the span
        "right_terms_after",  # question words after the question word occur after the span
        "left_terms_wrong_side",  # (active questions)
        "left_terms_wrong_side_passive",  # in "被/由 + question word" questions the order flips
        "right_terms_wrong_side",
        "left_term_gap",  # closeness of the nearest word of the question's left part before the span
        "right_term_gap",  # closeness of the nearest word of its right part after the span
        "sent_left_cover",  # share of the left part's words in the sentence
        "sent_right_cover",  # share of the right part's words in the sentence
        "type_number",
        "type_date",
        "type_person",
        "type_place",
        "type_noun",
        "is_title",  # 《…》 or a quoted name
        "edge_function_word",
        "has_soft_mark",
        "has_digit",
        "log_len",
        "after_match",  # the span follows the matched words
        "before_match",
        "clause_whole",
        "ends_sentence",
    ]
    base += [f"len<={b}" for b in _LEN_BUCKETS] + ["len>32"]
    base += [f"kind={k}" for k in _KINDS]
    base += [f"last_pos={p}" for p in _POS_GROUPS]
    base += [f"first_pos={p}" for p in _POS_GROUPS]
    crossed = [
        "type_number",
        "type_date",
        "type_person",
        "type_place",
        "type_noun",
        "unit_match",
        "cat_suffix",
        "cat_last_char",
        "left_terms_before",
        "right_terms_after",
        "left_term_gap",
        "right_term_gap",
        "sent_left_cover",
        "sent_right_cover",
        "left_align",
        "right_align",
        "near",
        "q_overlap",
        "log_len",
        "clause_whole",
        "ends_sentence",
        "is_title",
        "has_soft_mark",
    ]
    crossed += [f"len<={b}" for b in _LEN_BUCKETS] + ["len>32"]
    crossed += [f"kind={k}" for k in _KINDS] + [f"last_pos={p}" for p in _POS_GROUPS]
    names = list(base)
    for qt in QType:
        names += [f"{qt.value}*{c}" for c in ["bias", *crossed]]
    return names


FEATURE_NAMES = _feature_names()
_INDEX = {n: i for i, n in enumerate(FEATURE_NAMES)}
_CROSSED = [n.split("*", 1)[1] for n in FEATURE_NAMES if n.startswith(f"{QType.OTHER.value}*")]


# ---------------------------------------------------------------- candidates
@dataclass
class Sentence:
    hit: Hit
    start: int  # offsets in the passage
    end: int
    text: str
    norm: str
    cover: float = 0.0
    bigram: float = 0.0
    lcs: float = 0.0
    context_cover: float = 0.0
    score: float = 0.0
    rank: int = 0  # rank of its passage among the hits
    expanded: str = ""  # norm, plus the full names of short forms it uses
    aliases: dict[str, str] = field(default_factory=dict)  # short form → full name, for its article
    passage_cover: float = 0.0  # IDF-weighted share of question words anywhere in the passage
    max_missing: float = (
        0.0  # the rarest question word absent from the passage, relative to the rarest overall
    )


@dataclass
class Candidates:
    """Candidate spans of one question, their features, and where they come from."""

    question: Question
    sentences: list[Sentence]
    spans: list[tuple[int, int, int]] = field(
        default_factory=list
    )  # (sentence index, start, end) in the sentence
    features: np.ndarray = field(default_factory=lambda: np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32))

    def text(self, i: int) -> str:
        s, a, b = self.spans[i]
        return self.sentences[s].text[a:b]

    def sentence_of(self) -> list[int]:
        return [s for s, _, _ in self.spans]

    def sentence_stats(self) -> list[dict[str, float]]:
        """Per sentence, what the confidence model reads about it and its passage."""
        return [
            {
                "cover": float(s.cover),
                "bigram": float(s.bigram),
                "lcs": float(s.lcs),
                "passage_score": float(s.hit.score),
                "lexical": min(float(s.hit.lexical) / 20.0, 2.0),
                "dense": float(s.hit.dense),
                "passage_cover": float(s.passage_cover),
                "max_missing": float(s.max_missing),
            }
            for s in self.sentences
        ]


def _lcs_len(a: str, b: str) -> int:
    """Length of the longest common substring (characters)."""
    if not a or not b:
        return 0
    best = 0
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0] * (len(b) + 1)
        for j, cb in enumerate(b, 1):
            if ca == cb:
                v = prev[j - 1] + 1
                cur[j] = v
                if v > best:
                    best = v
        prev = cur
    return best


def _bigrams(text: str) -> set[str]:
    ok = [not (_is_punct(c) or c.isspace()) for c in text]
    return {text[i : i + 2] for i in range(len(text) - 1) if ok[i] and ok[i + 1]}


@lru_cache(maxsize=1)
def _tagger() -> Any:
    import rjieba

    return rjieba


def _suffix_match(context: str, text: str, end: int) -> int:
    """How many characters at the end of `context` equal those of text[:end]."""
    n = 0
    while n < len(context) and n < end and context[-1 - n] == text[end - 1 - n]:
        n += 1
    return n


def _prefix_match(context: str, text: str, start: int) -> int:
    """How many characters at the start of `context` equal those of text[start:]."""
    n = 0
    while n < len(context) and start + n < len(text) and context[n] == text[start + n]:
        n += 1
    return n


# "X（以下简称Y）": a short form defined for the rest of the article.
_ALIAS_RE = re.compile(
    r"(《[^》]{2,40}》|“[^”]{2,30}”|[\u4e00-\u9fffa-z0-9]{2,30})\s*[（(]\s*(?:以下简称|以下称|下称|简称)\s*[:：]?\s*"
    r"(《[^》]{1,20}》|“[^”]{1,20}”|[^）)，,、]{1,20})\s*[）)]"
)


def _aliases(hits: list[Hit], norms: list[str]) -> dict[str, dict[str, str]]:
    """Per article, the short forms its retrieved passages define and their full names."""
    out: dict[str, dict[str, str]] = {}
    for hit, norm in zip(hits, norms, strict=True):
        for m in _ALIAS_RE.finditer(norm):
            out.setdefault(hit.article.id, {})[m.group(2)] = m.group(1)
    return out


def _expand(text: str, aliases: dict[str, str]) -> str:
    extra = [full for short, full in aliases.items() if short in text and full not in text]
    return text + " " + " ".join(extra) if extra else text


def _has_answer_type(qtype: QType, text: str) -> bool:
    """Whether a sentence holds something of the kind the question asks for (numbers and dates)."""
    if qtype is QType.DATE:
        return any(
            m.group(0) and any(c.isdigit() or c in _CN_NUM for c in m.group(0))
            for m in _DATE_RE.finditer(text)
        )
    if qtype is QType.NUMBER:
        return any(c.isdigit() or c in _CN_NUM for c in text)
    return False


def _occurrences(text: str, word: str, aliases: dict[str, str]) -> list[tuple[int, int]]:
    """(start, length) of each place `word` occurs in text, or a short form standing for a name containing it."""
    found = [(i, len(word)) for i in _find_all(text, word)]
    if not found:
        for short, full in aliases.items():
            if word in full:
                found += [(i, len(short)) for i in _find_all(text, short)]
    return found


def _find_all(text: str, word: str) -> list[int]:
    out = []
    i = text.find(word)
    while i >= 0:
        out.append(i)
        i = text.find(word, i + 1)
    return out


@lru_cache(maxsize=8192)
def _is_punct(ch: str) -> bool:
    return is_punctuation(ch)


def _cumulative(flags: Any) -> list[int]:
    out = [0]
    total = 0
    for flag in flags:
        total += 1 if flag else 0
        out.append(total)
    return out


_BRACKETS = (("《", "》"), ("“", "”"), ("（", "）"), ("(", ")"), ("「", "」"), ("【", "】"))


_INTERPUNCTS = set("·‧・•∙")
# Single characters that end or start a clause's grammar rather than a name.
_NOT_NAME_CHARS = set("的了是在和与及或而把被对从向于为由也都就还将并且着过说称等之其年月日")


def _join_interpunct_names(norm: str, tokens: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Make a name written with interpuncts ("保罗·塞里诺", "米高‧佐敦") one token.

    Segmenters cut transliterated names at the dot and often a character off
    an outer part ("伊夫|林·…", "…·霍尔|兹", "…·茨|柏克沃斯基"), which leaves
    the reader only part of a name to pick. Everything between two dots is
    taken in; on the outside, the next word, and one more where the split
    looks like a stray character.
    """

    def text(k: int) -> str:
        return norm[tokens[k][0] : tokens[k][1]]

    def wordlike(k: int) -> bool:
        return 0 <= k < len(tokens) and all(c.isalnum() for c in text(k))

    def name_part(k: int) -> bool:
        if not wordlike(k):
            return False
        tag = tokens[k][2]
        return (
            text(k)[0] not in _NOT_NAME_CHARS
            and text(k)[-1] not in _NOT_NAME_CHARS
            and not tag.startswith(("p", "u", "c", "d", "v", "y", "e", "x", "m", "q", "f"))
            and tag not in ("r", "rr", "rz", "ry")
        )

    def outer(k: int, step: int) -> int:
        """The farthest token of the name on one side, starting at its neighbour k of the dot."""
        more = k + step
        if not wordlike(more) or not wordlike(k):
            return k
        k_single = tokens[k][1] - tokens[k][0] == 1
        more_single = tokens[more][1] - tokens[more][0] == 1
        if k_single and more_single:
            # two stray characters: their tags are guesses ("米|高‧佐敦")
            return more if not {text(k), text(more)} & _NOT_NAME_CHARS else k
        if (k_single or more_single) and name_part(more):
            return more
        return k

    dots = [k for k in range(len(tokens)) if text(k) in _INTERPUNCTS]
    merged: list[tuple[int, int]] = []  # token index ranges, inclusive
    g = 0
    while g < len(dots):
        first = last = dots[g]
        while g + 1 < len(dots) and all(wordlike(k) for k in range(last + 1, dots[g + 1])):
            if tokens[dots[g + 1]][0] - tokens[last][1] > 8 or dots[g + 1] == last + 1:
                break
            g += 1
            last = dots[g]
        g += 1
        if not (wordlike(first - 1) and wordlike(last + 1)):
            continue
        lo, hi = outer(first - 1, -1), outer(last + 1, 1)
        if merged and lo <= merged[-1][1]:
            continue
        merged.append((lo, hi))
    out: list[tuple[int, int, str]] = []
    k = 0
    for lo, hi in merged:
        out += tokens[k:lo]
        parts = [tokens[i][2] for i in range(lo, hi + 1) if text(i) not in _INTERPUNCTS]
        tag = "m" if all(t == "m" for t in parts) else "ns" if all(t in _PLACE_TAGS for t in parts) else "nrt"
        out.append((tokens[lo][0], tokens[hi][1], tag))
        k = hi + 1
    return out + tokens[k:]


def _content(text: str) -> str:
    return "".join(c for c in text if not (_is_punct(c) or c.isspace()))


class CandidateBuilder:
    """Scores sentences and generates candidate spans with features."""

    def __init__(self, term_weight: Any = None) -> None:
        # term_weight(words) -> IDF per word, from the index; uniform when absent.
        self.term_weight = term_weight

    def build(self, question: Question, hits: list[Hit]) -> Candidates:
        weights = self._weights(question.terms)
        sentences = self._sentences(question, hits, weights)
        cands = Candidates(question, sentences)
        rows: list[np.ndarray] = []
        for si, sentence in enumerate(sentences):
            spans, feats = self._spans(question, sentence, si == 0, weights)
            cands.spans += [(si, a, b) for a, b in spans]
            rows.append(feats)
        if rows:
            cands.features = np.vstack(rows)
        return cands

    # ---------- sentences
    def _sentences(self, q: Question, hits: list[Hit], weights: dict[str, float]) -> list[Sentence]:
        total = sum(weights.values()) or 1.0
        q_content = _content(q.left + "\u0000" + q.right) if q.wh else _content(q.normalized)
        q_bigrams = _bigrams(q.left) | _bigrams(q.right) if q.wh else _bigrams(q.normalized)
        seen: set[tuple[str, int]] = set()
        out: list[Sentence] = []
        top_score = max((h.score for h in hits), default=1.0) or 1.0
        norms = [normalize(h.passage.text) for h in hits]
        aliases = _aliases(hits, norms)
        for rank, (hit, norm) in enumerate(zip(hits, norms, strict=True)):
            text = hit.passage.text
            spans = sentence_spans(text)
            article_aliases = aliases.get(hit.article.id, {})
            # Matching sees a short form as its full name too: "《条例》" as the law it abbreviates.
            expanded = [_expand(norm[a:b], article_aliases) for a, b in spans]
            whole = _expand(norm, article_aliases)
            passage_cover = sum(w for t, w in weights.items() if t in whole) / total
            rarest = max(weights.values(), default=1.0) or 1.0
            max_missing = max((w for t, w in weights.items() if t not in whole), default=0.0) / rarest
            for i, (a, b) in enumerate(spans):
                key = (hit.article.id, hit.passage.start + a)
                if key in seen:
                    continue
                seen.add(key)
                s_norm = norm[a:b]
                sent = Sentence(
                    hit,
                    a,
                    b,
                    text[a:b],
                    s_norm,
                    rank=rank,
                    passage_cover=passage_cover,
                    max_missing=max_missing,
                )
                sent.expanded = expanded[i]
                sent.aliases = article_aliases
                sent.cover = sum(w for t, w in weights.items() if t in expanded[i]) / total
                sent.bigram = len(q_bigrams & _bigrams(expanded[i])) / max(len(q_bigrams), 1)
                around = " ".join(expanded[max(0, i - 1) : i + 2])
                sent.context_cover = sum(w for t, w in weights.items() if t in around) / total
                sent.score = (
                    sent.cover
                    + 0.5 * sent.bigram
                    + 0.2 * sent.context_cover
                    + 0.3 * hit.score / top_score
                    - 0.02 * rank
                    + 0.3 * _has_answer_type(q.qtype, s_norm)
                )
                out.append(sent)
        out.sort(key=lambda s: -s.score)
        out = out[:READ_SENTENCES]
        for s in out:
            s.lcs = min(_lcs_len(q_content, _content(s.expanded)) / max(len(q_content), 1), 1.0)
        return out

    def _weights(self, terms: tuple[str, ...]) -> dict[str, float]:
        if not terms:
            return {}
        if self.term_weight is None:
            return dict.fromkeys(terms, 1.0)
        return dict(zip(terms, self.term_weight(list(terms)), strict=True))

    # ---------- spans of one sentence
    def _spans(
        self, q: Question, sent: Sentence, best: bool, weights: dict[str, float]
    ) -> tuple[list[tuple[int, int]], np.ndarray]:
        text, norm = sent.text, sent.norm
        n = len(text)
        # Numbers, dates and amounts, found by pattern whatever the segmentation did; a word
        # that straddles one's edge ("1日起") is split there, so spans and words line up.
        entities = [
            (m.start(), m.end())
            for regex in (_NUMBER_UNIT_RE, _DATE_RE)
            for m in regex.finditer(norm)
            if m.end() > m.start() and any(c.isdigit() or c in _CN_NUM for c in m.group(0))
        ]
        edges = {e for span in entities for e in span}
        tokens: list[tuple[int, int, str]] = []
        pos = 0
        for word, tag in _tagger().tag(norm):
            end = pos + len(word)
            cuts = sorted(e for e in edges if pos < e < end)
            for a, b in zip([pos, *cuts], [*cuts, end], strict=True):
                inside = cuts and any(ea <= a and b <= eb for ea, eb in entities)
                tokens.append((a, b, "m" if inside else tag))
            pos = end
        if any(c in _INTERPUNCTS for c in norm):
            tokens = _join_interpunct_names(norm, tokens)

        # Where the question's words occur in the sentence.
        matched = np.zeros(n + 1, dtype=bool)
        for term in q.terms:
            for i, length in _occurrences(norm, term, sent.aliases):
                matched[i : i + length] = True
        q_chars = set(_content(q.left + q.right if q.wh else q.normalized))
        in_q = np.fromiter((c in q_chars for c in norm), dtype=np.float32, count=n)
        in_q_cum = np.concatenate([[0.0], np.cumsum(in_q)])
        matched_idx = np.flatnonzero(matched[:n])

        spans: dict[tuple[int, int], str] = {}
        strip_left = [c.isspace() or (_is_punct(c) and c not in _OPENERS) for c in norm]
        strip_right = [c.isspace() or (_is_punct(c) and c not in CLOSERS) for c in norm]
        hard_cum = _cumulative(c in _HARD_MARKS for c in norm)
        pairs = [
            (_cumulative(c == o for c in norm), _cumulative(c == e for c in norm))
            for o, e in _BRACKETS
            if o in norm or e in norm
        ]
        quote_cum = _cumulative(c == '"' for c in norm) if '"' in norm else None

        def add(a: int, b: int, kind: str) -> None:
            while a < b and strip_left[a]:
                a += 1
            while b > a and strip_right[b - 1] and kind != "sentence":
                b -= 1
            if b <= a or b - a > 120:
                return
            if hard_cum[b] - hard_cum[a] and kind not in ("clause", "sentence", "tail", "head"):
                return
            for opened, closed in pairs:
                if opened[b] - opened[a] != closed[b] - closed[a]:
                    return
            if quote_cum is not None and (quote_cum[b] - quote_cum[a]) % 2:
                return
            spans.setdefault((a, b), kind)

        # word n-grams that do not cross a hard mark
        for i, (a, _, _) in enumerate(tokens):
            for j in range(i, min(i + MAX_SPAN_TOKENS, len(tokens))):
                b = tokens[j][1]
                if hard_cum[b] - hard_cum[tokens[j][0]]:
                    break
                add(a, b, "token")
        for a, b in entities:
            add(a, b, "entity")
        # clauses, runs of clauses, and a clause's head or tail around a token boundary
        clauses = []
        start = 0
        for i, c in enumerate(text):
            if c in "，,；;：:" and not (
                c in ",:" and 0 < i < n - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
            ):
                clauses.append((start, i))
                start = i + 1
        clauses.append((start, n))
        for i in range(len(clauses)):
            for j in range(i, min(i + 4, len(clauses))):
                add(clauses[i][0], clauses[j][1], "clause")
        add(0, n, "sentence")
        for ca, cb in clauses:
            for ta, tb, _ in tokens:
                if ca < ta < cb:
                    add(ta, cb, "tail")
                if ca < tb < cb:
                    add(ca, tb, "head")

        # alignment of the question's left and right context with each boundary,
        # on the sentence's content characters (punctuation and spaces skipped)
        left_ctx = _content(q.left)
        right_ctx = _content(q.right)
        content = _content(norm)
        content_pos = _cumulative(not (_is_punct(c) or c.isspace()) for c in norm)

        def left_align(a: int) -> tuple[float, float]:
            # strict: the question's left context (maybe less a trailing 是/为) ends right at the span;
            # loose: up to two characters skipped on either side.
            end = content_pos[a]
            strict = max(_suffix_match(left_ctx[: len(left_ctx) - qg], content, end) for qg in (0, 1))
            loose = max(
                _suffix_match(left_ctx[: len(left_ctx) - qg], content, end - sg)
                for qg in (0, 1, 2)
                for sg in (0, 1, 2)
                if sg <= end
            )
            return min(strict, 8) / 8, min(max(strict, loose), 8) / 8

        def right_align(b: int) -> tuple[float, float]:
            start = content_pos[b]
            strict = _prefix_match(right_ctx, content, start)
            loose = max(
                _prefix_match(right_ctx[qg:], content, start + sg) for qg in (0, 1, 2) for sg in (0, 1, 2)
            )
            return min(strict, 8) / 8, min(max(strict, loose), 8) / 8

        keys = list(spans)
        feats = self._featurize(
            q,
            sent,
            best,
            keys,
            [spans[k] for k in keys],
            tokens,
            clauses,
            matched_idx,
            in_q_cum,
            left_align if left_ctx else None,
            right_align if right_ctx else None,
            weights,
        )
        return keys, feats

    def _featurize(
        self,
        q: Question,
        sent: Sentence,
        best: bool,
        keys: list[tuple[int, int]],
        kinds: list[str],
        tokens: list[tuple[int, int, str]],
        clauses: list[tuple[int, int]],
        matched_idx: np.ndarray,
        in_q_cum: np.ndarray,
        left_align: Any,
        right_align: Any,
        weights: dict[str, float],
    ) -> np.ndarray:
        """The feature matrix of one sentence's candidates, computed column by column."""
        norm = sent.norm
        n = len(norm)
        m = len(keys)
        F = np.zeros((m, len(FEATURE_NAMES)), dtype=np.float32)
        if m == 0:
            return F
        A = np.fromiter((a for a, _ in keys), dtype=np.int64, count=m)
        B = np.fromiter((b for _, b in keys), dtype=np.int64, count=m)
        L = B - A

        def col(name: str) -> np.ndarray:
            return F[:, _INDEX[name]]

        F[:, _INDEX["bias"]] = 1.0
        for name, value in (
            ("sent_cover", sent.cover),
            ("sent_bigram", sent.bigram),
            ("sent_lcs", sent.lcs),
            ("sent_best", 1.0 if best else 0.0),
            ("passage_score", sent.hit.score),
            ("passage_first", 1.0 if sent.rank == 0 else 0.0),
            ("context_cover", sent.context_cover),
        ):
            F[:, _INDEX[name]] = value

        if left_align is not None:
            cache = {a: left_align(a) for a in set(A.tolist())}
            F[:, _INDEX["left_align"]] = [cache[a][0] for a in A.tolist()]
            F[:, _INDEX["left_align_any"]] = [cache[a][1] for a in A.tolist()]
        if right_align is not None:
            cache = {b: right_align(b) for b in set(B.tolist())}
            F[:, _INDEX["right_align"]] = [cache[b][0] for b in B.tolist()]
            F[:, _INDEX["right_align_any"]] = [cache[b][1] for b in B.tolist()]

        if len(matched_idx):
            i_before = np.searchsorted(matched_idx, A, side="left") - 1
            i_after = np.searchsorted(matched_idx, B, side="left")
            has_before = i_before >= 0
            has_after = i_after < len(matched_idx)
            d_before = np.where(has_before, A - matched_idx[np.clip(i_before, 0, None)] - 1, 999)
            d_after = np.where(has_after, matched_idx[np.clip(i_after, None, len(matched_idx) - 1)] - B, 999)
            d = np.minimum(d_before, d_after)
            col("near")[:] = 1.0 / (1.0 + d / 3.0)
            col("far")[:] = np.minimum(d, 60) / 60
            col("after_match")[:] = has_before & ~has_after
            col("before_match")[:] = has_after & ~has_before

        col("q_overlap")[:] = (in_q_cum[B] - in_q_cum[A]) / np.maximum(L, 1)
        inside = np.zeros(m, dtype=bool)
        for term in q.terms:
            if len(term) < 2 or term == q.category:
                continue
            i = norm.find(term)
            while i >= 0:
                inside |= (A <= i) & (B >= i + len(term))
                i = norm.find(term, i + 1)
        col("q_term_inside")[:] = inside
        if q.unit:
            u = len(q.unit)
            col("unit_match")[:] = [norm[b - u : b] == q.unit and b - a >= u for a, b in keys]
        if q.category:
            c = len(q.category)
            last = q.category[-1]
            col("cat_suffix")[:] = [norm[b - c : b] == q.category and b - a > c for a, b in keys]
            col("cat_last_char")[:] = [norm[b - 1] == last for b in B.tolist()]
            col("cat_inside")[:] = [last in norm[a:b] for a, b in keys]
        for side_terms, right_side in ((q.left_terms, False), (q.right_terms, True)):
            side_terms = tuple(t for t in side_terms if t != q.category)
            total = sum(weights.get(t, 1.0) for t in side_terms)
            if not total:
                continue
            right_place = np.zeros(m, dtype=np.float32)
            wrong_only = np.zeros(m, dtype=np.float32)
            gap = np.full(m, 999, dtype=np.int64)
            present = sum(weights.get(t, 1.0) for t in side_terms if t in sent.expanded) / total
            for t in side_terms:
                found = _occurrences(norm, t, sent.aliases)
                if not found:
                    continue
                starts = [i for i, _ in found]
                lengths = np.array([length for _, length in found])
                occ = np.array(starts)
                if right_side:
                    ahead = occ[None, :] - B[:, None]
                    gap = np.minimum(gap, np.where(ahead >= 0, ahead, 999).min(axis=1))
                else:
                    behind = A[:, None] - (occ[None, :] + lengths[None, :])
                    gap = np.minimum(gap, np.where(behind >= 0, behind, 999).min(axis=1))
                w = weights.get(t, 1.0) / total
                occ_start = np.array(starts)
                occ_end = occ_start + lengths
                if right_side:
                    good = (occ_start[None, :] >= B[:, None]).any(axis=1)
                    bad = (occ_end[None, :] <= A[:, None]).any(axis=1) & ~good
                else:
                    good = (occ_end[None, :] <= A[:, None]).any(axis=1)
                    bad = (occ_start[None, :] >= B[:, None]).any(axis=1) & ~good
                right_place += w * good
                wrong_only += w * bad
            closeness = np.where(gap < 999, 1.0 / (1.0 + gap / 2.0), 0.0)
            if right_side:
                col("right_terms_after")[:] = right_place
                col("right_terms_wrong_side")[:] = wrong_only
                col("right_term_gap")[:] = closeness
                col("sent_right_cover")[:] = present
            else:
                col("left_terms_before")[:] = right_place
                col("left_terms_wrong_side_passive" if q.passive else "left_terms_wrong_side")[:] = wrong_only
                col("left_term_gap")[:] = closeness
                col("sent_left_cover")[:] = present

        numeric = np.fromiter((c.isdigit() or c in _CN_NUM for c in norm), dtype=np.int32, count=n)
        numeric_cum = np.concatenate([[0], np.cumsum(numeric)])
        digit = np.fromiter((c.isdigit() for c in norm), dtype=np.int32, count=n)
        digit_cum = np.concatenate([[0], np.cumsum(digit)])
        soft = np.fromiter((c in _SOFT_MARKS for c in norm), dtype=np.int32, count=n)
        soft_cum = np.concatenate([[0], np.cumsum(soft)])
        has_numeric = (numeric_cum[B] - numeric_cum[A]) > 0
        for r in np.flatnonzero(has_numeric):
            piece = norm[A[r] : B[r]]
            if _NUMBER_UNIT_RE.fullmatch(piece):
                F[r, _INDEX["type_number"]] = 1.0
            if _DATE_RE.fullmatch(piece):
                F[r, _INDEX["type_date"]] = 1.0
        if q.date_grain:
            date_entities = [(m.start(), m.end()) for m in _DATE_RE.finditer(norm) if m.end() > m.start()]
            dated = np.flatnonzero(F[:, _INDEX["type_date"]] > 0)
            for r in dated:
                piece = norm[A[r] : B[r]]
                day = "日" in piece or "号" in piece
                month = "月" in piece and not day
                year = piece.endswith("年") and not month and not day
                for grain, value in (("year", year), ("day", day), ("month", month)):
                    name = f"{q.date_grain}_q*{grain}_span"
                    if value and name in _INDEX:
                        F[r, _INDEX[name]] = 1.0
                if any(ea <= A[r] and B[r] <= eb and eb - ea > B[r] - A[r] for ea, eb in date_entities):
                    F[r, _INDEX[f"{q.date_grain}_q*entity_part"]] = 1.0
        col("has_digit")[:] = (digit_cum[B] - digit_cum[A]) > 0
        col("has_soft_mark")[:] = (soft_cum[B] - soft_cum[A]) > 0
        first_char = [norm[a] for a in A.tolist()]
        last_char = [norm[b - 1] for b in B.tolist()]
        col("is_title")[:] = [
            f in '《“「"' and la in '》”」"' for f, la in zip(first_char, last_char, strict=True)
        ]
        col("edge_function_word")[:] = [
            f in _FUNCTION_EDGE or la in _FUNCTION_EDGE for f, la in zip(first_char, last_char, strict=True)
        ]

        # parts of speech of the first and last word, and person / place types
        tok_start = np.full(n + 1, -1, dtype=np.int64)
        tok_end = np.full(n + 1, -1, dtype=np.int64)
        person = np.zeros(len(tokens) + 1, dtype=np.int32)
        non_person = np.zeros(len(tokens) + 1, dtype=np.int32)
        tags = []
        for k, (a, b, tag) in enumerate(tokens):
            if tok_start[a] < 0:
                tok_start[a] = k
            tok_end[b] = k
            tags.append(tag)
            person[k + 1] = person[k] + (tag in _PERSON_TAGS)
            non_person[k + 1] = non_person[k] + (tag not in _PERSON_TAGS and tag != "x")
        first_tok = tok_start[A]
        last_tok = tok_end[B]
        aligned = (first_tok >= 0) & (last_tok >= 0) & (last_tok >= first_tok)
        ft = np.where(aligned, first_tok, 0)
        lt = np.where(aligned, last_tok + 1, 0)
        col("type_person")[:] = (
            aligned & ((person[lt] - person[ft]) > 0) & ((non_person[lt] - non_person[ft]) == 0)
        )
        last_tags = [tags[k] if k >= 0 else "x" for k in last_tok.tolist()]
        first_tags = [tags[k] if k >= 0 else "x" for k in first_tok.tolist()]
        col("type_place")[:] = [t in _PLACE_TAGS for t in last_tags]
        col("type_noun")[:] = [t in _NOUN_TAGS for t in last_tags]
        rows = np.arange(m)
        F[rows, [_INDEX[f"last_pos={_pos_group(t)}"] for t in last_tags]] = 1.0
        F[rows, [_INDEX[f"first_pos={_pos_group(t)}"] for t in first_tags]] = 1.0

        col("log_len")[:] = np.log(L + 1) / 4
        bucket = np.searchsorted(np.array(_LEN_BUCKETS), L, side="left")
        bucket_cols = [_INDEX[f"len<={b}"] for b in _LEN_BUCKETS] + [_INDEX["len>32"]]
        F[rows, np.array(bucket_cols)[bucket]] = 1.0
        F[rows, [_INDEX[f"kind={k}"] for k in kinds]] = 1.0
        clause_set = set(clauses)
        col("clause_whole")[:] = [
            (a, b) in clause_set or k == "sentence" for (a, b), k in zip(keys, kinds, strict=True)
        ]
        col("ends_sentence")[:] = B >= n - 1

        qt = q.qtype.value
        F[:, _INDEX[f"{qt}*bias"]] = 1.0
        F[:, _CROSS_TARGETS[qt]] = F[:, _CROSS_SOURCES]
        return F


_CROSS_SOURCES = np.array([_INDEX[c] for c in _CROSSED if c != "bias"])
_CROSS_TARGETS = {
    qt.value: np.array([_INDEX[f"{qt.value}*{c}"] for c in _CROSSED if c != "bias"]) for qt in QType
}


SCORING_MARK = "# ---------------------------------------------------------------- the reader"


# ---------------------------------------------------------------- the reader
@dataclass(frozen=True)
class ReaderWeights:
    """Learned span weights, confidence model and abstention threshold."""

    span: np.ndarray
    hidden: dict[str, np.ndarray] | None
    confidence: dict[str, float]
    threshold: float
    info: dict[str, Any]

    @classmethod
    def load(cls, path: Path | None = None) -> "ReaderWeights":
        text = (
            path.read_text(encoding="utf-8")
            if path
            else (files(__package__) / WEIGHTS_FILE).read_text(encoding="utf-8")
        )
        data = json.loads(text)
        names = data["feature_names"]
        if names != FEATURE_NAMES:
            missing = set(FEATURE_NAMES) ^ set(names)
            raise ValueError(
                f"{WEIGHTS_FILE} was learned for other features ({len(missing)} differ): "
                "run `python -m tools.learn_reader` to learn weights for this code"
            )
        hidden = data.get("hidden")
        return cls(
            span=np.asarray(data["span_weights"], dtype=np.float32),
            hidden={k: np.asarray(v, dtype=np.float32) for k, v in hidden.items()} if hidden else None,
            confidence=data["confidence"],
            threshold=float(data["threshold"]),
            info=data.get("info", {}),
        )

    @classmethod
    def untrained(cls) -> "ReaderWeights":
        """Hand-set weights, the starting point before learning."""
        w = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
        for name, value in {
            "sent_cover": 2.0,
            "sent_bigram": 1.0,
            "left_align": 2.0,
            "right_align": 2.0,
            "near": 1.0,
            "q_overlap": -3.0,
            "unit_match": 2.0,
            "edge_function_word": -1.0,
            "q_term_inside": -1.0,
            "number*type_number": 2.0,
            "date*type_date": 2.0,
            "person*type_person": 2.0,
            "place*type_place": 1.5,
            "entity*type_noun": 1.0,
            "log_len": -0.5,
        }.items():
            w[_INDEX[name]] = value
        return cls(w, None, {"bias": 0.0, "score": 1.0}, 0.0, {"untrained": True})

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
    z = weights.get("bias", 0.0) + sum(weights.get(k, 0.0) * v for k, v in feats.items())
    return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))


class FeatureReader:
    """Extracts answer spans from retrieved passages; see the module docstring."""

    name = "features"

    def __init__(self, weights: ReaderWeights | None = None, term_weight: Any = None) -> None:
        self.weights = weights or ReaderWeights.load()
        self.builder = CandidateBuilder(term_weight)
        self.default_threshold = self.weights.threshold

    def warm_up(self) -> None:
        _tagger().tag("预热")

    def read(self, question: str, hits: list[Hit]) -> list[Answer]:
        """The best candidate spans, best first, distinct in text, with their confidences."""
        q = analyze(question)
        cands = self.builder.build(q, hits)
        if not cands.spans:
            return []
        scores = self.weights.scores(cands.features)
        texts = [cands.text(i) for i in range(len(cands.spans))]
        stats = cands.sentence_stats()
        sentence_of = cands.sentence_of()
        ranked: list[int] = []
        for i in np.argsort(-scores, kind="stable").tolist():
            if not ranked:
                i = _complete_number(q, cands, texts, _complete_date(q, cands, texts, i))
            if all(texts[i] != texts[j] for j in ranked):
                ranked.append(i)
            if len(ranked) == MAX_ANSWERS:
                break
        answers = []
        for i in ranked:
            feats = confidence_features(scores, texts, stats, sentence_of, i)
            answers.append(make_answer(cands, i, confidence(self.weights.confidence, feats)))
        return answers


_FULL_DATE_RE = re.compile(r"(?:.*年)?.*月.*[日号]")


def _complete_date(q: Question, cands: Candidates, texts: list[str], best: int) -> int:
    """ "When" and "which day" want the whole date as printed: a year or month picked out of
    "2024年8月1日" grows to it ("which year" keeps the year)."""
    if q.date_grain not in ("when", "day") or _FULL_DATE_RE.fullmatch(texts[best]):
        return best
    return _grow(
        cands,
        texts,
        best,
        lambda text: bool(_FULL_DATE_RE.fullmatch(text) and _DATE_RE.fullmatch(normalize(text))),
    )


def _grow(cands: Candidates, texts: list[str], best: int, accept: Callable[[str], bool]) -> int:
    """The shortest candidate that starts where `best` does, in its sentence, runs on past
    it and is accepted; `best` itself when there is none."""
    sentence, start, end = cands.spans[best]
    longer = [
        i
        for i, (s, a, b) in enumerate(cands.spans)
        if s == sentence and a == start and b > end and accept(texts[i])
    ]
    return min(longer, key=lambda i: cands.spans[i][2]) if longer else best


_BARE_NUMBER_RE = re.compile(rf"{_NUMBER}")


def _complete_number(q: Question, cands: Candidates, texts: list[str], best: int) -> int:
    """ "How many/much" wants the number with its unit: a bare "35" picked out of
    "35万人" grows to it."""
    if q.qtype is not QType.NUMBER or not _BARE_NUMBER_RE.fullmatch(normalize(texts[best])):
        return best
    return _grow(cands, texts, best, lambda text: bool(_NUMBER_UNIT_RE.fullmatch(normalize(text))))


def make_answer(cands: Candidates, i: int, conf: float) -> Answer:
    si, a, b = cands.spans[i]
    sentence = cands.sentences[si]
    return Answer.from_span(
        sentence.hit, sentence.start + a, sentence.start + b, sentence.start, sentence.end, conf
    )
