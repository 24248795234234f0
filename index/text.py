"""Text primitives shared by indexing and answering.

Everything here keeps character offsets: normalisation maps each character to
exactly one character, and sentence splitting returns spans into the original
text, so a match found on normalised text points at the same place in the text
as printed.
"""

import re
import unicodedata
from functools import lru_cache

# Sentence-final punctuation, full-width and ASCII. "." is handled apart: it
# is also a decimal point and an abbreviation mark.
SENTENCE_STOPS = frozenset("。！？!?；;")
ELLIPSIS = frozenset("…")
# What may follow a stop and still belong to its sentence: closing quotes and brackets.
CLOSERS = frozenset("”’」』）)]】》〉\"'")
CLAUSE_MARKS = frozenset("，,、：:")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc no inc ltd co corp gen col lt sgt rep sen gov "
    "jan feb mar apr jun jul aug sep sept oct nov dec u.s e.g i.e a.m p.m".split()
)


@lru_cache(maxsize=1)
def _t2s():
    # Built on first use, not at import: loading the dictionaries takes time.
    import opencc

    return opencc.OpenCC("t2s")


# Full-width ASCII forms and the ideographic space map to their ASCII twins.
_WIDTH_TABLE = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_WIDTH_TABLE[0x3000] = 0x20


def normalize(text: str) -> str:
    """Fold text for matching: Traditional → Simplified, full-width → ASCII, lower case.

    The result has exactly the length of `text`, character for character.
    """
    folded = text.translate(_WIDTH_TABLE)
    simplified = _t2s().convert(folded)
    if len(simplified) != len(folded):
        # A phrase rule changed the length; fall back to one character at a time.
        convert = _t2s().convert
        simplified = "".join(c2 if len(c2 := convert(ch)) == 1 else ch for ch in folded)
    lowered = simplified.lower()
    if len(lowered) != len(simplified):
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in simplified)
    return lowered


def is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"


def is_punctuation(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def _is_period_stop(text: str, i: int) -> bool:
    """Whether the "." at text[i] ends a sentence (not a decimal point or an abbreviation)."""
    before = text[i - 1] if i > 0 else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    if before.isdigit() and after.isdigit():
        return False
    if is_cjk(before) or is_cjk(after):
        return True
    if after and not (after.isspace() or after in CLOSERS or after in "\n"):
        return False
    word = re.search(r"([A-Za-z.]+)$", text[max(0, i - 12) : i])
    if word and word.group(1).lower() in _ABBREVIATIONS:
        return False
    if word and len(word.group(1)) == 1 and word.group(1).isupper():
        return False  # an initial, as in "J. Smith"
    rest = text[i + 1 : i + 3].lstrip()
    if rest[:1].islower():
        return False
    return True


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Split text into sentences; return (start, end) spans, whitespace trimmed.

    A sentence ends at 。！？；!?; (runs of them), at … or ..., at a "." that is
    not a decimal point or an abbreviation, and at a line break. Closing quotes
    and brackets right after the stop stay with the sentence.
    """
    spans: list[tuple[int, int]] = []
    n = len(text)
    start = 0
    i = 0

    def emit(s: int, e: int) -> None:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))

    while i < n:
        ch = text[i]
        if ch == "\n":
            emit(start, i)
            start = i + 1
            i += 1
            continue
        stop = False
        if ch in SENTENCE_STOPS or ch in ELLIPSIS:
            stop = True
        elif ch == "." and _is_period_stop(text, i):
            stop = True
        if stop:
            j = i + 1
            while j < n and (text[j] in SENTENCE_STOPS or text[j] in ELLIPSIS or text[j] == "."):
                j += 1
            while j < n and text[j] in CLOSERS:
                j += 1
            emit(start, j)
            start = j
            i = j
            continue
        i += 1
    emit(start, n)
    return spans


def ends_sentence(line: str) -> bool:
    """Whether a line ends with sentence-final punctuation (closing quotes allowed after it)."""
    stripped = line.rstrip()
    while stripped and stripped[-1] in CLOSERS:
        stripped = stripped[:-1]
    if not stripped:
        return False
    last = stripped[-1]
    if last in SENTENCE_STOPS or last in ELLIPSIS:
        return True
    return last == "." and _is_period_stop(stripped, len(stripped) - 1)


# Words too common to say anything about relevance.
STOPWORDS = frozenset(
    """的 了 是 在 和 与 及 并 等 也 都 而 把 被 对 这 那 之 以 于 其 或 又 就 还 将 已 从 由 为 着 过
    个 一 不 有 我 你 他 她 它 们 吗 呢 吧 啊 么 什么 哪 哪里 哪个 哪些 哪儿 谁 多少 几 怎么 怎样
    如何 为什么 何时 何 啥 是否 是不是 请问 请 呀 哦 吗 嘛
    a an the of to in on at by for with from as is are was were be been being and or but
    what which who whom whose when where why how many much does do did that this these those
    it its into about than then there their they he she his her""".split()
)


@lru_cache(maxsize=1)
def _jieba():
    import rjieba

    return rjieba


def words(text: str) -> list[str]:
    """Segment normalised text into words (Chinese by rjieba, other scripts by spaces)."""
    return [w for w in _jieba().cut(text) if w.strip()]


_TERM_RE = re.compile(r"\w", re.UNICODE)


def terms(text: str) -> list[str]:
    """Search terms of a text: normalised, segmented for search, stopwords and punctuation dropped."""
    out = []
    for w in _jieba().cut_for_search(normalize(text)):
        w = w.strip()
        if w and w not in STOPWORDS and _TERM_RE.search(w):
            out.append(w)
    return out
