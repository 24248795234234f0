"""What the feature reader recognises in text: numbers, dates and units, marks and brackets,
part-of-speech groups, and the small string measures built on them."""

import re
from collections.abc import Iterable
from functools import lru_cache

from newsqa.index.text import is_punctuation
from newsqa.qa.questions import UNITS

# Marks a word n-gram may not cross; soft marks only separate list items.
HARD_MARKS = frozenset("，,；;：:。！？!?…\n")
SOFT_MARKS = frozenset("、")
# Marks a clause is cut at (a comma or colon between digits is part of a number).
CLAUSE_MARKS = "，,；;：:"
OPENERS = frozenset("“‘「『（(《〈【[\"'")
BRACKETS = (("《", "》"), ("“", "”"), ("（", "）"), ("(", ")"), ("「", "」"), ("【", "】"))
# Characters that make a span edge grammar rather than content.
FUNCTION_EDGE = frozenset("的了是在和与及或而把被对从向于为也都就还将并且着过")

DIGITS = r"[0-9０-９]"
CN_NUMERALS = "零〇一二三四五六七八九十百千万亿两几半"
NUMBER = rf"(?:{DIGITS}+(?:[.,，]{DIGITS}+)*|[{CN_NUMERALS}]+)"
_UNIT_ALT = "|".join(re.escape(u) for u in UNITS)
NUMBER_UNIT_RE = re.compile(rf"(?:约|近|第)?{NUMBER}(?:多|余|几)?(?:%|％|‰|(?:{_UNIT_ALT}))*(?:左右|多|余)?")
BARE_NUMBER_RE = re.compile(NUMBER)
DATE_RE = re.compile(
    rf"(?:(?:公元前?|西元前?)?{NUMBER}年(?:代)?)?(?:{NUMBER}月)?(?:{NUMBER}[日号])?(?:(?:上午|下午|晚上|凌晨)?{NUMBER}[时点](?:{NUMBER}分)?)?"
    rf"|{NUMBER}世纪(?:{NUMBER}年代)?(?:初|中|末|初期|中期|末期|中叶)?"
    rf"|(?:春|夏|秋|冬)(?:季|天)|[上下]半年|(?:今|去|明|前)年"
)
# A date down to the day, as printed ("2024年8月1日", "8月1日").
FULL_DATE_RE = re.compile(r"(?:.*年)?.*月.*[日号]")

PERSON_TAGS = frozenset({"nr", "nrfg", "nrt"})
PLACE_TAGS = frozenset({"ns", "nt", "nsf"})
NOUN_TAGS = frozenset({"n", "nz", "nr", "nrfg", "nrt", "ns", "nt", "nsf", "eng", "vn", "nl", "ng"})
POS_GROUPS = ("n", "nr", "ns", "nt", "nz", "m", "t", "v", "a", "eng", "x", "other")


def pos_group(tag: str) -> str:
    """The coarse part-of-speech group of a jieba tag, one of POS_GROUPS."""
    if tag in PERSON_TAGS:
        return "nr"
    if tag in PLACE_TAGS:
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


@lru_cache(maxsize=8192)
def is_punct(ch: str) -> bool:
    return is_punctuation(ch)


def is_numeric(ch: str) -> bool:
    """A digit or a Chinese numeral character."""
    return ch.isdigit() or ch in CN_NUMERALS


def content(text: str) -> str:
    """The text without punctuation and spaces."""
    return "".join(c for c in text if not (is_punct(c) or c.isspace()))


def bigrams(text: str) -> set[str]:
    """Character bigrams that contain no punctuation or space."""
    ok = [not (is_punct(c) or c.isspace()) for c in text]
    return {text[i : i + 2] for i in range(len(text) - 1) if ok[i] and ok[i + 1]}


def cumulative(flags: Iterable[object]) -> list[int]:
    """Prefix counts of true flags: out[j] - out[i] counts the flags in [i, j)."""
    out = [0]
    total = 0
    for flag in flags:
        total += 1 if flag else 0
        out.append(total)
    return out


def suffix_match(context: str, text: str, end: int) -> int:
    """How many characters at the end of `context` equal those of text[:end]."""
    n = 0
    while n < len(context) and n < end and context[-1 - n] == text[end - 1 - n]:
        n += 1
    return n


def prefix_match(context: str, text: str, start: int) -> int:
    """How many characters at the start of `context` equal those of text[start:]."""
    n = 0
    while n < len(context) and start + n < len(text) and context[n] == text[start + n]:
        n += 1
    return n


def find_all(text: str, word: str) -> list[int]:
    """Every offset where `word` occurs in `text`, overlapping ones included."""
    out = []
    i = text.find(word)
    while i >= 0:
        out.append(i)
        i = text.find(word, i + 1)
    return out


def clause_spans(text: str) -> list[tuple[int, int]]:
    """The clauses of a sentence, cut at CLAUSE_MARKS (marks excluded; a mark between digits is kept)."""
    n = len(text)
    clauses = []
    start = 0
    for i, c in enumerate(text):
        if c in CLAUSE_MARKS and not (
            c in ",:" and 0 < i < n - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
        ):
            clauses.append((start, i))
            start = i + 1
    clauses.append((start, n))
    return clauses


def entities(norm: str) -> list[tuple[int, int]]:
    """Numbers with units, amounts and dates in normalised text, found by pattern."""
    return [
        (m.start(), m.end())
        for regex in (NUMBER_UNIT_RE, DATE_RE)
        for m in regex.finditer(norm)
        if m.end() > m.start() and any(is_numeric(c) for c in m.group(0))
    ]
