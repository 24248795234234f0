"""The local and milvus (Lite) backends side by side: parity on the dev sets, speed at 10k and
100k passages, and what a passage costs.

    python -m bench.backends --embed          # once: embed every passage (about 30 min on 2 cores)
    python -m bench.backends --parity         # hit@1/@5, EM/F1 of both backends, same reader
    python -m bench.backends --speed 10k 100k # build and add rates, ask p50/p95, memory, disk
    python -m bench.backends --tokens         # Milvus's jieba analyser against our search terms

Both backends get the same passage vectors: they are computed once with the default
embedder and cached in bench/data/vectors (`--embed`), so the build and add rates are the
stores' own. Questions are embedded for real at ask time, as in `newsqa ask`.
Each speed measurement runs in its own process (so memory is that backend's alone).
"""

import argparse
import collections
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import dev_sets, report
from bench.vector_cache import CachedEmbedder, VectorCache
from newsqa.config import Settings
from newsqa.index.backend import open_backend
from newsqa.index.chunking import PassageSplitter
from newsqa.index.sources import read_sources
from newsqa.index.upsert import passage_view

DATA = Path(__file__).resolve().parent / "data"
WORK = DATA / "backends"
VECTORS = DATA / "vectors"
SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000}
ADD_PASSAGES = 2_000  # passages added to each built index for the `index add` rate
ASK_QUESTIONS = 200


def settings_for(kind: str, where: Path) -> Settings:
    if kind == "milvus":
        return Settings(backend="milvus", milvus_uri=str(where / "index.milvus.db"))
    return Settings(index_dir=where / "index")


def views_of(paths: list[Path]) -> list[str]:
    """Every passage view the writers will embed for these sources."""
    splitter = PassageSplitter()
    out = []
    for item in read_sources(paths):
        if hasattr(item, "text"):
            out += [passage_view(item.title, p.text) for p in splitter.split(item)]  # type: ignore[union-attr]
    return out


# ---------------------------------------------------------------- corpora
def corpus(size: int) -> Path:
    """The synthetic corpus prefix with `size` passages (bench/gen_corpus.py)."""
    from bench.gen_corpus import generate

    big = DATA / "corpus-backends.jsonl"
    if not big.exists():
        generate(max(SIZES.values()) + ADD_PASSAGES + 500, big)
    return prefix_corpus_from(big, size)


def prefix_corpus_from(big: Path, size: int) -> Path:
    """Articles of `big` making `size` passages, and the next ones making ADD_PASSAGES (to add)."""
    out = DATA / f"corpus-backends-{size}.jsonl"
    extra = DATA / f"corpus-backends-{size}-add.jsonl"
    if out.exists() and extra.exists():
        return out
    splitter = PassageSplitter()
    made = 0
    with (
        open(big, encoding="utf-8") as src,
        open(out, "w", encoding="utf-8") as a,
        open(extra, "w", encoding="utf-8") as b,
    ):
        for line in src:
            n = len(splitter.spans(json.loads(line)["text"]))
            if made < size:
                a.write(line)
            elif made < size + ADD_PASSAGES:
                b.write(line)
            else:
                break
            made += n
    return out


def add_corpus(size: int) -> Path:
    return DATA / f"corpus-backends-{size}-add.jsonl"


# ---------------------------------------------------------------- --embed
def embed_all() -> None:
    cache = VectorCache(VECTORS)
    embedder = CachedEmbedder(cache)
    largest = max(SIZES.values())
    paths = [*dev_sets(), corpus(largest), add_corpus(largest)]  # the dev sets first: parity needs them
    views = list(dict.fromkeys(views_of(paths)))
    print(f"{len(views)} passage views, {len(cache)} vectors cached", file=sys.stderr)
    started = time.perf_counter()
    done = 0
    for i in range(0, len(views), 2048):
        embedder.embed_passages(views[i : i + 2048])
        done = i + 2048
        cache.save()
        rate = embedder.computed / max(time.perf_counter() - started, 1e-9)
        print(
            f"{min(done, len(views))}/{len(views)} ({embedder.computed} embedded, {rate:.0f}/s)",
            file=sys.stderr,
        )
    report("backends-embed", [{"views": len(views), "embedded": embedder.computed, "cached": len(cache)}])


# ---------------------------------------------------------------- --parity
def parity(limit: int | None, agreement_sample: int) -> None:
    """Both backends over each dev set: the same reader, the same vectors, the same questions."""
    from newsqa.qa.answerer import Answerer
    from newsqa.qa.evaluate import evaluate, load_squad

    cache = VectorCache(VECTORS)
    rows, fusion_rows, agreement_rows = [], [], []
    for path in dev_sets():
        questions, _ = load_squad(path)
        questions = questions[:limit] if limit else questions
        # Whatever --embed has not embedded (e.g. after a change to the readers) is embedded now,
        # once (kept in memory), so that both backends get the very same vectors.
        CachedEmbedder(cache).embed_passages(views_of([path]))
        answerers = {}
        for kind in ("local", "milvus"):
            work = WORK / f"parity-{path.stem}" / kind
            shutil.rmtree(work, ignore_errors=True)
            settings = settings_for(kind, work)
            embedder = CachedEmbedder(cache)
            started = time.perf_counter()
            report_ = open_backend(settings).writer(embedder).build(read_sources([path]))
            build_s = time.perf_counter() - started
            assert embedder.computed == 0, "the backends must share the same vectors"
            answerer = Answerer.load(settings=settings)
            answerers[kind] = answerer
            fig = evaluate(answerer, questions, baseline=False)["newsqa"]
            rows.append(
                {
                    "set": path.stem,
                    "backend": kind,
                    "passages": report_.passages_total,
                    "questions": fig.questions,
                    "hit@1": fig.hit_at_1,
                    "hit@5": fig.hit_at_5,
                    "EM": fig.em,
                    "F1": fig.f1,
                    "answered": fig.answered,
                    "ask p50 ms": fig.latency_p50_ms,
                    "ask p95 ms": fig.latency_p95_ms,
                    "build s": round(build_s, 1),
                }
            )
            print(json.dumps(rows[-1], ensure_ascii=False), file=sys.stderr)
        agreement_rows.append(agreement(path.stem, answerers, questions[:agreement_sample]))
        fusion_rows += fusions(path.stem, answerers["milvus"], questions)
    report("backends-parity", rows)
    report("backends-agreement", agreement_rows)
    report("backends-fusion", fusion_rows)


def agreement(name: str, answerers: dict, questions: list) -> dict[str, Any]:
    """How often the two backends return the very same thing for a question."""
    same_answer = same_top = same_hits = same_lexical = 0
    for q in questions:
        got = {kind: a.ask(q.question) for kind, a in answerers.items()}
        local, milvus = got["local"], got["milvus"]
        same_answer += (local.answer and local.answer.text) == (milvus.answer and milvus.answer.text)
        same_top += [h.passage.id for h in local.hits[:1]] == [h.passage.id for h in milvus.hits[:1]]
        same_hits += [h.passage.id for h in local.hits] == [h.passage.id for h in milvus.hits]
        lexical = {
            kind: [
                s.passage.id
                for s in a.snapshot.passages(k for k, _ in a.snapshot.lexical_search(q.question, 10)).values()
            ]
            for kind, a in answerers.items()
        }
        same_lexical += len(set(lexical["local"]) & set(lexical["milvus"])) / max(len(lexical["local"]), 1)
    n = max(len(questions), 1)
    return {
        "set": name,
        "questions": len(questions),
        "same answer": round(same_answer / n, 4),
        "same first passage": round(same_top / n, 4),
        "same passages": round(same_hits / n, 4),
        "BM25 top-10 overlap": round(same_lexical / n, 4),
    }


def fusions(name: str, answerer: Any, questions: list) -> list[dict[str, Any]]:
    """Milvus: today's fusion on the client (two searches) against Milvus's hybrid_search with
    WeightedRanker(0.8, 0.2) (one call, its own score normalisation)."""
    from pymilvus import AnnSearchRequest, WeightedRanker

    from newsqa.index.milvus.schema import HNSW_EF_SEARCH, lexical_text

    store, retriever = answerer.snapshot, answerer.retriever
    client = store.milvus.client
    vectors = answerer.embedder.embed_queries([q.question for q in questions])
    tallies: dict[str, list] = {
        "client-side weighted 0.8 (min-max)": [],
        "hybrid_search WeightedRanker(0.8, 0.2)": [],
    }
    for q, vector in zip(questions, vectors, strict=True):
        t0 = time.perf_counter()
        lexical = store.lexical_search(q.question, 50)
        dense = store.dense_search(vector, 50)
        fused = sorted(retriever.fuse(lexical, dense).items(), key=lambda kv: -kv[1][0])[:50]
        stored = store.passages(k for k, _ in fused)
        articles = [stored[k].article.id for k, _ in fused if k in stored]
        ms = (time.perf_counter() - t0) * 1000
        tallies["client-side weighted 0.8 (min-max)"].append(
            (q.article_id, list(dict.fromkeys(articles)), ms)
        )
        t0 = time.perf_counter()
        requests = [
            AnnSearchRequest(
                data=[lexical_text(q.question)], anns_field="sparse", param={"metric_type": "BM25"}, limit=50
            ),
            AnnSearchRequest(
                data=[vector.tolist()],
                anns_field="vector",
                param={"metric_type": "IP", "params": {"ef": HNSW_EF_SEARCH}},
                limit=50,
            ),
        ]
        result = client.hybrid_search(
            store.gen.passages, requests, WeightedRanker(0.8, 0.2), limit=50, output_fields=["article_id"]
        )
        articles = [hit["entity"]["article_id"] for hit in result[0]]
        ms = (time.perf_counter() - t0) * 1000
        tallies["hybrid_search WeightedRanker(0.8, 0.2)"].append(
            (q.article_id, list(dict.fromkeys(articles)), ms)
        )
    rows = []
    for method, results in tallies.items():
        n = max(len(results), 1)
        ms = [r[2] for r in results]
        rows.append(
            {
                "set": name,
                "fusion": method,
                "hit@1": round(sum(r[1][:1] == [r[0]] for r in results) / n, 4),
                "hit@5": round(sum(r[0] in r[1][:5] for r in results) / n, 4),
                "retrieval p50 ms": round(float(np.percentile(ms, 50)), 1),
                "retrieval p95 ms": round(float(np.percentile(ms, 95)), 1),
            }
        )
    return rows


# ---------------------------------------------------------------- --tokens
def tokens() -> None:
    """Milvus's jieba analyser (Milvus Lite's own code) against our search terms."""
    from milvus_lite.analyzer.factory import create_analyzer

    from newsqa.index.milvus.schema import ANALYZER, lexical_text
    from newsqa.index.text import normalize, terms

    analyzer = create_analyzer(ANALYZER)
    width = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}
    sets = {}
    for path in dev_sets():
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        sets[path.stem] = [p["context"] for a in data for p in a["paragraphs"]][:300]
    first = next(iter(sets))
    sets[f"{first} full-width"] = [t.translate(width) for t in sets[first]]
    feeds = {
        "text as printed": lambda t: t,
        "normalised": normalize,
        "normalised, punctuation blanked (used)": lexical_text,
    }
    rows = []
    for name, texts in sets.items():
        for feed, prepare in feeds.items():
            same = shared = ours_total = theirs_total = 0
            for text in texts:
                ours = collections.Counter(terms(text))
                theirs = collections.Counter(analyzer.tokenize(prepare(text)))
                same += ours == theirs
                shared += sum((ours & theirs).values())
                ours_total += sum(ours.values())
                theirs_total += sum(theirs.values())
            rows.append(
                {
                    "texts": name,
                    "Milvus is given": feed,
                    "identical term lists": round(same / len(texts), 3),
                    "our terms it has": round(shared / max(ours_total, 1), 4),
                    "its terms we have": round(shared / max(theirs_total, 1), 4),
                }
            )
    report("backends-tokens", rows, texts_per_set=300)


# ---------------------------------------------------------------- --speed
def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class TimedStore:
    """A store whose calls are timed: how much of an ask is the engine's."""

    TIMED = ("dense_search", "lexical_search", "passages", "term_weights")

    def __init__(self, store: Any) -> None:
        self.store = store
        self.spent: dict[str, float] = collections.defaultdict(float)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.store, name)
        if name not in self.TIMED:
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.spent[name] += time.perf_counter() - t0

        return timed


def speed_child(kind: str, size: int, phase: str, recycle: bool) -> dict[str, Any]:
    """One measurement in this process: `build` (build, then add) or `serve` (load, ask)."""
    work = WORK / f"speed-{size}" / kind
    settings = settings_for(kind, work)
    if phase == "build":
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        cache = VectorCache(VECTORS)
        embedder = CachedEmbedder(cache, recycle=recycle)
        t0 = time.perf_counter()
        built = open_backend(settings).writer(embedder).build(read_sources([corpus(size)]))
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        added = open_backend(settings).writer(embedder).add(read_sources([add_corpus(size)]))
        add_s = time.perf_counter() - t0
        assert embedder.computed == 0, "run --embed first (or --recycle-vectors)"
        return {
            "passages": built.passages_total,
            "vectors recycled": embedder.recycled,
            "build passages/s": round(built.passages_total / build_s, 1),
            "build s": round(build_s, 1),
            "added passages": added.passages_added,
            "add passages/s": round(added.passages_added / add_s, 1),
            "disk bytes/passage": round(disk_bytes(work) / added.passages_total),
            "build peak RSS MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    from newsqa.index.embedders import load_embedder
    from newsqa.qa.answerer import Answerer
    from newsqa.qa.evaluate import load_squad
    from newsqa.qa.readers import load_reader

    embedder = load_embedder(threads=os.cpu_count())
    embedder.warm_up()
    from newsqa.qa.readers.features.reader import FeatureReader

    FeatureReader().warm_up()
    base = rss_mb()
    store = TimedStore(open_backend(settings).open())
    answerer = Answerer(store, embedder, load_reader("features", store, settings))  # type: ignore[arg-type]
    answerer.warm_up()
    questions = [q.question for path in dev_sets() for q in load_squad(path)[0]]
    questions = random.Random(11).sample(questions, ASK_QUESTIONS + 10)
    for q in questions[:10]:
        answerer.ask(q)
    store.spent.clear()
    ms, engine = [], []
    for q in questions[10:]:
        before = sum(store.spent.values())
        t0 = time.perf_counter()
        answerer.ask(q)
        ms.append((time.perf_counter() - t0) * 1000)
        engine.append((sum(store.spent.values()) - before) * 1000)
    passages = answerer.snapshot.manifest.passages
    n = len(ms)
    return {
        "ask p50 ms": round(float(np.percentile(ms, 50)), 1),
        "ask p95 ms": round(float(np.percentile(ms, 95)), 1),
        "store p50 ms": round(float(np.percentile(engine, 50)), 1),
        "store share": round(sum(engine) / sum(ms), 3),
        **{f"{name} ms": round(1000 * spent / n, 1) for name, spent in sorted(store.spent.items())},
        "serving MB": round(rss_mb() - base),
        "serving bytes/passage": round((rss_mb() - base) * 2**20 / passages),
    }


def speed(sizes: list[str], recycle: bool) -> None:
    rows = []
    for label in sizes:
        size = SIZES[label]
        corpus(size)
        for kind in ("local", "milvus"):
            row: dict[str, Any] = {"size": label, "backend": kind}
            for phase in ("build", "serve"):
                out = subprocess.run(
                    [sys.executable, "-m", "bench.backends", "--child", kind, str(size), phase]
                    + (["--recycle-vectors"] if recycle else []),
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                row.update(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(row, ensure_ascii=False), file=sys.stderr)
            rows.append(row)
    report(
        "backends-speed", rows, note="passage vectors reused from bench/data/vectors; questions embedded live"
    )


def passage_costs(size: int = 100_000, sample: int = 5000) -> None:
    """What one passage holds in the milvus backend's passages collection, on average."""
    from milvus_lite.analyzer.factory import create_analyzer

    from newsqa.index.filters import published_day
    from newsqa.index.milvus.schema import ANALYZER, lexical_text

    analyzer = create_analyzer(ANALYZER)
    splitter = PassageSplitter()
    fields: dict[str, list[int]] = collections.defaultdict(list)
    for item in read_sources([corpus(size)]):
        if not hasattr(item, "text"):
            continue
        for p in splitter.split(item):  # type: ignore[union-attr]
            view = passage_view(item.title, p.text)  # type: ignore[union-attr]
            fields["text"].append(len(p.text.encode()))
            fields["lexical"].append(len(lexical_text(view).encode()))
            fields["title"].append(len(item.title.encode()))  # type: ignore[union-attr]
            fields["ids"].append(len(p.id.encode()) + len(p.article_id.encode()))
            fields["published, day, source, url"].append(
                sum(
                    len((v or "").encode())
                    for v in (item.published, published_day(item.published), item.source, item.url)
                )  # type: ignore[union-attr]
            )
            fields["sparse terms"].append(len(set(analyzer.tokenize(lexical_text(view)))))
            if len(fields["text"]) >= sample:
                break
        if len(fields["text"]) >= sample:
            break
    row = {name: round(statistics.mean(values), 1) for name, values in fields.items()}
    report("backends-passage-fields", [row], passages=len(fields["text"]), note="bytes, except sparse terms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embed", action="store_true", help="embed and cache every passage first")
    parser.add_argument("--parity", action="store_true", help="quality of both backends on the dev sets")
    parser.add_argument(
        "--limit", type=int, default=None, help="with --parity: the first N questions of each set"
    )
    parser.add_argument(
        "--agreement", type=int, default=300, help="with --parity: questions compared one by one"
    )
    parser.add_argument("--tokens", action="store_true", help="Milvus's analyser against our terms")
    parser.add_argument("--speed", nargs="*", choices=sorted(SIZES), help="sizes for build/add/ask speed")
    parser.add_argument("--fields", action="store_true", help="average bytes of a passage's fields")
    parser.add_argument(
        "--recycle-vectors",
        action="store_true",
        help="with --speed: passages not embedded by --embed get another passage's cached vector "
        "(timing only; say so with the figures)",
    )
    parser.add_argument("--child", nargs=3, metavar=("BACKEND", "SIZE", "PHASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, size, phase = args.child
        print(json.dumps(speed_child(kind, int(size), phase, args.recycle_vectors)))
        return
    if args.embed:
        embed_all()
    if args.tokens:
        tokens()
    if args.parity:
        parity(args.limit, args.agreement)
    if args.fields:
        passage_costs()
    if args.speed is not None:
        speed(args.speed or ["10k", "100k"], args.recycle_vectors)


if __name__ == "__main__":
    main()
