"""Articles → passages: bounded stretches of whole sentences with a small overlap."""

from newsqa.index.text import CLAUSE_MARKS, sentence_spans
from newsqa.index.types import Article, Passage


class PassageSplitter:
    """Packs whole sentences into passages of at most `max_chars` characters.

    Consecutive passages share up to `overlap_chars` characters of whole
    sentences. A sentence is cut only when it alone is longer than
    `max_chars`, and then at a clause mark where there is one.
    """

    def __init__(self, max_chars: int = 300, overlap_chars: int = 60) -> None:
        if max_chars < 20:
            raise ValueError(f"max_chars must be at least 20, got {max_chars}")
        if not 0 <= overlap_chars < max_chars:
            raise ValueError(f"overlap_chars must be in [0, max_chars={max_chars}), got {overlap_chars}")
        self.max_chars = max_chars
        self.overlap_chars = overlap_chars

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each passage of `text`."""
        units = [piece for s, e in sentence_spans(text) for piece in self._fit(text, s, e)]
        out: list[tuple[int, int]] = []
        i = 0
        while i < len(units):
            start = units[i][0]
            j = i + 1
            while j < len(units) and units[j][1] - start <= self.max_chars:
                j += 1
            end = units[j - 1][1]
            out.append((start, end))
            if j == len(units):
                break
            # Start the next passage with the trailing sentences that fit in the overlap.
            k = j
            while k - 1 > i and end - units[k - 1][0] <= self.overlap_chars:
                k -= 1
            i = k
        return out

    def split(self, article: Article) -> list[Passage]:
        return [
            Passage(
                id=f"{article.id}:{ordinal}",
                article_id=article.id,
                ordinal=ordinal,
                text=article.text[start:end],
                start=start,
                end=end,
            )
            for ordinal, (start, end) in enumerate(self.spans(article.text))
        ]

    def _fit(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        """Cut a sentence longer than max_chars into pieces, preferring clause marks."""
        pieces = []
        while end - start > self.max_chars:
            limit = start + self.max_chars
            cut = max(
                (i + 1 for i in range(start + self.max_chars // 2, limit) if text[i] in CLAUSE_MARKS),
                default=limit,
            )
            piece_end = cut
            while text[piece_end - 1].isspace():
                piece_end -= 1  # start is not a space, so this stops inside the piece
            pieces.append((start, piece_end))
            start = cut
            while start < end and text[start].isspace():
                start += 1
        if end > start:
            pieces.append((start, end))
        return pieces
