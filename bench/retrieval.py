"""Retrieval on the shared dev sets: BM25, dense, reciprocal rank fusion and weighted fusion.

    python -m bench.retrieval

hit@1 and hit@5 of the gold article among the first passages (one per article),
for each way of combining the two searches, over the same candidate lists. The
default fusion (weighted, 0.8 lexical) was chosen from these figures.
"""

from pathlib import Path

from bench.common import dev_sets, report
from newsqa.index.builder import IndexWriter
from newsqa.index.embedders import USEEmbedder
from newsqa.index.layout import IndexLayout
from newsqa.index.sources import read_sources
from newsqa.index.store import IndexSnapshot
from newsqa.qa.evaluate import load_squad
from newsqa.qa.retrieval import FusionParams, HybridRetriever

DATA = Path(__file__).resolve().parent / "data"
VARIANTS = {
    "bm25": FusionParams("weighted", 1.0),
    "dense": FusionParams("weighted", 0.0),
    "rrf": FusionParams("rrf"),
    **{f"weighted {w}": FusionParams("weighted", w) for w in (0.5, 0.6, 0.7, 0.8, 0.9)},
}


def main() -> None:
    embedder = USEEmbedder()
    embedder.warm_up()
    rows = []
    for path in dev_sets():
        root = DATA / f"dev-use-multilingual-v3-{path.stem}"
        if not IndexLayout(root).exists():
            IndexWriter(root, embedder).build(read_sources([path]))
        snapshot = IndexSnapshot.open(root)
        questions, _ = load_squad(path)
        vectors = embedder.embed_queries([q.question for q in questions])
        lists = [
            (snapshot.lexical_search(q.question, 50), snapshot.dense_search(v, 50))
            for q, v in zip(questions, vectors, strict=True)
        ]
        keys_needed = {key for lexical, dense in lists for key, _ in [*lexical, *dense]}
        article_of = {key: s.article.id for key, s in snapshot.passages(keys_needed).items()}
        for name, params in VARIANTS.items():
            retriever = HybridRetriever(snapshot, embedder, params)
            hit1 = hit5 = 0
            for q, (lexical, dense) in zip(questions, lists, strict=True):
                fused = retriever.fuse(lexical, dense)
                ranked = [r for r, _ in sorted(fused.items(), key=lambda kv: -kv[1][0])]
                articles = list(dict.fromkeys(article_of[r] for r in ranked))
                hit1 += articles[:1] == [q.article_id]
                hit5 += q.article_id in articles[:5]
            n = len(questions)
            rows.append(
                {"set": path.stem, "fusion": name, "hit@1": round(hit1 / n, 4), "hit@5": round(hit5 / n, 4)}
            )
    report("retrieval", rows)


if __name__ == "__main__":
    main()
