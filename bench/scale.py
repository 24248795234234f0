"""Query latency, serving memory, ANN recall and BM25 cost at about 1k, 10k, 100k and 300k passages.

    python -m bench.build_scale          # once: builds bench/data/index-{1k,10k,100k,300k}
    python -m bench.scale [--sizes 1k 10k 100k 300k] [--questions 300]

For each index: the RSS of a serving process (`newsqa serve`) after warm-up
and a round of questions; `ask` latency p50/p95/p99 in process with 1 and 8
concurrent callers, and over HTTP with 1 and 8 concurrent clients; for the
vector index, recall@10 against exact search and the search time of each;
for BM25, its query time and the time to rebuild its postings. Questions are
the shared dev sets' questions (the synthetic articles are made of their
sentences). Build figures come from bench/data/build-<size>.json.
"""

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench.common import dev_sets, report
from newsqa.qa.evaluate import load_squad
from testbed.server import running_server, server_pid

DATA = Path(__file__).resolve().parent / "data"


def questions(n: int) -> list[str]:
    out: list[str] = []
    for path in dev_sets():
        out += [q.question for q in load_squad(path)[0]]
    rng = np.random.default_rng(7)
    return [out[i] for i in rng.permutation(len(out))[:n]]


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.array(ms)
    return {f"p{p}": round(float(np.percentile(a, p)), 1) for p in (50, 95, 99)}


def in_process(root: Path, qs: list[str]) -> dict:
    from newsqa.qa.answerer import Answerer

    answerer = Answerer.load(root)
    for q in qs[:20]:
        answerer.ask(q)
    single = []
    for q in qs:
        t = time.perf_counter()
        answerer.ask(q)
        single.append((time.perf_counter() - t) * 1000)
    concurrent: list[float] = []
    lock = threading.Lock()

    def worker(chunk: list[str]) -> None:
        for q in chunk:
            t = time.perf_counter()
            answerer.ask(q)
            with lock:
                concurrent.append((time.perf_counter() - t) * 1000)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, [qs[i::8] for i in range(8)]))
    return {"single": percentiles(single), "eight": percentiles(concurrent), "answerer": answerer}


def over_http(root: Path, qs: list[str]) -> dict:
    import httpx
    import psutil

    with running_server(root, DATA / "scale-server.log", env={"NEWSQA_WATCH_INDEX": "false"}) as url:
        process = psutil.Process(server_pid(url))
        rss_ready = process.memory_info().rss
        errors = 0

        def run(chunk: list[str], out: list[float]) -> None:
            nonlocal errors
            with httpx.Client(timeout=60) as client:
                for q in chunk:
                    t = time.perf_counter()
                    r = client.post(f"{url}/ask", json={"question": q})
                    out.append((time.perf_counter() - t) * 1000)
                    if r.status_code != 200:
                        errors += 1

        single: list[float] = []
        run(qs, single)
        eight: list[float] = []
        threads = [threading.Thread(target=run, args=(qs[i::8], eight)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rss = process.memory_info().rss
        return {
            "single": percentiles(single),
            "eight": percentiles(eight),
            "errors": errors,
            "rss_ready_mb": round(rss_ready / 2**20, 1),
            "rss_mb": round(rss / 2**20, 1),
        }


def ann_recall(answerer, qs: list[str]) -> dict:
    import faiss

    store = answerer.snapshot.vectors
    rows, vectors = store.vectors()
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    queries = answerer.embedder.embed_queries(qs[:500])
    t = time.perf_counter()
    _, truth = exact.search(queries, 10)
    exact_ms = (time.perf_counter() - t) * 1000 / len(queries)
    truth_rows = rows[truth]
    out = {"kind": store.kind, "exact_ms": round(exact_ms, 2)}
    t = time.perf_counter()
    _, found = store.search(queries, 10)
    out["stored_ms"] = round((time.perf_counter() - t) * 1000 / len(queries), 2)
    out["recall@10"] = round(
        float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth_rows, strict=True)])), 4
    )
    if store.kind == "hnsw":
        for ef in (128, 256, 512, 768, 1024):
            params = faiss.SearchParametersHNSW(efSearch=ef)
            t = time.perf_counter()
            _, f = store._index.search(queries, 10, params=params)
            ms = (time.perf_counter() - t) * 1000 / len(queries)
            r = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(f, truth_rows, strict=True)]))
            out[f"ef{ef}"] = {"recall@10": round(r, 4), "ms": round(ms, 2)}
        # IVF, the alternative measured for the choice
        nlist = int(4 * np.sqrt(len(vectors)))
        ivf = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(vectors.shape[1]), vectors.shape[1], nlist, faiss.METRIC_INNER_PRODUCT
        )
        t = time.perf_counter()
        ivf.train(vectors[np.random.default_rng(0).permutation(len(vectors))[: max(40 * nlist, 10000)]])
        ivf.add(vectors)
        out["ivf_build_s"] = round(time.perf_counter() - t, 1)
        for nprobe in (16, 64, 128):
            ivf.nprobe = nprobe
            t = time.perf_counter()
            _, f = ivf.search(queries, 10)
            ms = (time.perf_counter() - t) * 1000 / len(queries)
            r = float(np.mean([len(set(rows[a]) & set(b)) / 10 for a, b in zip(f, truth_rows, strict=True)]))
            out[f"ivf{nlist}_nprobe{nprobe}"] = {"recall@10": round(r, 4), "ms": round(ms, 2)}
    return out


def bm25_costs(answerer, qs: list[str]) -> dict:
    import tempfile

    from newsqa.index.postings import PostingsWriter
    from newsqa.index.text import terms

    bm25 = answerer.snapshot.bm25
    times = []
    for q in qs:
        words = terms(q)
        t = time.perf_counter()
        bm25.search(words, 50)
        times.append((time.perf_counter() - t) * 1000)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        # Rewrite every posting and weight from the live generation's files, as an update does.
        PostingsWriter(Path(tmp) / "work", answerer.snapshot.generation_dir / "bm25").write(
            Path(tmp) / "bm25"
        )
        rebuild = time.perf_counter() - t
    return {
        "query": percentiles(times),
        "rebuild_postings_s": round(rebuild, 2),
        "postings": int(len(bm25.weights)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", default=["1k", "10k", "100k", "300k"])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    qs = questions(args.questions)
    rows, details = [], {}
    for size in args.sizes:
        root = DATA / f"index-{size}"
        if not (root / "CURRENT").exists():
            print(f"skipping {size}: {root} is not built (python -m bench.build_scale)", file=sys.stderr)
            continue
        build = (
            json.loads((DATA / f"build-{size}.json").read_text())
            if (DATA / f"build-{size}.json").exists()
            else {}
        )
        local = in_process(root, qs)
        answerer = local.pop("answerer")
        n = answerer.snapshot.manifest.passages
        ann = ann_recall(answerer, qs)
        lexical = bm25_costs(answerer, qs)
        dim = answerer.snapshot.manifest.dim
        del answerer
        http = {} if args.no_http else over_http(root, qs)
        row = {
            "size": size,
            "passages": n,
            "ask_p50": local["single"]["p50"],
            "ask_p95": local["single"]["p95"],
            "ask_p99": local["single"]["p99"],
            "ask8_p50": local["eight"]["p50"],
            "ask8_p95": local["eight"]["p95"],
            "http_p50": http.get("single", {}).get("p50"),
            "http_p95": http.get("single", {}).get("p95"),
            "http8_p50": http.get("eight", {}).get("p50"),
            "http8_p95": http.get("eight", {}).get("p95"),
            "http_errors": http.get("errors"),
            "serve_rss_mb": http.get("rss_mb"),
            "vectors_mb": round(n * dim * 4 / 2**20, 1),
            "ann": ann["kind"],
            "recall@10": ann["recall@10"],
            "bm25_p50": lexical["query"]["p50"],
            "bm25_rebuild_s": lexical["rebuild_postings_s"],
            "build_e2e_per_s": build.get("e2e_passages_per_s"),
            "build_raw_per_s": build.get("raw_encode_per_s"),
            "build_share": build.get("e2e_share_of_raw"),
            "build_peak_rss_mb": build.get("peak_rss_mb"),
            "disk_bytes_per_passage": build.get("disk_bytes_per_passage"),
        }
        rows.append(row)
        details[size] = {"in_process": local, "http": http, "ann": ann, "bm25": lexical, "build": build}
    # Serving memory per passage beyond the raw float32 vectors, from the growth between sizes.
    sized = [r for r in rows if r["serve_rss_mb"]]
    if len(sized) >= 2:
        small, big = sized[0], sized[-1]
        grown = (big["serve_rss_mb"] - small["serve_rss_mb"]) - (big["vectors_mb"] - small["vectors_mb"])
        per_passage = grown * 2**20 / (big["passages"] - small["passages"])
        details["memory_beyond_vectors_bytes_per_passage"] = round(per_passage)
    report("scale", rows, details=details)


if __name__ == "__main__":
    main()
