"""Fusion unit tests: reciprocal-rank and weighted fusion on hand-made rankings."""
from __future__ import annotations

import pytest

from tailorkit.kb.fusion import fuse, minmax, rrf_scores
from tailorkit.kb.types import Chunk, Hit


def _hits(*pairs) -> list[Hit]:
    return [Hit(Chunk(doc_id=name, doc_hash="h", position=0, text=name), score) for name, score in pairs]


def _names(hits) -> list[str]:
    return [h.chunk.doc_id for h in hits]


DENSE = _hits(("a", 0.9), ("b", 0.8), ("c", 0.1))
SPARSE = _hits(("c", 12.0), ("b", 11.0), ("d", 1.0))


def test_rrf_scores_follow_the_formula():
    scores = rrf_scores([DENSE, SPARSE], k=60)
    by_name = {h.chunk.id: h.chunk.doc_id for h in DENSE + SPARSE}
    named = {by_name[key]: v for key, v in scores.items()}
    assert named["b"] == pytest.approx(1 / 62 + 1 / 62)
    assert named["a"] == pytest.approx(1 / 61)
    assert named["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert named["d"] == pytest.approx(1 / 63)


def test_rrf_ranks_agreement_first_and_keeps_each_retriever_score():
    fused = fuse(DENSE, SPARSE, "rrf", rrf_k=60)
    assert _names(fused) == ["c", "b", "a", "d"]  # c: ranks 3+1 beats b: 2+2 (1/63+1/61 > 2/62)
    c = fused[0]
    assert c.dense_score == pytest.approx(0.1) and c.bm25_score == pytest.approx(12.0)
    assert fused[-1].dense_score is None  # d never came from the dense retriever


def test_dense_weight_moves_the_ranking_and_limit_cuts():
    assert _names(fuse(DENSE, SPARSE, "rrf", dense_weight=1.0))[:3] == ["a", "b", "c"]
    assert _names(fuse(DENSE, SPARSE, "rrf", dense_weight=0.0))[:3] == ["c", "b", "d"]
    assert len(fuse(DENSE, SPARSE, "rrf", limit=2)) == 2


def test_weighted_fusion_uses_normalised_scores():
    norm = minmax(SPARSE)
    assert sorted(norm.values()) == pytest.approx([0.0, 10 / 11, 1.0])
    fused = fuse(DENSE, SPARSE, "weighted", dense_weight=0.5)
    # b: 0.5*(0.7/0.8) + 0.5*(10/11) ; c: 0.5*0 + 0.5*1 ; a: 0.5*1 + 0
    assert _names(fused)[0] == "b"
    assert fused[0].score == pytest.approx(0.5 * 0.7 / 0.8 + 0.5 * 10 / 11)
    assert _names(fuse(DENSE, SPARSE, "weighted", dense_weight=1.0))[0] == "a"


def test_empty_lists_and_bad_arguments():
    assert fuse([], [], "rrf") == []
    assert _names(fuse(DENSE, [], "weighted")) == ["a", "b", "c"]
    with pytest.raises(ValueError):
        fuse(DENSE, SPARSE, "max")
    with pytest.raises(ValueError):
        fuse(DENSE, SPARSE, "rrf", dense_weight=1.5)


def test_duplicate_chunk_in_one_ranking_counts_once():
    dup = DENSE + DENSE[:1]
    assert rrf_scores([dup], k=60) == rrf_scores([DENSE], k=60)
