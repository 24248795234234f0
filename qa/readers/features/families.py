"""The feature reader's features, one function per family. Each fills its own columns of the
feature matrix for every candidate span of one sentence; `featurize` runs them all and then
crosses the columns that depend on the question type with it.

A family reads a `SpanBatch`: the question, the sentence, and the candidate spans as arrays
of start and end offsets in the sentence.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from newsqa.qa.questions import Question
from newsqa.qa.readers.features.columns import (
    COLUMN,
    CROSS_SOURCES,
    CROSS_TARGETS,
    FEATURE_NAMES,
    LEN_BUCKETS,
)
from newsqa.qa.readers.features.patterns import (
    DATE_RE,
    FUNCTION_EDGE,
    NOUN_TAGS,
    NUMBER_UNIT_RE,
    PERSON_TAGS,
    PLACE_TAGS,
    SOFT_MARKS,
    content,
    cumulative,
    is_numeric,
    is_punct,
    pos_group,
    prefix_match,
    suffix_match,
)
from newsqa.qa.readers.features.sentences import Sentence, occurrences
from newsqa.qa.readers.features.tokens import Token

FAR = 999  # "no such word": farther than any real distance


@dataclass
class SpanBatch:
    """The candidate spans of one sentence and what their features are computed from."""

    question: Question
    sentence: Sentence
    best: bool  # the sentence covers the question best
    spans: list[tuple[int, int]]  # (start, end) in the sentence
    kinds: list[str]  # how each span was generated (columns.KINDS)
    tokens: list[Token]
    clauses: list[tuple[int, int]]
    weights: dict[str, float]  # question word -> IDF

    def __post_init__(self) -> None:
        m = len(self.spans)
        self.starts = np.fromiter((a for a, _ in self.spans), dtype=np.int64, count=m)
        self.ends = np.fromiter((b for _, b in self.spans), dtype=np.int64, count=m)
        self.lengths = self.ends - self.starts
        self.features = np.zeros((m, len(FEATURE_NAMES)), dtype=np.float32)

    @property
    def norm(self) -> str:
        return self.sentence.norm

    def column(self, name: str) -> np.ndarray:
        """The writable column `name` of the feature matrix."""
        return self.features[:, COLUMN[name]]

    def span_count(self, flags: list[bool] | np.ndarray) -> np.ndarray:
        """How many of the per-character flags of the sentence fall inside each span."""
        cum = np.concatenate([[0], np.cumsum(np.asarray(flags, dtype=np.int64))])
        return cum[self.ends] - cum[self.starts]

    @cached_property
    def matched(self) -> np.ndarray:
        """Sorted offsets of the sentence's characters that belong to a question word."""
        n = len(self.norm)
        marks = np.zeros(n + 1, dtype=bool)
        for term in self.question.terms:
            for i, length in occurrences(self.norm, term, self.sentence.aliases):
                marks[i : i + length] = True
        return np.flatnonzero(marks[:n])


Family = Callable[[SpanBatch], None]


def sentence_family(batch: SpanBatch) -> None:
    """How well the span's sentence and passage cover the question (the same for every span)."""
    sent = batch.sentence
    for name, value in (
        ("bias", 1.0),
        ("sent_cover", sent.cover),
        ("sent_bigram", sent.bigram),
        ("sent_lcs", sent.lcs),
        ("sent_best", 1.0 if batch.best else 0.0),
        ("passage_score", sent.hit.score),
        ("passage_first", 1.0 if sent.rank == 0 else 0.0),
        ("context_cover", sent.context_cover),
    ):
        batch.column(name)[:] = value


def alignment_family(batch: SpanBatch) -> None:
    """Do the words before the question word end right before the span, and those after it
    start right after it? Strict, or with up to two characters skipped on either side; counted
    on content characters (punctuation and spaces skipped), up to 8 of them."""
    q = batch.question
    left_ctx, right_ctx = content(q.left), content(q.right)
    norm = batch.norm
    text = content(norm)
    position = cumulative(not (is_punct(c) or c.isspace()) for c in norm)

    def left(a: int) -> tuple[float, float]:
        # A trailing 是/为 of the question's left part may be missing from the source.
        end = position[a]
        strict = max(suffix_match(left_ctx[: len(left_ctx) - qg], text, end) for qg in (0, 1))
        loose = max(
            suffix_match(left_ctx[: len(left_ctx) - qg], text, end - sg)
            for qg in (0, 1, 2)
            for sg in (0, 1, 2)
            if sg <= end
        )
        return min(strict, 8) / 8, min(max(strict, loose), 8) / 8

    def right(b: int) -> tuple[float, float]:
        start = position[b]
        strict = prefix_match(right_ctx, text, start)
        loose = max(prefix_match(right_ctx[qg:], text, start + sg) for qg in (0, 1, 2) for sg in (0, 1, 2))
        return min(strict, 8) / 8, min(max(strict, loose), 8) / 8

    for context, measure, edges, names in (
        (left_ctx, left, batch.starts, ("left_align", "left_align_any")),
        (right_ctx, right, batch.ends, ("right_align", "right_align_any")),
    ):
        if not context:
            continue
        edge_list = edges.tolist()
        cache = {e: measure(e) for e in set(edge_list)}
        batch.column(names[0])[:] = [cache[e][0] for e in edge_list]
        batch.column(names[1])[:] = [cache[e][1] for e in edge_list]


def proximity_family(batch: SpanBatch) -> None:
    """How close the span is to the question's words in the sentence, and on which side of them."""
    matched = batch.matched
    if not len(matched):
        return
    a, b = batch.starts, batch.ends
    i_before = np.searchsorted(matched, a, side="left") - 1
    i_after = np.searchsorted(matched, b, side="left")
    has_before = i_before >= 0
    has_after = i_after < len(matched)
    d_before = np.where(has_before, a - matched[np.clip(i_before, 0, None)] - 1, FAR)
    d_after = np.where(has_after, matched[np.clip(i_after, None, len(matched) - 1)] - b, FAR)
    distance = np.minimum(d_before, d_after)
    batch.column("near")[:] = 1.0 / (1.0 + distance / 3.0)
    batch.column("far")[:] = np.minimum(distance, 60) / 60
    batch.column("after_match")[:] = has_before & ~has_after
    batch.column("before_match")[:] = has_after & ~has_before


def overlap_family(batch: SpanBatch) -> None:
    """Does the span repeat the question: the share of its characters found in the question,
    and whether it holds a whole question word."""
    q = batch.question
    norm = batch.norm
    q_chars = set(content(q.left + q.right if q.wh else q.normalized))
    batch.column("q_overlap")[:] = batch.span_count([c in q_chars for c in norm]) / np.maximum(
        batch.lengths, 1
    )
    inside = np.zeros(len(batch.spans), dtype=bool)
    for term in q.terms:
        if len(term) < 2 or term == q.category:
            continue
        i = norm.find(term)
        while i >= 0:
            inside |= (batch.starts <= i) & (batch.ends >= i + len(term))
            i = norm.find(term, i + 1)
    batch.column("q_term_inside")[:] = inside


def unit_and_category_family(batch: SpanBatch) -> None:
    """Does the span end with the unit named after 几/多少 ("几路" → …路), or with the noun asked
    about ("哪一个民族" → …族)?"""
    q, norm, spans = batch.question, batch.norm, batch.spans
    if q.unit:
        u = len(q.unit)
        batch.column("unit_match")[:] = [norm[b - u : b] == q.unit and b - a >= u for a, b in spans]
    if q.category:
        c = len(q.category)
        last = q.category[-1]
        batch.column("cat_suffix")[:] = [norm[b - c : b] == q.category and b - a > c for a, b in spans]
        batch.column("cat_last_char")[:] = [norm[b - 1] == last for _, b in spans]
        batch.column("cat_inside")[:] = [last in norm[a:b] for a, b in spans]


def sides_family(batch: SpanBatch) -> None:
    """Do the question's words before its question word occur before the span in the sentence,
    and those after it after the span (in "被/由 + question word" questions the order flips)?"""
    q, sent, weights = batch.question, batch.sentence, batch.weights
    a, b = batch.starts, batch.ends
    m = len(batch.spans)
    for side_terms, right_side in ((q.left_terms, False), (q.right_terms, True)):
        side_terms = tuple(t for t in side_terms if t != q.category)
        total = sum(weights.get(t, 1.0) for t in side_terms)
        if not total:
            continue
        right_place = np.zeros(m, dtype=np.float32)
        wrong_only = np.zeros(m, dtype=np.float32)
        gap = np.full(m, FAR, dtype=np.int64)
        present = sum(weights.get(t, 1.0) for t in side_terms if t in sent.expanded) / total
        for t in side_terms:
            found = occurrences(sent.norm, t, sent.aliases)
            if not found:
                continue
            occ_start = np.array([i for i, _ in found])
            occ_end = occ_start + np.array([length for _, length in found])
            if right_side:
                ahead = occ_start[None, :] - b[:, None]
                gap = np.minimum(gap, np.where(ahead >= 0, ahead, FAR).min(axis=1))
                good = (occ_start[None, :] >= b[:, None]).any(axis=1)
                bad = (occ_end[None, :] <= a[:, None]).any(axis=1) & ~good
            else:
                behind = a[:, None] - occ_end[None, :]
                gap = np.minimum(gap, np.where(behind >= 0, behind, FAR).min(axis=1))
                good = (occ_end[None, :] <= a[:, None]).any(axis=1)
                bad = (occ_start[None, :] >= b[:, None]).any(axis=1) & ~good
            weight = weights.get(t, 1.0) / total
            right_place += weight * good
            wrong_only += weight * bad
        closeness = np.where(gap < FAR, 1.0 / (1.0 + gap / 2.0), 0.0)
        if right_side:
            batch.column("right_terms_after")[:] = right_place
            batch.column("right_terms_wrong_side")[:] = wrong_only
            batch.column("right_term_gap")[:] = closeness
            batch.column("sent_right_cover")[:] = present
        else:
            batch.column("left_terms_before")[:] = right_place
            wrong = "left_terms_wrong_side_passive" if q.passive else "left_terms_wrong_side"
            batch.column(wrong)[:] = wrong_only
            batch.column("left_term_gap")[:] = closeness
            batch.column("sent_left_cover")[:] = present


def number_and_date_family(batch: SpanBatch) -> None:
    """Is the span a number with its unit, or a date, and does a date have the grain asked for
    (year, month, day)? A year picked out of a longer date is marked as part of it."""
    q, norm = batch.question, batch.norm
    a, b = batch.starts, batch.ends
    batch.column("has_digit")[:] = batch.span_count([c.isdigit() for c in norm]) > 0
    numeric = np.flatnonzero(batch.span_count([is_numeric(c) for c in norm]) > 0)
    is_number, is_date = batch.column("type_number"), batch.column("type_date")
    for r in numeric:
        piece = norm[a[r] : b[r]]
        if NUMBER_UNIT_RE.fullmatch(piece):
            is_number[r] = 1.0
        if DATE_RE.fullmatch(piece):
            is_date[r] = 1.0
    if not q.date_grain:
        return
    dates = [(m.start(), m.end()) for m in DATE_RE.finditer(norm) if m.end() > m.start()]
    for r in np.flatnonzero(is_date > 0):
        piece = norm[a[r] : b[r]]
        day = "日" in piece or "号" in piece
        month = "月" in piece and not day
        year = piece.endswith("年") and not month and not day
        for grain, value in (("year", year), ("day", day), ("month", month)):
            name = f"{q.date_grain}_q*{grain}_span"
            if value and name in COLUMN:
                batch.features[r, COLUMN[name]] = 1.0
        if any(da <= a[r] and b[r] <= db and db - da > b[r] - a[r] for da, db in dates):
            batch.features[r, COLUMN[f"{q.date_grain}_q*entity_part"]] = 1.0


def surface_family(batch: SpanBatch) -> None:
    """What the span's edges look like: a title in 《》 or quotes, a function word at an edge,
    a list mark (、) inside."""
    norm = batch.norm
    first = [norm[a] for a in batch.starts.tolist()]
    last = [norm[b - 1] for b in batch.ends.tolist()]
    batch.column("has_soft_mark")[:] = batch.span_count([c in SOFT_MARKS for c in norm]) > 0
    batch.column("is_title")[:] = [
        f in '《“「"' and la in '》”」"' for f, la in zip(first, last, strict=True)
    ]
    batch.column("edge_function_word")[:] = [
        f in FUNCTION_EDGE or la in FUNCTION_EDGE for f, la in zip(first, last, strict=True)
    ]


def word_family(batch: SpanBatch) -> None:
    """The parts of speech of the span's first and last words, and whether it is a person
    (person words only), a place or a noun (by its last word). Spans that do not start and end
    on word boundaries get the "x" tag."""
    n = len(batch.norm)
    tokens = batch.tokens
    token_at_start = np.full(n + 1, -1, dtype=np.int64)
    token_at_end = np.full(n + 1, -1, dtype=np.int64)
    person = np.zeros(len(tokens) + 1, dtype=np.int32)
    non_person = np.zeros(len(tokens) + 1, dtype=np.int32)
    for k, (a, b, tag) in enumerate(tokens):
        if token_at_start[a] < 0:
            token_at_start[a] = k
        token_at_end[b] = k
        person[k + 1] = person[k] + (tag in PERSON_TAGS)
        non_person[k + 1] = non_person[k] + (tag not in PERSON_TAGS and tag != "x")
    first = token_at_start[batch.starts]
    last = token_at_end[batch.ends]
    aligned = (first >= 0) & (last >= 0) & (last >= first)
    lo = np.where(aligned, first, 0)
    hi = np.where(aligned, last + 1, 0)
    batch.column("type_person")[:] = (
        aligned & ((person[hi] - person[lo]) > 0) & ((non_person[hi] - non_person[lo]) == 0)
    )
    last_tags = [tokens[k][2] if k >= 0 else "x" for k in last.tolist()]
    first_tags = [tokens[k][2] if k >= 0 else "x" for k in first.tolist()]
    batch.column("type_place")[:] = [t in PLACE_TAGS for t in last_tags]
    batch.column("type_noun")[:] = [t in NOUN_TAGS for t in last_tags]
    rows = np.arange(len(batch.spans))
    batch.features[rows, [COLUMN[f"last_pos={pos_group(t)}"] for t in last_tags]] = 1.0
    batch.features[rows, [COLUMN[f"first_pos={pos_group(t)}"] for t in first_tags]] = 1.0


def shape_family(batch: SpanBatch) -> None:
    """The span's length (log and buckets), how it was generated, whether it is a whole clause,
    and whether it ends the sentence."""
    lengths = batch.lengths
    rows = np.arange(len(batch.spans))
    batch.column("log_len")[:] = np.log(lengths + 1) / 4
    bucket = np.searchsorted(np.array(LEN_BUCKETS), lengths, side="left")
    bucket_columns = np.array([COLUMN[f"len<={b}"] for b in LEN_BUCKETS] + [COLUMN["len>32"]])
    batch.features[rows, bucket_columns[bucket]] = 1.0
    batch.features[rows, [COLUMN[f"kind={k}"] for k in batch.kinds]] = 1.0
    clauses = set(batch.clauses)
    batch.column("clause_whole")[:] = [
        span in clauses or kind == "sentence" for span, kind in zip(batch.spans, batch.kinds, strict=True)
    ]
    batch.column("ends_sentence")[:] = batch.ends >= len(batch.norm) - 1


FAMILIES: tuple[Family, ...] = (
    sentence_family,
    alignment_family,
    proximity_family,
    overlap_family,
    unit_and_category_family,
    sides_family,
    number_and_date_family,
    surface_family,
    word_family,
    shape_family,
)


def cross_with_question_type(batch: SpanBatch) -> None:
    """Copy the crossed columns into their twins for this question's type ("number*type_number"),
    so that one weight vector learns what each type of question wants."""
    qt = batch.question.qtype.value
    batch.features[:, COLUMN[f"{qt}*bias"]] = 1.0
    batch.features[:, CROSS_TARGETS[qt]] = batch.features[:, CROSS_SOURCES]


def featurize(batch: SpanBatch, families: tuple[Family, ...] = FAMILIES) -> np.ndarray:
    """The feature matrix of the batch's spans (one row per span, columns as FEATURE_NAMES)."""
    if batch.spans:
        for family in families:
            family(batch)
        cross_with_question_type(batch)
    return batch.features
