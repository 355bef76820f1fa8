"""Knowledge-base speed: ingest throughput with the bundled embedder, and search latency at 100k chunks.

    HF_HUB_OFFLINE=1 TAILOR_QUIET=1 nice -n 10 .venv/bin/python benchmarks/bench_kb_speed.py

Part 1 (ingest) chunks, embeds (all-MiniLM-L6-v2, CPU), BM25-encodes and upserts real SciFact abstracts
(or generated prose when the shared dataset is absent) into a Qdrant Edge store: chunks/s, per stage.
Part 2 (latency) fills a store with --n synthetic chunks (clustered random unit vectors, Zipf-distributed
BM25 vectors, ~600-character payloads), builds the indexes, then times --queries queries: the store query
alone (dense, BM25, hybrid = both + fusion) and the whole hybrid search including the query embedding.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from tailorkit.config.kb import KBConfig
from tailorkit.kb.embed import get_embedder
from tailorkit.kb.fusion import fuse
from tailorkit.kb.sparse import SparseVec, sparse_encoder
from tailorkit.kb.store import open_store
from tailorkit.kb.types import Chunk

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact-train" / "corpus.jsonl"


def _texts(n_docs: int) -> list[tuple[str, str]]:
    if SCIFACT.exists():
        rows = [json.loads(line) for line in SCIFACT.open(encoding="utf-8")][:n_docs]
        return [(r["title"], r["text"]) for r in rows]
    rng = np.random.default_rng(0)
    words = "cell protein gene expression tumour patient risk study effect level increase model data".split()
    return [(f"Doc {i}", " ".join(rng.choice(words, 220))) for i in range(n_docs)]


def bench_ingest(n_docs: int) -> dict:
    from tailorkit.kb.chunking import chunk_document, embedding_text, token_counter
    from tailorkit.kb.readers import Block, Document

    kb = KBConfig()
    emb = get_embedder(kb)
    enc = sparse_encoder(kb)
    docs = _texts(n_docs)
    t0 = time.perf_counter()
    chunks = []
    for i, (title, text) in enumerate(docs):
        doc = Document(doc_id=f"doc{i}.txt", source=Path(f"doc{i}.txt"), doc_hash="v1", blocks=[Block(text=text)], title=title)
        chunks.extend(chunk_document(doc, token_counter(kb.embedder)))
    texts = [embedding_text(c) for c in chunks]
    t1 = time.perf_counter()
    dense = emb.embed_documents(texts, batch_size=kb.embed_batch_size)
    t2 = time.perf_counter()
    sparse = [enc.encode_document(t) for t in texts]
    t3 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(KBConfig(path=tmp), Path(tmp), emb.dim)
        store.upsert(chunks, dense, sparse)
        store.close()
    t4 = time.perf_counter()
    n = len(chunks)
    return {"docs": n_docs, "chunks": n, "chunks_per_s": n / (t4 - t0), "chunk_s": t1 - t0, "embed_s": t2 - t1,
            "embed_chunks_per_s": n / (t2 - t1), "bm25_s": t3 - t2, "upsert_s": t4 - t3}


def _synthetic(n: int, dim: int, rng) -> tuple[list[Chunk], np.ndarray, list[SparseVec]]:
    centres = rng.normal(size=(256, dim)).astype(np.float32)
    dense = centres[rng.integers(0, 256, n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    vocab = 50_000
    sparse = []
    for _ in range(n):
        ids = np.unique(np.minimum(rng.zipf(1.3, 60), vocab) + rng.integers(0, 2**31, 1)[0] % 7)
        sparse.append(SparseVec(ids.tolist(), rng.uniform(0.5, 2.0, len(ids)).round(3).tolist()))
    filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt. " * 7
    chunks = [Chunk(doc_id=f"docs/{i // 10}.md", doc_hash="v1", position=i % 10, text=filler[:600], tags=["t"])
              for i in range(n)]
    return chunks, dense, sparse


def _pct(xs: list[float]) -> dict:
    a = np.asarray(xs) * 1000
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95))}


def bench_latency(n: int, n_queries: int) -> dict:
    rng = np.random.default_rng(0)
    kb = KBConfig()
    emb = get_embedder(kb)
    enc = sparse_encoder(kb)
    chunks, dense, sparse = _synthetic(n, emb.dim, rng)
    out: dict = {"chunks": n}
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(KBConfig(path=tmp), Path(tmp), emb.dim)
        t0 = time.perf_counter()
        for s in range(0, n, 5000):
            store.upsert(chunks[s:s + 5000], dense[s:s + 5000], sparse[s:s + 5000])
        t1 = time.perf_counter()
        store.optimize()
        t2 = time.perf_counter()
        out.update(upsert_s=t1 - t0, index_build_s=t2 - t1)
        a = time.perf_counter()
        n_docs = len(store.doc_index())
        b = time.perf_counter()
        store.doc_chunk_counts()
        out.update(doc_index_s=b - a, doc_chunk_counts_s=time.perf_counter() - b, n_docs=n_docs)
        qidx = rng.integers(0, n, n_queries)
        qdense = dense[qidx] + 0.3 * rng.normal(size=(n_queries, emb.dim)).astype(np.float32)
        qdense /= np.linalg.norm(qdense, axis=1, keepdims=True)
        qsparse = [SparseVec(sparse[i].indices[:4], [1.0] * len(sparse[i].indices[:4])) for i in qidx]
        for i in range(5):  # warm caches
            store.search_dense(qdense[i], 10)
            store.search_sparse(qsparse[i], 10)
        td, ts, th, tfull = [], [], [], []
        for qd, qs in zip(qdense, qsparse):
            a = time.perf_counter()
            store.search_dense(qd, 10)
            b = time.perf_counter()
            store.search_sparse(qs, 10)
            c = time.perf_counter()
            fuse(store.search_dense(qd, kb.candidates), store.search_sparse(qs, kb.candidates), limit=10)
            d = time.perf_counter()
            td.append(b - a), ts.append(c - b), th.append(d - c)
        questions = [f"what is the effect of protein {i} on tumour growth in patients" for i in range(n_queries)]
        for q in questions:
            a = time.perf_counter()
            fuse(store.search_dense(emb.embed_query(q), kb.candidates), store.search_sparse(enc.encode_query(q), kb.candidates),
                 limit=10)
            tfull.append(time.perf_counter() - a)
        store.close()
    out.update(dense_k10=_pct(td), bm25_k10=_pct(ts), hybrid_store=_pct(th), hybrid_with_query_embedding=_pct(tfull))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1000, help="documents for the ingest throughput part")
    ap.add_argument("--n", type=int, default=100_000, help="chunks in the latency store")
    ap.add_argument("--queries", type=int, default=200, help="timed queries")
    ap.add_argument("--skip-ingest", action="store_true")
    args = ap.parse_args()
    if not args.skip_ingest:
        r = bench_ingest(args.docs)
        print(f"ingest: {r['docs']} docs -> {r['chunks']} chunks in {r['chunk_s'] + r['embed_s'] + r['bm25_s'] + r['upsert_s']:.1f} s"
              f" = {r['chunks_per_s']:.1f} chunks/s (chunking {r['chunk_s']:.1f} s, embedding {r['embed_s']:.1f} s ="
              f" {r['embed_chunks_per_s']:.1f} chunks/s, BM25 {r['bm25_s']:.1f} s, upsert {r['upsert_s']:.1f} s)")
    r = bench_latency(args.n, args.queries)
    print(f"latency store: {r['chunks']} chunks, upsert {r['upsert_s']:.1f} s, index build {r['index_build_s']:.1f} s; "
          f"doc_index() {r['doc_index_s']:.2f} s, doc_chunk_counts() {r['doc_chunk_counts_s']:.2f} s ({r['n_docs']} docs)")
    for key, label in (("dense_k10", "dense store query (k=10)"), ("bm25_k10", "BM25 store query (k=10)"),
                       ("hybrid_store", "hybrid store queries + fusion (100+100 candidates)"),
                       ("hybrid_with_query_embedding", "hybrid search incl. query embedding + BM25 encoding")):
        print(f"  {label:55s} p50 {r[key]['p50_ms']:7.2f} ms   p95 {r[key]['p95_ms']:7.2f} ms")


if __name__ == "__main__":
    main()
