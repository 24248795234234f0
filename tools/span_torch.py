"""The span reader's network in torch, for training only (serving runs qa/readers/span/model.py).

Every layer here has a numpy twin in qa/readers/span/model.py; export writes
the weights under the names that file reads, and train_reader.py checks that
both give the same scores before it writes the file.
"""

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class NetConfig:
    embed_dim: int  # width of the frozen piece vectors (512, or 512 + context PCA)
    passage_features: int
    question_features: int
    qtypes: int
    dim: int = 128
    bottleneck: int = 64  # piece vectors go through this width first (exported as a lookup table)
    encoder: str = "conv"  # "conv" (convolutions + self-attention) or "gru"
    layers: int = 3  # passage encoder blocks before the second attention
    kernel: int = 5
    heads: int = 4
    attention: bool = False  # one self-attention block after the convolutions
    max_span: int = 48  # atoms
    dropout: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)


class ConvBlock(nn.Module):
    """Pre-norm residual, depthwise-separable: x + GLU(pointwise(depthwise dilated conv(LN(x)))).

    The depthwise convolution is a sum of shifted copies (as the numpy twin computes it): on
    CPU that trains faster than torch's grouped convolution.
    """

    def __init__(self, dim: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.kernel = kernel
        self.dilation = dilation
        self.depth = nn.Parameter(torch.randn(kernel, dim) / kernel**0.5)
        self.depth_bias = nn.Parameter(torch.zeros(dim))
        self.point = nn.Linear(dim, 2 * dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.norm(x) * mask[..., None]
        reach = self.dilation * (self.kernel // 2)
        padded = F.pad(h, (0, 0, reach, reach))
        n = x.shape[1]
        taps = [
            padded[:, k * self.dilation : k * self.dilation + n] * self.depth[k] for k in range(self.kernel)
        ]
        h = torch.stack(taps).sum(0) + self.depth_bias
        return x + self.drop(F.glu(self.point(h), dim=-1))


class AttentionBlock(nn.Module):
    """Pre-norm residual multi-head self-attention, then a feed-forward layer."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff1 = nn.Linear(dim, 2 * dim)
        self.ff2 = nn.Linear(2 * dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        hd = d // self.heads
        q, k, v = self.qkv(self.norm1(x)).split(d, dim=-1)
        q = q.view(b, n, self.heads, hd).transpose(1, 2)
        k = k.view(b, n, self.heads, hd).transpose(1, 2)
        v = v.view(b, n, self.heads, hd).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / hd**0.5
        scores = scores.masked_fill(~mask[:, None, None, :].bool(), -1e4)
        h = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.drop(self.out(h))
        return x + self.drop(self.ff2(F.relu(self.ff1(self.norm2(x)))))


class GRUBlock(nn.Module):
    """A bidirectional GRU layer with a residual connection."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.gru = nn.GRU(dim, dim // 2, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1).long().clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            self.norm(x), lengths, batch_first=True, enforce_sorted=False
        )
        out, _ = self.gru(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return x + self.drop(out)


def encoder(cfg: NetConfig, blocks: int) -> nn.ModuleList:
    if cfg.encoder == "gru":
        return nn.ModuleList(GRUBlock(cfg.dim, cfg.dropout) for _ in range(blocks))
    layers: list[nn.Module] = []
    for i in range(blocks):
        layers.append(ConvBlock(cfg.dim, cfg.kernel, 2 ** (i % 3), cfg.dropout))
    if cfg.attention:
        layers.append(AttentionBlock(cfg.dim, cfg.heads, cfg.dropout))
    return nn.ModuleList(layers)


def run(blocks: nn.ModuleList, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    for block in blocks:
        x = block(x, mask)
    return x


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return scores.masked_fill(~mask.bool(), -1e4).softmax(dim)


class SpanNet(nn.Module):
    """Question-aware passage encoder with start/end pointers and a no-answer score."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        # a linear bottleneck: at export, embed(all pieces) becomes a (vocabulary x bottleneck) table
        self.embed = nn.Linear(cfg.embed_dim, cfg.bottleneck)
        self.up = nn.Linear(cfg.bottleneck, d)
        self.p_feat = nn.Linear(cfg.passage_features, d)
        self.q_feat = nn.Linear(cfg.question_features, d)
        self.align = nn.Linear(d, d)
        self.q_enc = encoder(cfg, 1)
        self.q_pool = nn.Linear(d, 1)
        self.qtype = nn.Linear(cfg.qtypes, d)
        self.p_in = nn.Linear(3 * d, d)
        self.p_enc = encoder(cfg, cfg.layers)
        self.co = nn.Linear(d, d)
        self.fuse = nn.Linear(4 * d, d)
        self.p_enc2 = encoder(cfg, 1)
        self.start = nn.Linear(d, d)
        self.end = nn.Linear(d, d)
        self.null1 = nn.Linear(3 * d, d)
        self.null2 = nn.Linear(d, 1)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(
        self,
        p_vec: torch.Tensor,  # (B, Lp, embed_dim)
        p_feat: torch.Tensor,  # (B, Lp, Fp)
        p_mask: torch.Tensor,  # (B, Lp) float
        q_vec: torch.Tensor,  # (B, Lq, embed_dim)
        q_feat: torch.Tensor,
        q_mask: torch.Tensor,
        qtype: torch.Tensor,  # (B, qtypes)
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(start logits (B, Lp), end logits (B, Lp), no-answer logit (B,))."""
        pe = self.drop(self.up(self.embed(p_vec)))
        qe = self.drop(self.up(self.embed(q_vec)))
        # aligned question embedding (DrQA): each passage atom attends to similar question atoms
        pa = F.relu(self.align(pe))
        qa = F.relu(self.align(qe))
        att = masked_softmax(pa @ qa.transpose(1, 2), q_mask[:, None, :])
        p0 = pe + self.p_feat(p_feat)
        q0 = qe + self.q_feat(q_feat)
        q = run(self.q_enc, q0, q_mask)
        w = masked_softmax(self.q_pool(q).squeeze(-1), q_mask)
        qsum = (w[..., None] * q).sum(1) + self.qtype(qtype)  # (B, d)
        aligned = att @ q0
        x = F.relu(self.p_in(self.drop(torch.cat([p0, aligned, p0 * qsum[:, None, :]], -1))))
        x = run(self.p_enc, x, p_mask)
        # second attention, on contextual states
        co = masked_softmax(self.co(x) @ q.transpose(1, 2), q_mask[:, None, :]) @ q
        x = F.relu(self.fuse(self.drop(torch.cat([x, co, x * co, x - co], -1))))
        x = run(self.p_enc2, x, p_mask)
        start = (self.start(x) * qsum[:, None, :]).sum(-1)
        end = (self.end(x) * qsum[:, None, :]).sum(-1)
        big = -1e4 * (1 - p_mask)
        pooled_max = (x + big[..., None]).max(1).values
        pooled_mean = (x * p_mask[..., None]).sum(1) / p_mask.sum(1, keepdim=True).clamp(min=1)
        null = self.null2(F.relu(self.null1(torch.cat([pooled_max, pooled_mean, qsum], -1)))).squeeze(-1)
        return start, end, null


def span_scores(
    start: torch.Tensor, end: torch.Tensor, start_ok: torch.Tensor, end_ok: torch.Tensor, max_span: int
) -> torch.Tensor:
    """(B, Lp, max_span): score of the span from atom i to atom i + k, -1e4 where not allowed."""
    b, n = start.shape
    pad_end = F.pad(end, (0, max_span), value=-1e4)
    pad_ok = F.pad(end_ok, (0, max_span), value=0)
    ends = pad_end.unfold(1, max_span, 1)[:, :n]  # (B, n, K): end[i + k]
    oks = pad_ok.unfold(1, max_span, 1)[:, :n]
    allowed = oks.bool() & start_ok.bool()[..., None]
    return torch.where(allowed, start[..., None] + ends, torch.full_like(ends, -1e4))


def span_loss(scores: torch.Tensor, null: torch.Tensor, gold: list[list[tuple[int, int]]]) -> torch.Tensor:
    """Negative log-likelihood of the gold spans (or of no answer) against all spans and no answer."""
    b = scores.shape[0]
    flat = torch.cat([scores.reshape(b, -1), null[:, None]], 1)
    log_z = torch.logsumexp(flat, 1)
    k = scores.shape[2]
    targets = []
    for i, spans in enumerate(gold):
        picks = [scores[i, s, e - s] for s, e in spans if 0 <= e - s < k]
        targets.append(torch.logsumexp(torch.stack(picks), 0) if picks else null[i])
    return (log_z - torch.stack(targets)).mean()
