"""Which sentences of the retrieved passages the feature reader reads: each is scored by how
much of the question it covers, and short forms an article defines ("以下简称…") count as
their full names."""

import re
from dataclasses import dataclass, field

from newsqa.index.text import normalize, sentence_spans
from newsqa.qa.metrics import longest_common_run
from newsqa.qa.questions import QType, Question
from newsqa.qa.readers.features.patterns import DATE_RE, bigrams, content, find_all, is_numeric
from newsqa.qa.types import Hit

# The best-covering sentences read, over all passages.
READ_SENTENCES = 6


@dataclass
class Sentence:
    """One sentence of a retrieved passage, with how well it covers the question."""

    hit: Hit
    start: int  # offsets in the passage
    end: int
    text: str
    norm: str
    cover: float = 0.0  # IDF-weighted share of question words in the sentence
    bigram: float = 0.0  # share of question character bigrams in the sentence
    lcs: float = 0.0  # longest stretch shared with the question / the question's length
    context_cover: float = 0.0  # question words in the sentences around it
    score: float = 0.0
    rank: int = 0  # rank of its passage among the hits
    expanded: str = ""  # norm, plus the full names of short forms it uses
    aliases: dict[str, str] = field(default_factory=dict)  # short form → full name, for its article
    passage_cover: float = 0.0  # IDF-weighted share of question words anywhere in the passage
    max_missing: float = 0.0  # the rarest question word absent from the passage, relative to the rarest

    def stats(self) -> dict[str, float]:
        """What the confidence model reads about the sentence and its passage."""
        return {
            "cover": float(self.cover),
            "bigram": float(self.bigram),
            "lcs": float(self.lcs),
            "passage_score": float(self.hit.score),
            "lexical": min(float(self.hit.lexical) / 20.0, 2.0),
            "dense": float(self.hit.dense),
            "passage_cover": float(self.passage_cover),
            "max_missing": float(self.max_missing),
        }


# "X（以下简称Y）": a short form defined for the rest of the article.
ALIAS_RE = re.compile(
    r"(《[^》]{2,40}》|“[^”]{2,30}”|[\u4e00-\u9fffa-z0-9]{2,30})\s*[（(]\s*(?:以下简称|以下称|下称|简称)\s*[:：]?\s*"
    r"(《[^》]{1,20}》|“[^”]{1,20}”|[^）)，,、]{1,20})\s*[）)]"
)


def article_aliases(hits: list[Hit], norms: list[str]) -> dict[str, dict[str, str]]:
    """Per article, the short forms its retrieved passages define and their full names."""
    out: dict[str, dict[str, str]] = {}
    for hit, norm in zip(hits, norms, strict=True):
        for m in ALIAS_RE.finditer(norm):
            out.setdefault(hit.article.id, {})[m.group(2)] = m.group(1)
    return out


def expand(text: str, aliases: dict[str, str]) -> str:
    """The text followed by the full names of the short forms it uses."""
    extra = [full for short, full in aliases.items() if short in text and full not in text]
    return text + " " + " ".join(extra) if extra else text


def occurrences(text: str, word: str, aliases: dict[str, str]) -> list[tuple[int, int]]:
    """(start, length) of each place `word` occurs in text, or a short form standing for a name containing it."""
    found = [(i, len(word)) for i in find_all(text, word)]
    if not found:
        for short, full in aliases.items():
            if word in full:
                found += [(i, len(short)) for i in find_all(text, short)]
    return found


def has_answer_type(qtype: QType, text: str) -> bool:
    """Whether a sentence holds something of the kind the question asks for (numbers and dates)."""
    if qtype is QType.DATE:
        return any(m.group(0) and any(is_numeric(c) for c in m.group(0)) for m in DATE_RE.finditer(text))
    if qtype is QType.NUMBER:
        return any(is_numeric(c) for c in text)
    return False


def select_sentences(q: Question, hits: list[Hit], weights: dict[str, float]) -> list[Sentence]:
    """The READ_SENTENCES sentences of `hits` that best cover the question, best first.

    Args:
        q: the analysed question.
        hits: retrieved passages, best first.
        weights: each question word's weight (its IDF in the index).
    """
    total = sum(weights.values()) or 1.0
    q_content = content(q.left + "\u0000" + q.right) if q.wh else content(q.normalized)
    q_bigrams = bigrams(q.left) | bigrams(q.right) if q.wh else bigrams(q.normalized)
    seen: set[tuple[str, int]] = set()
    out: list[Sentence] = []
    top_score = max((h.score for h in hits), default=1.0) or 1.0
    norms = [normalize(h.passage.text) for h in hits]
    aliases = article_aliases(hits, norms)
    rarest = max(weights.values(), default=1.0) or 1.0
    for rank, (hit, norm) in enumerate(zip(hits, norms, strict=True)):
        text = hit.passage.text
        spans = sentence_spans(text)
        own_aliases = aliases.get(hit.article.id, {})
        # Matching sees a short form as its full name too: "《条例》" as the law it abbreviates.
        expanded = [expand(norm[a:b], own_aliases) for a, b in spans]
        whole = expand(norm, own_aliases)
        passage_cover = sum(w for t, w in weights.items() if t in whole) / total
        max_missing = max((w for t, w in weights.items() if t not in whole), default=0.0) / rarest
        for i, (a, b) in enumerate(spans):
            key = (hit.article.id, hit.passage.start + a)
            if key in seen:  # overlapping passages hold the same sentence
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
                expanded=expanded[i],
                aliases=own_aliases,
                passage_cover=passage_cover,
                max_missing=max_missing,
            )
            sent.cover = sum(w for t, w in weights.items() if t in expanded[i]) / total
            sent.bigram = len(q_bigrams & bigrams(expanded[i])) / max(len(q_bigrams), 1)
            around = " ".join(expanded[max(0, i - 1) : i + 2])
            sent.context_cover = sum(w for t, w in weights.items() if t in around) / total
            sent.score = (
                sent.cover
                + 0.5 * sent.bigram
                + 0.2 * sent.context_cover
                + 0.3 * hit.score / top_score
                - 0.02 * rank
                + 0.3 * has_answer_type(q.qtype, s_norm)
            )
            out.append(sent)
    out.sort(key=lambda s: -s.score)
    out = out[:READ_SENTENCES]
    for s in out:
        s.lcs = min(longest_common_run(q_content, content(s.expanded)) / max(len(q_content), 1), 1.0)
    return out
