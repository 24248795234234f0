"""Fit the span reader's confidence and abstention threshold on held-out articles, in place.

    python -m tools.span_calibrate WEIGHTS.npz [--read 4] [--max-abstain 0.10]

The weights file says which files it was trained on and which of their
articles were held out (tools/train_reader.py, by seed); nothing else is read.
Every held-out question is asked twice over BM25's passages of the training
files: with its article (answerable) and with its article taken out
(unanswerable). The numpy reader, as it serves, reads the first --read
passages; each passage's best span is labelled right (F1 >= 0.5 against the
gold answers, and only when answerable) or wrong, and a logistic model over
the span's evidence (qa/readers/span/confidence.py) learns the probability
that it is right. The threshold is the highest confidence that still answers
at least 1 - --max-abstain of the answerable questions.
"""

import argparse
import json
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np

from newsqa.index.text import terms
from newsqa.index.types import ArticleRef, Passage
from newsqa.qa.answerer import READ_PASSAGES
from newsqa.qa.metrics import exact_match, f1
from newsqa.qa.readers.span.confidence import fit
from newsqa.qa.readers.span.model import read_meta
from newsqa.qa.readers.span.reader import SpanReader
from newsqa.qa.types import Hit
from testbed import SHARED_QA
from tools.span_data import Corpus, bm25_over, load_corpus, split_articles

logger = logging.getLogger(__name__)


def hit_of(corpus: Corpus, p: int) -> Hit:
    a, s, e = corpus.passages[p]
    article = corpus.articles[a]
    ref = ArticleRef(f"article-{a}", article.title, None, None, None)
    return Hit(Passage(f"article-{a}:{p}", ref.id, p, article.text[s:e], s, e), ref, 1.0)


def calibrate(weights: Path, read: int = READ_PASSAGES, max_abstain: float = 0.10) -> dict[str, Any]:
    """Fit, write the calibration and threshold into `weights`, and return the figures."""
    meta = read_meta(weights)
    args = meta["training"]["args"]
    files = [SHARED_QA / name for name in meta["training"]["files"]]
    corpus = load_corpus(files)
    _, held = split_articles(corpus, float(args["heldout"]), int(args["seed"]))
    bm25 = bm25_over(corpus)
    reader = SpanReader(bm25.term_weights, weights)
    reader.warm_up()
    rows: list[tuple[int, bool, int, np.ndarray, float, str]] = []  # question, answerable, hit, x, f1, text
    questions = [q for a in held for q in corpus.articles[a].questions]
    for qi in questions:
        q = corpus.questions[qi]
        rows_found, _ = bm25.search(terms(q.text), read * 3)
        ranked = [int(r) for r in rows_found]
        settings = {
            True: ranked[:read],
            False: [r for r in ranked if corpus.passages[r][0] != q.article][:read],
        }
        for has_gold, chosen in settings.items():
            hits = [hit_of(corpus, p) for p in chosen]
            for c in reader.candidates(q.text, hits):
                text = hits[c.hit].passage.text[c.start : c.end]
                score = f1(text, q.answers) if has_gold else 0.0
                rows.append((qi, has_gold, c.hit, c.evidence.values, score, text))
    x = np.stack([r[3] for r in rows])
    y = np.array([1.0 if r[4] >= 0.5 else 0.0 for r in rows])
    calibration = fit(x, y)
    conf = 1.0 / (1.0 + np.exp(-(x @ np.array(calibration.weights) + calibration.bias)))
    raw = np.exp(x[:, 0])
    figures: dict[str, Any] = {"rows": len(rows), "questions": len(questions)}
    threshold = 0.0
    for name, scores in (("raw", raw), ("calibrated", conf)):
        top: dict[tuple[int, bool], tuple[float, str]] = {}
        for r, s in zip(rows, scores, strict=True):
            key = (r[0], r[1])
            if key not in top or s > top[key][0]:
                top[key] = (float(s), r[5])
        answered = [top[(q, True)][0] for q in questions if (q, True) in top]
        unanswerable = [top[(q, False)][0] for q in questions if (q, False) in top]
        t = float(np.quantile(answered, max_abstain)) if answered else 0.5
        answers = {q: top[(q, True)][1] for q in questions if (q, True) in top}
        figures[name] = {
            "threshold": round(t, 4),
            "abstained_answerable": round(float(np.mean([s < t for s in answered])), 3),
            "abstained_unanswerable": round(float(np.mean([s < t for s in unanswerable])), 3),
            "em": round(
                float(
                    np.mean([exact_match(answers.get(q, ""), corpus.questions[q].answers) for q in questions])
                ),
                3,
            ),
        }
        threshold = t
    meta["calibration"] = calibration.to_meta()
    meta["threshold"] = threshold
    meta["training"]["calibration"] = figures
    with np.load(weights, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["meta"] = np.array(json.dumps(meta, ensure_ascii=False))
    tmp = weights.with_suffix(".tmp.npz")
    np.savez(tmp, allow_pickle=False, **arrays)
    tmp.replace(weights)
    logger.info("calibrated %s: %s", weights, json.dumps(figures))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("weights", type=Path)
    parser.add_argument("--read", type=int, default=READ_PASSAGES, help="passages read per question")
    parser.add_argument("--max-abstain", type=float, default=0.10, help="abstention allowed on answerable")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    random.seed(args.seed)
    print(json.dumps(calibrate(args.weights, args.read, args.max_abstain), indent=1))


if __name__ == "__main__":
    main()
