"""Learn the feature reader's weights on SQuAD-style dev sets; writes qa/readers/features/weights.json.

    python -m tools.learn_reader [--train FILE...] [--heldout FILE...]   # default: learn on DRCD dev, check on CMRC trial

For every question of the training files, open-domain over all contexts of its
file: retrieve passages with the real hybrid retriever, generate the reader's
candidate spans and features, and learn span weights with a listwise softmax
(L2-regularised, L-BFGS) whose target is the candidate(s) closest to a gold
answer. Then learn the confidence model (logistic regression on the best
span's score, margin and coverage), using as negatives the same questions
asked with their gold article taken out of the index, i.e. questions the index
cannot answer, and choose the abstention threshold that keeps abstention on
answerable questions at or below --max-abstain while abstaining on as many
unanswerable ones as possible. Needs scipy (pip install 'newsqa[bench]').
"""

import argparse
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from newsqa.index import text as text_module
from newsqa.index.builder import IndexWriter
from newsqa.index.embedders import USEEmbedder
from newsqa.index.sources import read_sources
from newsqa.index.store import IndexSnapshot
from newsqa.qa import questions as questions_module
from newsqa.qa.evaluate import EvalQuestion, load_squad
from newsqa.qa.metrics import exact_match, f1
from newsqa.qa.questions import analyze
from newsqa.qa.readers.features import candidates, columns, families, patterns, sentences, tokens
from newsqa.qa.readers.features.candidates import CandidateBuilder
from newsqa.qa.readers.features.columns import FEATURE_NAMES
from newsqa.qa.readers.features.model import WEIGHTS_FILE, ReaderWeights, confidence, confidence_features
from newsqa.qa.retrieval import FusionParams, HybridRetriever
from testbed import SHARED_QA

READ_HITS = 10


def _featurize_chunk(args: tuple[str, str, list[EvalQuestion]]) -> list[dict]:
    """Worker: retrieve and featurize a chunk of questions (answerable and with the gold article out)."""
    root, _, questions = args
    embedder = USEEmbedder(threads=1)
    snapshot = IndexSnapshot.open(root)
    retriever = HybridRetriever(snapshot, embedder, FusionParams())
    builder = CandidateBuilder(snapshot.term_weights)
    out = []
    for q in questions:
        hits = retriever.search(q.question, 40)
        analysed = analyze(q.question)
        for hits_, answerable in (
            (hits[:READ_HITS], True),
            ([h for h in hits if h.article.id != q.article_id][:READ_HITS], False),
        ):
            cands = builder.build(analysed, hits_)
            texts = [cands.text(i) for i in range(len(cands.spans))]
            out.append(
                {
                    "answers": q.answers,
                    "answerable": answerable,
                    "X": sparse.csr_matrix(cands.features),
                    "texts": texts,
                    "sentence_of": cands.sentence_of(),
                    "sentence_stats": cands.sentence_stats(),
                    "qtype": analysed.qtype.value,
                }
            )
    return out


def _cache_paths(work: Path, name: str) -> tuple[Path, Path]:
    # Features depend on the code that computes them: the cache is keyed by that code.
    modules = (candidates, columns, families, patterns, sentences, tokens, questions_module, text_module)
    code = "".join(Path(str(m.__file__)).read_text(encoding="utf-8") for m in modules)
    key = hashlib.sha256(code.encode("utf-8")).hexdigest()[:12]
    return work / f"{name}.{key}.npz", work / f"{name}.{key}.json"


def featurize(path: Path, work: Path, embedder: USEEmbedder, workers: int) -> list[dict]:
    """Candidates, features and labels for every question of one dev set (cached in `work`)."""
    npz_path, json_path = _cache_paths(work, path.stem)
    if npz_path.exists() and json_path.exists():
        return _load_cache(npz_path, json_path)
    root = work / path.stem
    if not (root / "CURRENT").exists():
        IndexWriter(root, embedder).build(read_sources([path]))
    questions, _ = load_squad(path)
    size = max(1, len(questions) // (workers * 8))
    chunks = [(str(root), path.name, questions[i : i + size]) for i in range(0, len(questions), size)]
    items: list[dict] = []
    started = time.time()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for n, part in enumerate(pool.map(_featurize_chunk, chunks), 1):
            items += part
            print(f"  {path.name}: {n}/{len(chunks)} chunks, {time.time() - started:.0f}s", file=sys.stderr)
    for it in items:
        if it["answerable"]:
            it["f1"] = np.array([f1(t, it["answers"]) for t in it["texts"]], dtype=np.float32)
            it["em"] = np.array([exact_match(t, it["answers"]) for t in it["texts"]], dtype=np.float32)
        else:
            it["f1"] = it["em"] = None
    _save_cache(items, npz_path, json_path)
    return items


def _save_cache(items: list[dict], npz_path: Path, json_path: Path) -> None:
    X = sparse.vstack([it["X"] for it in items]).tocsr()
    sizes = np.array([it["X"].shape[0] for it in items])
    np.savez_compressed(
        npz_path, data=X.data, indices=X.indices, indptr=X.indptr, shape=np.array(X.shape), sizes=sizes
    )
    meta = [
        {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in it.items() if k != "X"}
        for it in items
    ]
    tmp = json_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, json_path)


def _load_cache(npz_path: Path, json_path: Path) -> list[dict]:
    z = np.load(npz_path)
    X = sparse.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
    bounds = np.concatenate([[0], np.cumsum(z["sizes"])])
    items = json.loads(json_path.read_text(encoding="utf-8"))
    for i, it in enumerate(items):
        it["X"] = X[bounds[i] : bounds[i + 1]]
        for key in ("f1", "em"):
            if it[key] is not None:
                it[key] = np.array(it[key], dtype=np.float32)
    return items


def targets(item: dict) -> np.ndarray | None:
    """Which candidates the softmax should put its mass on: exact matches, else the best F1 ≥ 0.5."""
    if item["em"] is not None and item["em"].any():
        return item["em"] > 0
    if item["f1"] is not None and len(item["f1"]) and item["f1"].max() >= 0.5:
        return item["f1"] >= item["f1"].max() - 1e-6
    return None


def _subsample(
    X: Any, t: np.ndarray, keep: int, rank_by: np.ndarray | None, seed: int
) -> tuple[Any, np.ndarray]:
    """The targets, the hardest negatives by the linear model, and some random ones."""
    if X.shape[0] <= keep:
        return X, t
    rng = np.random.default_rng(seed)
    scores = np.asarray(X @ rank_by).ravel() if rank_by is not None else rng.random(X.shape[0])
    hard = [i for i in np.argsort(-scores) if not t[i]][: keep * 2 // 3]
    rest = np.setdiff1d(np.flatnonzero(~t), hard)
    easy = rng.choice(rest, size=min(len(rest), keep // 3), replace=False) if len(rest) else []
    rows = np.concatenate([np.flatnonzero(t), hard, easy]).astype(int)
    return X[rows], t[rows]


def learn_span_model(
    items: list[dict], l2: float, hidden: int, seed: int = 0, keep: int = 0, rank_by: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Fit the span scorer: linear (hidden=0) or linear plus one ReLU layer, listwise softmax loss.

    With a hidden layer and `keep`, each question trains on its targets and `keep`
    negatives (the linear model's hardest two thirds, a random third), which makes
    the fit affordable on 2 cores.
    """
    from scipy.optimize import minimize

    data = [(it["X"], targets(it)) for it in items if it["answerable"]]
    data = [(X, t) for X, t in data if t is not None]
    if hidden and keep:
        data = [_subsample(X, t, keep, rank_by, seed + i) for i, (X, t) in enumerate(data)]
    X_all = sparse.vstack([X for X, _ in data]).tocsr().astype(np.float64)
    XT = X_all.T.tocsr()
    bounds = np.cumsum([0] + [X.shape[0] for X, _ in data])
    tmask = np.concatenate([t for _, t in data])
    n = len(data)
    d = X_all.shape[1]
    groups = np.repeat(np.arange(n), np.diff(bounds))
    shapes = {"u": (d,), "W": (hidden, d), "c": (hidden,), "v": (hidden,)} if hidden else {"u": (d,)}
    sizes = {k: int(np.prod(v)) for k, v in shapes.items()}

    def unpack(theta: np.ndarray) -> dict[str, np.ndarray]:
        out, i = {}, 0
        for k, shape in shapes.items():
            out[k] = theta[i : i + sizes[k]].reshape(shape)
            i += sizes[k]
        return out

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = unpack(theta)
        s = X_all @ p["u"]
        if hidden:
            pre = np.asarray(X_all @ p["W"].T) + p["c"]
            H = np.maximum(pre, 0)
            s = s + H @ p["v"]
        m = np.maximum.reduceat(s, bounds[:-1])
        e = np.exp(s - m[groups])
        z_all = np.add.reduceat(e, bounds[:-1])
        z_t = np.add.reduceat(e * tmask, bounds[:-1])
        value = float(np.sum(np.log(z_all) - np.log(z_t)) / n)
        g = (e / z_all[groups] - e * tmask / z_t[groups]) / n
        grads = {"u": XT @ g}
        for k in shapes:
            value += l2 * float(np.sum(p[k] ** 2)) if k != "c" else 0.0
        if hidden:
            grads["v"] = H.T @ g
            back = (g[:, None] * p["v"][None, :]) * (pre > 0)
            grads["c"] = back.sum(axis=0)
            grads["W"] = np.asarray((XT @ back).T)
        flat = np.concatenate([(grads[k] + (2 * l2 * p[k] if k != "c" else 0)).ravel() for k in shapes])
        return value, flat

    rng = np.random.default_rng(seed)
    theta0 = np.zeros(sum(sizes.values()))
    if hidden:
        init = unpack(theta0)
        init["W"][:] = rng.normal(0, 0.05, size=shapes["W"])
        init["v"][:] = rng.normal(0, 0.05, size=shapes["v"])
    result = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 600})
    print(
        f"  span model (hidden={hidden}): loss {result.fun:.4f} after {result.nit} iterations on {n} questions",
        file=sys.stderr,
    )
    return {k: v.astype(np.float32) for k, v in unpack(result.x).items()}


def span_scores(model: dict[str, np.ndarray], X: Any) -> np.ndarray:
    """The scores the reader gives with these weights (ReaderWeights.scores, on sparse rows)."""
    hidden = {k: model[k] for k in ("W", "c", "v")} if "W" in model else None
    weights = ReaderWeights(span=model["u"], hidden=hidden, confidence={}, threshold=0.0, info={})
    return np.asarray(weights.scores(X)).ravel()


def confidence_rows(
    items: list[dict], w: dict[str, np.ndarray]
) -> tuple[list[dict], np.ndarray, list[float]]:
    feats, labels, f1s = [], [], []
    for it in items:
        if not it["texts"]:
            continue
        scores = span_scores(w, it["X"])
        best = int(np.argmax(scores))
        feats.append(confidence_features(scores, it["texts"], it["sentence_stats"], it["sentence_of"], best))
        ok = it["answerable"] and it["f1"][best] >= 0.5
        labels.append(1.0 if ok else 0.0)
        f1s.append(float(it["f1"][best]) if it["answerable"] else 0.0)
    return feats, np.array(labels), f1s


def learn_confidence(feats: list[dict], labels: np.ndarray, l2: float = 1e-3) -> dict[str, float]:
    from scipy.optimize import minimize

    names = list(feats[0])
    X = np.array([[f[k] for k in names] for f in feats])
    mu, sd = X.mean(0), X.std(0) + 1e-6
    Z = (X - mu) / sd
    Z1 = np.hstack([np.ones((len(Z), 1)), Z])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = Z1 @ w
        p = 1 / (1 + np.exp(-z))
        eps = 1e-9
        value = -np.mean(labels * np.log(p + eps) + (1 - labels) * np.log(1 - p + eps)) + l2 * w[1:] @ w[1:]
        grad = Z1.T @ (p - labels) / len(Z1)
        grad[1:] += 2 * l2 * w[1:]
        return float(value), grad

    w = minimize(loss, np.zeros(Z1.shape[1]), jac=True, method="L-BFGS-B").x
    # Fold the standardisation into the weights so the runtime needs none.
    weights = {k: float(w[i + 1] / sd[i]) for i, k in enumerate(names)}
    weights["bias"] = float(w[0] - sum(w[i + 1] * mu[i] / sd[i] for i in range(len(names))))
    return weights


def apply_confidence(weights: dict[str, float], feats: list[dict]) -> np.ndarray:
    return np.array([confidence(weights, f) for f in feats])


def choose_threshold(conf: np.ndarray, answerable: np.ndarray, max_abstain: float) -> float:
    """The highest threshold whose abstention on answerable questions stays within max_abstain."""
    answerable_conf = np.sort(conf[answerable])
    k = int(np.floor(max_abstain * len(answerable_conf)))
    return float(answerable_conf[k]) if k < len(answerable_conf) else 0.0


def evaluate(items: list[dict], w: dict[str, np.ndarray], conf_w: dict, threshold: float) -> dict:
    em = f1s = answered = 0.0
    n = sum(it["answerable"] for it in items)
    abstained_unanswerable = n_unanswerable = 0
    for it in items:
        if not it["texts"]:
            if not it["answerable"]:
                abstained_unanswerable += 1
                n_unanswerable += 1
            continue
        scores = span_scores(w, it["X"])
        best = int(np.argmax(scores))
        c = apply_confidence(
            conf_w, [confidence_features(scores, it["texts"], it["sentence_stats"], it["sentence_of"], best)]
        )[0]
        if it["answerable"]:
            if c >= threshold:
                answered += 1
                em += float(it["em"][best])
                f1s += float(it["f1"][best])
        else:
            n_unanswerable += 1
            abstained_unanswerable += int(c < threshold)
    return {
        "questions": n,
        "em": round(em / n, 4),
        "f1": round(f1s / n, 4),
        "answered": round(answered / n, 4),
        "abstained": round(1 - answered / n, 4),
        "unanswerable_abstained": round(abstained_unanswerable / max(n_unanswerable, 1), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", nargs="+", type=Path, default=[SHARED_QA / "DRCD_dev.json"])
    parser.add_argument("--heldout", nargs="*", type=Path, default=[SHARED_QA / "cmrc2018_trial.json"])
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "newsqa-learn")
    parser.add_argument("--l2", type=float, default=1e-3)
    parser.add_argument("--max-abstain", type=float, default=0.08)
    parser.add_argument(
        "--hidden", type=int, default=0, help="Hidden ReLU units of the span scorer (0: linear)."
    )
    parser.add_argument("--keep", type=int, default=60, help="Negatives per question when --hidden > 0.")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "qa" / "readers" / "features" / WEIGHTS_FILE,
    )
    args = parser.parse_args()

    embedder = USEEmbedder()
    embedder.warm_up()
    args.work.mkdir(parents=True, exist_ok=True)
    sets = {p: featurize(p, args.work, embedder, args.workers) for p in [*args.train, *args.heldout]}
    train_items = [it for p in args.train for it in sets[p]]
    w = learn_span_model(train_items, args.l2, 0)
    if args.hidden:
        w = learn_span_model(train_items, args.l2, args.hidden, keep=args.keep, rank_by=w["u"])
    feats, labels, _ = confidence_rows(train_items, w)
    conf_w = learn_confidence(feats, labels)
    answerable = np.array([it["answerable"] for it in train_items if it["texts"]])
    threshold = choose_threshold(apply_confidence(conf_w, feats), answerable, args.max_abstain)
    report = {p.name: evaluate(sets[p], w, conf_w, threshold) for p in sets}
    for name, figures in report.items():
        role = "train" if any(p.name == name for p in args.train) else "held out"
        print(f"{name} ({role}): {json.dumps(figures)}")
    args.out.write_text(
        json.dumps(
            {
                "feature_names": FEATURE_NAMES,
                "span_weights": [round(float(x), 6) for x in w["u"]],
                **(
                    {
                        "hidden": {
                            "W": [[round(float(x), 6) for x in row] for row in w["W"]],
                            "c": [round(float(x), 6) for x in w["c"]],
                            "v": [round(float(x), 6) for x in w["v"]],
                        }
                    }
                    if "W" in w
                    else {}
                ),
                "confidence": {k: round(v, 6) for k, v in conf_w.items()},
                "threshold": round(threshold, 6),
                "info": {
                    "trained_on": [p.name for p in args.train],
                    "heldout": [p.name for p in args.heldout],
                    "l2": args.l2,
                    "hidden": args.hidden,
                    "max_abstain": args.max_abstain,
                    "figures": report,
                    "learned": time.strftime("%Y-%m-%d"),
                },
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
