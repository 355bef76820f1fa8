"""Fusing ranked lists from the dense and BM25 retrievers into one hybrid ranking.

- Reciprocal-rank fusion (Cormack, Clarke & Buettcher 2009): score = sum_i w_i / (k + rank_i), with
  1-based ranks; uses only ranks, so it needs no calibration between cosine and BM25 scales.
- Weighted fusion: each list's scores are min-max normalised to [0, 1] over its candidates, then
  combined as w * dense + (1 - w) * bm25; a chunk missing from a list gets 0 from it.

Weights: `dense_weight` w in [0, 1] is the dense share; RRF uses 2w and 2(1 - w) so w = 0.5 is plain RRF.
"""
from __future__ import annotations

from typing import Literal, Sequence

from .types import Hit

FusionMethod = Literal["rrf", "weighted"]


def _key(hit: Hit) -> str:
    return hit.chunk.id


def _merge(dense: Sequence[Hit], sparse: Sequence[Hit], scores: dict[str, float], limit: int | None) -> list[Hit]:
    """Build fused Hits (with each retriever's own score) sorted by fused score, ties by first appearance."""
    chunks, dense_s, sparse_s, order = {}, {}, {}, {}
    for hits, own in ((dense, dense_s), (sparse, sparse_s)):
        for rank, h in enumerate(hits):
            key = _key(h)
            chunks.setdefault(key, h.chunk)
            own.setdefault(key, h.score)
            order[key] = min(order.get(key, rank), rank)
    ranked = sorted(scores, key=lambda key: (-scores[key], order[key], key))
    if limit is not None:
        ranked = ranked[:limit]
    return [Hit(chunks[key], scores[key], dense_score=dense_s.get(key), bm25_score=sparse_s.get(key)) for key in ranked]


def rrf_scores(rankings: Sequence[Sequence[Hit]], k: int = 60, weights: Sequence[float] | None = None) -> dict[str, float]:
    """Reciprocal-rank-fusion score per chunk id. A chunk listed twice in one ranking counts once (best rank)."""
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for hits, w in zip(rankings, weights):
        seen: set[str] = set()
        for rank, h in enumerate(hits, start=1):
            key = _key(h)
            if key in seen:
                continue
            seen.add(key)
            scores[key] = scores.get(key, 0.0) + w / (k + rank)
    return scores


def minmax(hits: Sequence[Hit]) -> dict[str, float]:
    """Scores rescaled to [0, 1] over this candidate list (all equal -> all 1)."""
    if not hits:
        return {}
    vals = [h.score for h in hits]
    lo, hi = min(vals), max(vals)
    span = hi - lo
    out: dict[str, float] = {}
    for h in hits:
        out.setdefault(_key(h), (h.score - lo) / span if span > 0 else 1.0)
    return out


def weighted_scores(dense: Sequence[Hit], sparse: Sequence[Hit], dense_weight: float = 0.5) -> dict[str, float]:
    """Convex combination of min-max-normalised dense and BM25 scores."""
    d, s = minmax(dense), minmax(sparse)
    return {key: dense_weight * d.get(key, 0.0) + (1.0 - dense_weight) * s.get(key, 0.0) for key in {**d, **s}}


def fuse(dense: Sequence[Hit], sparse: Sequence[Hit], method: FusionMethod = "rrf", *, rrf_k: int = 60,
         dense_weight: float = 0.5, limit: int | None = None) -> list[Hit]:
    """One hybrid ranking from the dense and BM25 rankings (best first), at most `limit` hits."""
    if not 0.0 <= dense_weight <= 1.0:
        raise ValueError("dense_weight must be within [0, 1]")
    if method == "rrf":
        scores = rrf_scores([dense, sparse], k=rrf_k, weights=[2 * dense_weight, 2 * (1 - dense_weight)])
    elif method == "weighted":
        scores = weighted_scores(dense, sparse, dense_weight)
    else:
        raise ValueError(f"unknown fusion method {method!r}: use 'rrf' or 'weighted'")
    return _merge(dense, sparse, scores, limit)
