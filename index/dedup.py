"""Wire copies: the same story reprinted by many papers, found at ingest and folded into one.

Each article's text is normalised (Traditional → Simplified, full-width → ASCII,
lower case; punctuation and spaces dropped) and cut into overlapping character
5-grams; a 128-permutation MinHash of those shingles (datasketch) is its
signature. LSH banding over the signatures proposes candidates (the bands and
rows datasketch's MinHashLSH chooses for `CANDIDATE_THRESHOLD`), and a
candidate is a copy when the signatures agree on at least `THRESHOLD` of their
positions, i.e. the estimated Jaccard similarity of the shingle sets is that
high. Thresholds and their precision and recall on the fixture stories are in
bench/README.md (`python -m bench.dedup`).

Near-identical articles form one story. Its canonical article is the earliest
published; ties go to a news agency (the originator of wire copy), then by
source name, then by id. Only the canonical article is cut into passages and
indexed, so copies cannot crowd the top-k (nor be embedded at all); the others
are stored beside it as copies, and answers citing it carry their sources as
`also_in`. Signatures are stored in the index generation, so later additions
are compared with everything already indexed. The band index is rebuilt from
them with numpy on the first placement of a write (about 1 s for 100,000 articles,
see the bench); datasketch's own MinHashLSH took 300 µs an insert here, 30 s to
rebuild at that size, and persisting it would mean pickling it.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from newsqa.index.text import is_cjk, normalize
from newsqa.index.types import Article

if TYPE_CHECKING:
    from newsqa.index.articles_db import ArticleDB

logger = logging.getLogger(__name__)

SHINGLE_CHARS = 5
NUM_PERM = 128
SEED = 1
SCHEME = "affine32"
"""datasketch's permutation scheme, pinned: stored signatures must stay comparable across versions."""
THRESHOLD = 0.5
"""Estimated Jaccard similarity of shingle sets at or above which two articles are one story."""
CANDIDATE_THRESHOLD = 0.3
"""The LSH index proposes candidates tuned for this similarity (37 bands of 3 rows): a pair at
0.5 is proposed with probability 0.993, at 0.6 with 0.9999; each candidate is then checked
against THRESHOLD on the whole signature. Tuned for THRESHOLD itself, LSH would miss
a pair at 0.6 one time in eight."""
MIN_CHARS = 50
"""Shorter texts (a headline-only brief) are never folded: too little to tell copies from chance."""
NEWS_AGENCIES = (
    "新华社",
    "中新社",
    "中国新闻社",
    "路透社",
    "美联社",
    "法新社",
    "共同社",
    "Xinhua",
    "Reuters",
    "AP",
    "AFP",
)
"""Sources that originate wire copy: on the same day, theirs is the canonical article."""


def shingles(text: str, size: int = SHINGLE_CHARS) -> set[bytes]:
    """The character n-grams of the normalised text (letters, digits and CJK only)."""
    kept = "".join(ch for ch in normalize(text) if is_cjk(ch) or ch.isalnum())
    if len(kept) <= size:
        return {kept.encode("utf-8")} if kept else set()
    return {kept[i : i + size].encode("utf-8") for i in range(len(kept) - size + 1)}


@lru_cache(maxsize=1)
def _empty_minhash():
    from datasketch import MinHash

    # Drawing the permutations is most of a MinHash's cost: draw them once, copy after.
    return MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME)


def signature(text: str) -> np.ndarray:
    """The MinHash signature of a text: NUM_PERM unsigned 32-bit values."""
    minhash = _empty_minhash().copy()
    minhash.update_batch(list(shingles(text)))
    return np.asarray(minhash.hashvalues, dtype=np.uint32)


@lru_cache(maxsize=4)
def lsh_shape(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows per band) that datasketch's MinHashLSH picks for a threshold."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


class BandIndex:
    """LSH banding over signatures: articles whose signatures agree on every row of some band.

    What was loaded at once is kept as one sorted array of band keys per band (found by
    binary search); what is added later goes into dictionaries, which are merged into the
    sorted arrays once they hold an eighth as many articles (at least `MERGE_FROM`): a
    build of many articles stays O(n log n) in time, and its memory is the arrays' 12
    bytes per article and band, not a dictionary entry and a list per article and band
    (about ten times as much).
    """

    MERGE_FROM = 4096

    def __init__(self, bands: int, rows: int) -> None:
        self.bands, self.rows = bands, rows
        rng = np.random.default_rng(SEED)
        # Odd 64-bit multipliers: a band's key is a multiply-add hash of its rows.
        self._mix = rng.integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
        self._ids: list[str] = []
        self._sorted_keys: list[np.ndarray] = []
        self._sorted_pos: list[np.ndarray] = []
        self._added: list[dict[int, list[int]]] = [{} for _ in range(bands)]
        self._added_keys: list[np.ndarray] = []  # band keys of the articles in _added, by addition
        self._added_pos: list[int] = []
        self._gone: set[int] = set()
        self._position: dict[str, int] = {}

    def keys(self, signatures: np.ndarray) -> np.ndarray:
        """Band keys of signatures shaped (n, num_perm): (n, bands) uint64."""
        cut = signatures[:, : self.bands * self.rows].reshape(len(signatures), self.bands, self.rows)
        keys = cut[:, :, 0].astype(np.uint64) * self._mix[0]
        for row in range(1, self.rows):
            keys += cut[:, :, row].astype(np.uint64) * self._mix[row]  # wraps around: a hash
        return keys

    def load(self, ids: list[str], signatures: np.ndarray) -> None:
        keys = self.keys(signatures) if len(ids) else np.zeros((0, self.bands), dtype=np.uint64)
        self._ids = list(ids)
        self._position = {a: i for i, a in enumerate(ids)}
        self._sorted_keys, self._sorted_pos = [], []
        for band_keys in np.ascontiguousarray(keys.T):
            order = np.argsort(band_keys)
            self._sorted_keys.append(band_keys[order])
            self._sorted_pos.append(order.astype(np.int32))
        self._added = [{} for _ in range(self.bands)]
        self._added_keys, self._added_pos = [], []

    def add(self, article_id: str, sig: np.ndarray) -> None:
        position = len(self._ids)
        self._ids.append(article_id)
        self._position[article_id] = position
        keys = self.keys(sig[None, :])[0]
        for band, key in enumerate(keys.tolist()):
            self._added[band].setdefault(key, []).append(position)
        self._added_keys.append(keys)
        self._added_pos.append(position)
        merged = len(self._sorted_pos[0]) if self._sorted_pos else 0
        if len(self._added_pos) >= max(self.MERGE_FROM, merged // 8):
            self._merge()

    def _merge(self) -> None:
        """Move what was added into the sorted arrays."""
        keys = np.vstack(self._added_keys)
        positions = np.asarray(self._added_pos, dtype=np.int32)
        if not self._sorted_keys:
            self._sorted_keys = [np.zeros(0, dtype=np.uint64) for _ in range(self.bands)]
            self._sorted_pos = [np.zeros(0, dtype=np.int32) for _ in range(self.bands)]
        for band in range(self.bands):
            all_keys = np.concatenate([self._sorted_keys[band], keys[:, band]])
            order = np.argsort(all_keys, kind="stable")
            self._sorted_keys[band] = all_keys[order]
            self._sorted_pos[band] = np.concatenate([self._sorted_pos[band], positions])[order]
        self._added = [{} for _ in range(self.bands)]
        self._added_keys, self._added_pos = [], []

    def remove(self, article_id: str) -> None:
        position = self._position.pop(article_id, None)
        if position is not None:
            self._gone.add(position)

    def query(self, sig: np.ndarray) -> set[str]:
        found: set[int] = set()
        for band, key in enumerate(self.keys(sig[None, :])[0]):
            if self._sorted_keys:
                keys = self._sorted_keys[band]
                lo, hi = np.searchsorted(keys, key, side="left"), np.searchsorted(keys, key, side="right")
                found.update(self._sorted_pos[band][lo:hi].tolist())
            found.update(self._added[band].get(int(key), ()))
        return {self._ids[i] for i in found - self._gone}


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the two texts' shingle sets."""
    return float(np.mean(a == b))


def precedes(a: tuple[str | None, str | None, str], b: tuple[str | None, str | None, str]) -> bool:
    """Whether article `a` = (published, source, id) is the canonical one rather than `b`."""
    return _canonical_order(*a) < _canonical_order(*b)


def _canonical_order(published: str | None, source: str | None, article_id: str) -> tuple:
    agency = 0 if source and any(source.startswith(name) for name in NEWS_AGENCIES) else 1
    return (published or "\uffff", agency, source or "\uffff", article_id)


@dataclass(frozen=True)
class Placement:
    """Where a new article goes in the stories already indexed."""

    copy_of: str | None = None
    """It is a copy of this canonical article: store it without passages."""
    demoted: str | None = None
    """It is the new canonical article of this one's story: that one loses its passages and becomes a copy."""
    similarity: float = 0.0


class WireCopies:
    """The stories of one index generation while it is written: signatures, an LSH index, and
    the copy → canonical links (kept in the generation's database)."""

    def __init__(self, threshold: float = THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self._bands: BandIndex | None = None
        self._signatures: dict[str, np.ndarray] = {}

    def _index(self, db: "ArticleDB") -> BandIndex:
        """The band index over every signature in `db`, built on first use."""
        if self._bands is None:
            for article_id, text in db.articles_without_signature():
                # An index written before stories existed: sign its articles once.
                db.save_signature(article_id, signature(text).tobytes())
            ids, blobs = [], []
            for article_id, blob in db.signatures():
                ids.append(article_id)
                blobs.append(blob)
            matrix = np.frombuffer(b"".join(blobs), dtype=np.uint32).reshape(len(ids), NUM_PERM)
            self._signatures = dict(zip(ids, matrix, strict=True))  # rows of one array: no copies
            self._bands = BandIndex(*lsh_shape(min(CANDIDATE_THRESHOLD, self.threshold)))
            self._bands.load(ids, matrix)
        return self._bands

    def place(self, db: "ArticleDB", article: Article) -> Placement:
        """Find the story `article` belongs to, record it, and say what the writer must do.

        The article must already be absent from `db` (new, or its old version deleted).
        """
        bands = self._index(db)
        sig = signature(article.text)
        db.save_signature(article.id, sig.tobytes())
        best_id, best = None, 0.0
        if len(article.text) >= MIN_CHARS:
            for candidate in bands.query(sig):
                other = self._signatures.get(candidate)
                if other is None or candidate == article.id:
                    continue
                score = similarity(sig, other)
                if score >= self.threshold and score > best:
                    best_id, best = candidate, score
        bands.add(article.id, sig)
        self._signatures[article.id] = sig
        if best_id is None:
            return Placement()
        canonical = db.canonical_of(best_id)
        published, source = db.published_and_source(canonical)
        if precedes((article.published, article.source, article.id), (published, source, canonical)):
            db.repoint_copies(canonical, article.id)
            db.set_copy(canonical, article.id)
            return Placement(demoted=canonical, similarity=best)
        db.set_copy(article.id, canonical)
        return Placement(copy_of=canonical, similarity=best)

    def release(self, db: "ArticleDB", article_ids: Iterable[str]) -> list[Article]:
        """Before `article_ids` are deleted or replaced: forget them, and take out the copies of
        those that are canonical, returning them to be placed again (the earliest becomes the
        story's canonical article and gets the passages)."""
        released: list[Article] = []
        ids = list(article_ids)
        gone = set(ids)
        for article_id in ids:
            self._forget(article_id)
            for copy_id in db.copies_of(article_id):
                if copy_id in gone:
                    continue
                copy = db.article(copy_id)
                self._forget(copy_id)
                db.delete_articles([copy_id])
                if copy is not None:
                    released.append(copy)
        return released

    def _forget(self, article_id: str) -> None:
        self._signatures.pop(article_id, None)
        if self._bands is not None:
            self._bands.remove(article_id)
