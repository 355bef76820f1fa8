"""Searcher: dense, BM25 and hybrid search with filters, on the bundled MiniLM and a handful of chunks."""
from __future__ import annotations

import pytest
from local_http import free_port

from tailorkit.config import TailorConfig
from tailorkit.config.kb import KBConfig
from tailorkit.errors import KBError
from tailorkit.kb.embed import get_embedder
from tailorkit.kb.search import Searcher, kb_search
from tailorkit.kb.sparse import sparse_encoder
from tailorkit.kb.store import Filter, open_store
from tailorkit.kb.types import Chunk

TEXTS = {
    "hr/leave.md": (["hr"], "Employees get sixteen weeks of paid parental leave after the birth of a child."),
    "hr/remote.md": (["hr"], "Staff may work from home up to three days per week with manager approval."),
    "finance/travel.md": (["finance"], "Taxi receipts must be submitted within thirty days to be reimbursed."),
    "kitchen/bread.txt": ([], "Knead sourdough for ten minutes and bake it at 230 degrees Celsius."),
}


@pytest.fixture(scope="module")
def embedder():
    return get_embedder(KBConfig())


def _build(cfg: TailorConfig, embedder) -> None:
    store = open_store(cfg.kb, cfg.root, embedder.dim)
    enc = sparse_encoder(cfg.kb)
    try:
        for doc_id, (tags, text) in TEXTS.items():
            chunk = Chunk(doc_id=doc_id, doc_hash="v1", position=0, text=text, tags=tags)
            store.upsert([chunk], embedder.embed_documents([text]), [enc.encode_document(text)])
    finally:
        store.close()


@pytest.fixture(scope="module", params=["edge", "qdrant-local"])
def built(request, tmp_path_factory, embedder) -> TailorConfig:
    """One small knowledge base per backend, built once for the module (tests only read it)."""
    root = tmp_path_factory.mktemp(request.param)
    kb = {"url": f"local:{root / 'q'}"} if request.param == "qdrant-local" else {}
    c = TailorConfig(root=root, kb=KBConfig(**kb))
    _build(c, embedder)
    return c


@pytest.fixture
def cfg(built) -> TailorConfig:
    return built.model_copy(deep=True)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_right_document(cfg, embedder, mode):
    with Searcher(cfg, embedder=embedder) as s:
        assert s.search("how many weeks of parental leave do employees get", k=2, mode=mode)[0].chunk.doc_id == "hr/leave.md"
        assert s.search("sourdough baking temperature", k=1, mode=mode)[0].chunk.doc_id == "kitchen/bread.txt"


def test_dense_finds_paraphrase_bm25_cannot(cfg, embedder):
    with Searcher(cfg, embedder=embedder) as s:
        # No shared content word with the remote-work text: only the dense retriever can find it.
        assert s.search("telecommuting policy", k=1, mode="dense")[0].chunk.doc_id == "hr/remote.md"
        assert all(h.chunk.doc_id != "hr/remote.md" for h in s.search("telecommuting policy", k=4, mode="bm25"))
        hybrid = s.search("telecommuting policy", k=4, mode="hybrid")
        assert "hr/remote.md" in [h.chunk.doc_id for h in hybrid]


def test_hybrid_hits_carry_both_scores_and_respect_k(cfg, embedder):
    with Searcher(cfg, embedder=embedder) as s:
        hits = s.search("taxi receipts reimbursed", k=3, mode="hybrid")
    assert len(hits) == 3 and hits[0].chunk.doc_id == "finance/travel.md"
    assert hits[0].dense_score is not None and hits[0].bm25_score is not None
    assert hits[0].score >= hits[1].score >= hits[2].score


@pytest.mark.parametrize("fusion", ["rrf", "weighted"])
def test_filters_apply_in_every_mode(cfg, embedder, fusion):
    cfg.kb.fusion = fusion
    with Searcher(cfg, embedder=embedder) as s:
        for mode in ("dense", "bm25", "hybrid"):
            hits = s.search("parental leave taxi sourdough", k=4, mode=mode, flt=Filter(tags=["hr"]))
            assert hits and {h.chunk.doc_id for h in hits} <= {"hr/leave.md", "hr/remote.md"}
            hits = s.search("parental leave taxi sourdough", k=4, mode=mode, flt=Filter(path_glob="*.txt"))
            assert [h.chunk.doc_id for h in hits] == ["kitchen/bread.txt"]


def test_kb_search_one_shot_and_bad_arguments(cfg, embedder):
    hits = kb_search(cfg, "bake bread", k=1, mode="bm25")
    assert hits[0].chunk.doc_id == "kitchen/bread.txt"
    with Searcher(cfg, embedder=embedder) as s:
        with pytest.raises(KBError, match="mode"):
            s.search("x", mode="semantic")
        with pytest.raises(KBError):
            s.search("x", k=0)


def test_refused_kb_url_through_the_searcher(tmp_path, embedder):
    cfg = TailorConfig(root=tmp_path, kb=KBConfig(url=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(KBError, match="cannot reach the Qdrant server"):
        Searcher(cfg, embedder=embedder)
