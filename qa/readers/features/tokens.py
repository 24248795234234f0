"""Words of a sentence for the feature reader: rjieba segmentation with part-of-speech tags,
cut where a number, amount or date begins or ends, and transliterated names written with
interpuncts ("保罗·塞里诺") made one word."""

from functools import lru_cache
from typing import Any

from newsqa.qa.readers.features.patterns import PLACE_TAGS

# A word: (start, end, part-of-speech tag), offsets in the sentence.
Token = tuple[int, int, str]

INTERPUNCTS = frozenset("·‧・•∙")
# Single characters that end or start a clause's grammar rather than a name.
_NOT_NAME_CHARS = frozenset("的了是在和与及或而把被对从向于为由也都就还将并且着过说称等之其年月日")


@lru_cache(maxsize=1)
def tagger() -> Any:
    """rjieba, loaded on first use (its dictionary takes a moment)."""
    import rjieba

    return rjieba


def words(norm: str, entities: list[tuple[int, int]]) -> list[Token]:
    """The tagged words of normalised sentence text.

    A word that straddles an entity's edge ("1日起") is split there, so that
    spans and words line up; its parts inside an entity are tagged "m".
    """
    edges = {e for span in entities for e in span}
    tokens: list[Token] = []
    pos = 0
    for word, tag in tagger().tag(norm):
        end = pos + len(word)
        cuts = sorted(e for e in edges if pos < e < end)
        for a, b in zip([pos, *cuts], [*cuts, end], strict=True):
            inside = cuts and any(ea <= a and b <= eb for ea, eb in entities)
            tokens.append((a, b, "m" if inside else tag))
        pos = end
    if any(c in INTERPUNCTS for c in norm):
        tokens = join_interpunct_names(norm, tokens)
    return tokens


def join_interpunct_names(norm: str, tokens: list[Token]) -> list[Token]:
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

    dots = [k for k in range(len(tokens)) if text(k) in INTERPUNCTS]
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
    out: list[Token] = []
    k = 0
    for lo, hi in merged:
        out += tokens[k:lo]
        parts = [tokens[i][2] for i in range(lo, hi + 1) if text(i) not in INTERPUNCTS]
        tag = "m" if all(t == "m" for t in parts) else "ns" if all(t in PLACE_TAGS for t in parts) else "nrt"
        out.append((tokens[lo][0], tokens[hi][1], tag))
        k = hi + 1
    return out + tokens[k:]
