"""Answer scoring in the CMRC 2018 style: characters, punctuation removed.

Chinese characters count one by one; runs of Latin letters and digits count as
one token each. EM compares the answer with each gold answer after removing
punctuation and spaces; F1 is built on the longest common substring of tokens,
as the official CMRC 2018 evaluation script does.
"""

import re
from collections.abc import Sequence

from newsqa.index.text import is_punctuation

_TOKEN_RE = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*|\S")


def _clean(text: str) -> str:
    return "".join(c for c in text.lower().strip() if not (is_punctuation(c) or c.isspace()))


def tokens(text: str) -> list[str]:
    """Characters for CJK, whole runs for Latin letters and digits; punctuation dropped."""
    return [t for t in _TOKEN_RE.findall(text.lower()) if not (len(t) == 1 and is_punctuation(t))]


def longest_common_run(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest run the two share: characters of two strings, or items of two lists."""
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def exact_match(prediction: str, answers: list[str]) -> float:
    p = _clean(prediction)
    return 1.0 if any(p == _clean(a) for a in answers) else 0.0


def f1(prediction: str, answers: list[str]) -> float:
    p = tokens(prediction)
    best = 0.0
    for answer in answers:
        g = tokens(answer)
        common = longest_common_run(g, p)
        if common == 0:
            continue
        precision, recall = common / len(p), common / len(g)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best
