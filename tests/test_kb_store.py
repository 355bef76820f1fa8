"""Store contract: the same behaviour from Qdrant Edge and from qdrant-client (local mode)."""
from __future__ import annotations

import numpy as np
import pytest
from local_http import free_port

from tailorkit.config.kb import KBConfig
from tailorkit.errors import KBError
from tailorkit.kb.sparse import BM25Encoder, SparseVec
from tailorkit.kb.store import Filter, Store, glob_matches, open_store
from tailorkit.kb.types import Chunk

DIM = 8
BACKENDS = ["edge", "qdrant-local", "qdrant-memory"]


def _cfg(backend: str, tmp_path) -> KBConfig:
    if backend == "edge":
        return KBConfig(path=str(tmp_path / "kb"), embedder="fake")
    if backend == "qdrant-local":
        return KBConfig(url=f"local:{tmp_path / 'qdrant'}", embedder="fake")
    return KBConfig(url=":memory:", embedder="fake")


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def store(backend, tmp_path):
    s = open_store(_cfg(backend, tmp_path), tmp_path, DIM)
    yield s
    s.close()


def _vec(i: int) -> np.ndarray:
    """Axis-aligned unit vectors: the nearest chunk to axis i is known exactly."""
    v = np.zeros(DIM, dtype=np.float32)
    v[i % DIM] = 1.0
    return v


DOCS = {
    "policies/leave.md": (["hr"], ["Parental leave lasts sixteen weeks.", "Leave requests go to the manager."]),
    "policies/travel.pdf": (["finance", "hr"], ["Travel expenses are reimbursed within thirty days."]),
    "notes/cooking.txt": ([], ["Bake the bread at two hundred degrees.", "Knead the dough for ten minutes.",
                                "Bread needs salt."]),
}


def _fill(store: Store) -> dict[str, list[Chunk]]:
    enc = BM25Encoder(avgdl=6)
    out, axis = {}, 0
    for doc_id, (tags, texts) in DOCS.items():
        chunks = [Chunk(doc_id=doc_id, doc_hash=f"h-{doc_id}", position=i, text=t, tags=tags, line_start=i + 1,
                        line_end=i + 1) for i, t in enumerate(texts)]
        dense = np.stack([_vec(axis + i) for i in range(len(chunks))])
        axis += len(chunks)
        store.upsert(chunks, dense, [enc.encode_document(c.text) for c in chunks])
        out[doc_id] = chunks
    return out


def test_upsert_count_doc_index_and_idempotent_ids(store):
    chunks = _fill(store)
    assert store.count() == 6
    assert store.doc_index() == {d: f"h-{d}" for d in DOCS}
    assert store.doc_chunk_counts() == {d: len(t[1]) for d, t in DOCS.items()}
    # Upserting the same chunks again replaces them (same ids), it does not duplicate.
    again = chunks["notes/cooking.txt"]
    store.upsert(again, np.stack([_vec(3 + i) for i in range(3)]), [SparseVec() for _ in again])
    assert store.count() == 6


def test_delete_doc_counts(store):
    _fill(store)
    assert store.delete_doc("notes/cooking.txt") == 3
    assert store.delete_doc("notes/cooking.txt") == 0
    assert store.delete_doc("never/there.md") == 0
    assert store.count() == 3
    assert set(store.doc_index()) == {"policies/leave.md", "policies/travel.pdf"}


def test_dense_search_order_and_payload_roundtrip(store):
    chunks = _fill(store)
    q = _vec(2) * 0.9 + _vec(0) * 0.1  # closest to axis 2 (travel), then axis 0 (leave chunk 0)
    hits = store.search_dense(q, k=2)
    assert [h.chunk.doc_id for h in hits] == ["policies/travel.pdf", "policies/leave.md"]
    assert hits[0].score > hits[1].score
    assert hits[0].chunk == chunks["policies/travel.pdf"][0]
    assert hits[1].chunk.citation() == "policies/leave.md:1-1"


def test_sparse_search_order(store):
    _fill(store)
    enc = BM25Encoder(avgdl=6)
    hits = store.search_sparse(enc.encode_query("bread salt"), k=5)
    # "Bread needs salt." matches both terms; "Bake the bread..." only one; nothing else matches.
    assert [h.chunk.text for h in hits] == ["Bread needs salt.", "Bake the bread at two hundred degrees."]
    assert store.search_sparse(enc.encode_query("the of and"), k=5) == []  # stopwords only


def test_filters_by_tag_and_path_glob(store):
    _fill(store)
    q = _vec(5)
    by_tag = store.search_dense(q, k=10, flt=Filter(tags=["hr"]))
    assert {h.chunk.doc_id for h in by_tag} == {"policies/leave.md", "policies/travel.pdf"}
    both = store.search_dense(q, k=10, flt=Filter(tags=["hr", "finance"]))
    assert {h.chunk.doc_id for h in both} == {"policies/travel.pdf"}
    pdfs = store.search_dense(q, k=10, flt=Filter(path_glob="*.pdf"))
    assert {h.chunk.doc_id for h in pdfs} == {"policies/travel.pdf"}
    folder = store.search_sparse(BM25Encoder(avgdl=6).encode_query("leave bread"), k=10, flt=Filter(path_glob="notes"))
    assert {h.chunk.doc_id for h in folder} == {"notes/cooking.txt"}
    assert store.search_dense(q, k=10, flt=Filter(path_glob="nothing/*")) == []
    combo = store.search_dense(q, k=10, flt=Filter(path_glob="policies/*", tags=["finance"]))
    assert [h.chunk.doc_id for h in combo] == ["policies/travel.pdf"]


def test_glob_semantics():
    assert glob_matches("policies/*.md", "policies/a/b.md")  # '*' crosses folders, like a path prefix
    assert glob_matches("policies", "policies/x.md") and glob_matches("policies/", "policies/x.md")
    assert not glob_matches("polic", "policies/x.md")
    assert glob_matches("notes/cooking.txt", "notes/cooking.txt")


def test_reopen_keeps_data_and_refuses_other_embedder(tmp_path):
    cfg = _cfg("edge", tmp_path)
    s = open_store(cfg, tmp_path, DIM)
    _fill(s)
    s.close()
    s = open_store(cfg, tmp_path, DIM)
    assert s.count() == 6
    s.close()
    with pytest.raises(KBError, match="embedder"):
        open_store(cfg.model_copy(update={"embedder": "other"}), tmp_path, DIM)
    with pytest.raises(KBError, match="dims"):
        open_store(cfg, tmp_path, DIM * 2)


def test_edge_store_open_twice_is_a_clear_error(tmp_path):
    cfg = _cfg("edge", tmp_path)
    s = open_store(cfg, tmp_path, DIM)
    try:
        with pytest.raises(KBError, match="another process"):
            open_store(cfg, tmp_path, DIM)
    finally:
        s.close()


def test_wrong_vector_shapes_are_kberrors(store):
    c = [Chunk(doc_id="a", doc_hash="h", position=0, text="x")]
    with pytest.raises(KBError):
        store.upsert(c, np.zeros((1, DIM + 1), dtype=np.float32), [SparseVec()])
    with pytest.raises(KBError):
        store.upsert(c, np.zeros((2, DIM), dtype=np.float32), [SparseVec()])


def test_refused_connection_is_a_fast_kberror(tmp_path):
    cfg = KBConfig(url=f"http://127.0.0.1:{free_port()}", embedder="fake")
    with pytest.raises(KBError) as exc:
        open_store(cfg, tmp_path, DIM)
    assert "kb.url" in exc.value.one_line() and "Fix:" in exc.value.one_line()


def test_refused_connection_through_the_cli_exits_2_with_one_line(tmp_path, capsys):
    from tailorkit.cli import main

    (tmp_path / "tailor.yaml").write_text(f"kb:\n  url: http://127.0.0.1:{free_port()}\n", encoding="utf-8")
    rc = main(["kb", "search", "anything", "--mode", "bm25", "--config", str(tmp_path / "tailor.yaml")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and "kb.url" in err and "Traceback" not in err
