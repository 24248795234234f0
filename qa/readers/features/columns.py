"""The feature reader's columns: their names, in the order the learned weights are stored,
and which of them are crossed with the question type."""

import numpy as np

from newsqa.qa.questions import QType
from newsqa.qa.readers.features.patterns import POS_GROUPS

LEN_BUCKETS = (2, 4, 8, 16, 32)
# How a candidate span was generated (see candidates.py).
KINDS = ("token", "entity", "clause", "tail", "head", "sentence")


def _feature_names() -> list[str]:
    """Every column, in the order the learned weights are stored."""
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
    base += [f"len<={b}" for b in LEN_BUCKETS] + ["len>32"]
    base += [f"kind={k}" for k in KINDS]
    base += [f"last_pos={p}" for p in POS_GROUPS]
    base += [f"first_pos={p}" for p in POS_GROUPS]
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
    crossed += [f"len<={b}" for b in LEN_BUCKETS] + ["len>32"]
    crossed += [f"kind={k}" for k in KINDS] + [f"last_pos={p}" for p in POS_GROUPS]
    names = list(base)
    for qt in QType:
        names += [f"{qt.value}*{c}" for c in ["bias", *crossed]]
    return names


FEATURE_NAMES = _feature_names()
COLUMN = {n: i for i, n in enumerate(FEATURE_NAMES)}
# The columns copied into a question-type-specific twin ("number*type_number").
CROSSED = [n.split("*", 1)[1] for n in FEATURE_NAMES if n.startswith(f"{QType.OTHER.value}*")]
CROSS_SOURCES = np.array([COLUMN[c] for c in CROSSED if c != "bias"])
CROSS_TARGETS = {
    qt.value: np.array([COLUMN[f"{qt.value}*{c}"] for c in CROSSED if c != "bias"]) for qt in QType
}
