"""Synthetic news corpora of a given size, made from the shared dev sets' sentences.

    python -m bench.gen_corpus --passages 300000 --out bench/data/corpus-300k.jsonl

Every sentence of both dev sets' contexts is reshuffled into synthetic articles
of 4 to 14 sentences, with a title taken from one of its sentences' source
articles and a date. Articles are written in order, so the first articles of a
large corpus form a smaller one: `--passages` counts passages as the default
chunking (300 characters, 60 overlap) makes them. Deterministic for a seed.
Generated data goes under bench/data/, which git ignores: never commit it.
"""

import argparse
import json
import random
from pathlib import Path

from bench.common import dev_sets
from newsqa.index.chunking import PassageSplitter
from newsqa.index.sources import squad_articles
from newsqa.index.text import sentence_spans


def sentences_of_dev_sets() -> list[tuple[str, str]]:
    """(title, sentence) for every sentence of every context of the dev sets."""
    out = []
    for path in dev_sets():
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        for title, text in squad_articles(data):
            for a, b in sentence_spans(text):
                sentence = text[a:b]
                if len(sentence) >= 8:
                    out.append((title, sentence))
    return out


def generate(passages: int, out: Path, seed: int = 13) -> tuple[int, int]:
    rng = random.Random(seed)
    pool = sentences_of_dev_sets()
    splitter = PassageSplitter()
    made_passages = made_articles = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        while made_passages < passages:
            picked = [rng.choice(pool) for _ in range(rng.randint(4, 14))]
            paragraphs, current = [], []
            for _, sentence in picked:
                current.append(sentence)
                if rng.random() < 0.35:
                    paragraphs.append("".join(current))
                    current = []
            if current:
                paragraphs.append("".join(current))
            text = "\n".join(paragraphs)
            day = 1 + made_articles % 28
            month = 1 + (made_articles // 28) % 12
            record = {
                "id": f"syn-{made_articles:07d}",
                "title": f"{picked[0][0]}（第{made_articles}期）",
                "text": text,
                "published": f"2024-{month:02d}-{day:02d}",
                "source": "合成语料",
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            made_articles += 1
            made_passages += len(splitter.spans(text))
    return made_articles, made_passages


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--passages", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    articles, passages = generate(args.passages, args.out, args.seed)
    print(json.dumps({"out": str(args.out), "articles": articles, "passages": passages}))


if __name__ == "__main__":
    main()
