"""Retrieval evaluation on a BEIR-layout corpus: dense, BM25 and hybrid side by side.

kb_eval chunks the corpus the way ingest does (title + text, the ingest chunker, the configured
embedder and BM25 encoder), writes it into a scratch Qdrant Edge store in a temporary folder, runs
every judged query through the same store searches and fusion the Searcher uses, and scores the
document ranking (a document scores the best of its chunks) with nDCG@10, recall@10, recall@100 and
MRR@10. Corpus and query embeddings are cached on disk, keyed by the embedder and the exact texts
embedded (so by corpus and chunking), so re-evaluating other BM25 or fusion settings takes seconds.
"""
from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..config import TailorConfig
from ..config.kb import KBConfig
from ..errors import KBError
from ..progress import progress
from .beir import METRICS, BeirData, Coverage, load_beir, mean_metrics
from .embed import Embedder, get_embedder
from .fusion import fuse
from .sparse import sparse_encoder
from .store import open_store
from .types import Chunk, Hit

EVAL_MODES = ("dense", "bm25", "hybrid")
DEFAULT_CHUNK_SIZE = 200
DEFAULT_CHUNK_OVERLAP = 30


@dataclass
class EvalRun:
    """Per-query chunk rankings from each retriever, computed once and fused any number of ways."""

    data: BeirData
    dense: dict[str, list[Hit]]
    sparse: dict[str, list[Hit]]
    n_chunks: int
    settings: dict[str, Any]
    cache_hit: bool


@dataclass
class EvalResult:
    """Mean metrics per mode (mode -> metric -> value); MRR is MRR@10."""

    metrics: dict[str, dict[str, float]]
    n_docs: int
    n_chunks: int
    n_queries: int
    settings: dict[str, Any] = field(default_factory=dict)
    cache_hit: bool = False
    seconds: float = 0.0
    coverage: Coverage = field(default_factory=Coverage)  # how many qrels matched corpus and queries

    def rows(self) -> list[list[str]]:
        """A table for printing: header row, then one row per mode."""
        return [["mode", *METRICS]] + [[m, *(f"{v[k]:.4f}" for k in METRICS)] for m, v in self.metrics.items()]


# --- chunking -----------------------------------------------------------------------------------

def _window_chunks(doc_id: str, title: str, text: str, size: int, overlap: int) -> list[Chunk]:
    """Fallback chunker: windows of `size` words overlapping by `overlap` words."""
    words = text.split()
    step = max(size - overlap, 1)
    spans = range(0, max(len(words) - overlap, 1), step) if words else [0]
    return [Chunk(doc_id=doc_id, doc_hash="beir", position=i, text=" ".join(words[s:s + size]), title=title or None)
            for i, s in enumerate(spans)]


def chunk_corpus(data: BeirData, embedder_name: str, size: int, overlap: int, title: bool) -> tuple[list[Chunk], list[str]]:
    """Chunks of every document and the text embedded for each (title prefix + chunk when `title`).

    size 0 = one chunk per document (the embedder truncates what it cannot read; BM25 sees it all).
    """
    try:  # the ingest chunker, so eval measures what `kb add` builds
        from .chunking import chunk_document, embedding_text, token_counter
        from .readers import Block, Document
    except ImportError:  # pragma: no cover - only while the ingest side is absent
        chunk_document = None
    chunks: list[Chunk] = []
    for d in data.docs:
        head = d.title if title else ""
        if size <= 0:
            chunks.append(Chunk(doc_id=d.doc_id, doc_hash="beir", position=0, text=d.text, title=head or None))
        elif chunk_document is not None:
            doc = Document(doc_id=d.doc_id, source=Path(d.doc_id), doc_hash="beir", blocks=[Block(text=d.text)], title=head)
            chunks.extend(chunk_document(doc, token_counter(embedder_name), size=size, overlap=overlap)
                          or [Chunk(doc_id=d.doc_id, doc_hash="beir", position=0, text=d.text, title=head or None)])
        else:
            chunks.extend(_window_chunks(d.doc_id, head, d.text, size, overlap))
    if chunk_document is not None:
        texts = [embedding_text(c) for c in chunks]
    else:
        texts = [f"{c.title}\n\n{c.text}" if c.title else c.text for c in chunks]
    return chunks, texts


# --- embedding cache ----------------------------------------------------------------------------

def cached_embeddings(embedder: Embedder, texts: Sequence[str], cache_dir: Path | None, *, batch_size: int = 64,
                      description: str = "embedding") -> tuple[np.ndarray, bool]:
    """Embeddings of `texts`, read from / written to cache_dir keyed by embedder + exact texts."""
    h = hashlib.sha256(embedder.name.encode())
    for t in texts:
        h.update(b"\x00" + t.encode("utf-8", "replace"))
    path = cache_dir / f"{h.hexdigest()[:32]}.npy" if cache_dir else None
    if path is not None and path.exists():
        arr = np.load(path)
        if arr.shape == (len(texts), embedder.dim):
            return arr.astype(np.float32, copy=False), True
    arr = embedder.embed_documents(list(texts), batch_size=batch_size, description=description)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        tmp.replace(path)  # atomic: an interrupted run never leaves a truncated cache file
    return arr, False


# --- retrieval ----------------------------------------------------------------------------------

def prepare_eval(cfg: TailorConfig, corpus: Path, queries: Path, qrels: Path, *, chunk_size: int | None = None,
                 chunk_overlap: int | None = None, title: bool = True, cache_dir: Path | None = None,
                 max_queries: int | None = None, embedder: Embedder | None = None,
                 data: BeirData | None = None, use_dense: bool = True) -> EvalRun:
    """Chunk + embed + index the corpus in a scratch store and run every judged query through both retrievers.

    use_dense=False skips the embedder entirely (BM25-only evaluation in seconds).
    """
    kb: KBConfig = cfg.kb
    size = chunk_size if chunk_size is not None else getattr(kb, "chunk_size", DEFAULT_CHUNK_SIZE)
    overlap = chunk_overlap if chunk_overlap is not None else getattr(kb, "chunk_overlap", DEFAULT_CHUNK_OVERLAP)
    data = data or load_beir(corpus, queries, qrels)
    if max_queries is not None:
        keep = sorted(data.queries)[:max_queries]
        data = BeirData(data.docs, {q: data.queries[q] for q in keep}, {q: data.qrels[q] for q in keep}, data.coverage)
    if use_dense:
        embedder = embedder or get_embedder(kb)
    if cache_dir is None:
        cache_dir = cfg.path(".tailor/cache/kb-eval")

    name = embedder.name if embedder is not None else kb.embedder
    chunks, texts = chunk_corpus(data, name, size, overlap, title)
    qids = sorted(data.queries)
    if embedder is not None and use_dense:
        dense, hit = cached_embeddings(embedder, texts, cache_dir, batch_size=kb.embed_batch_size,
                                       description="embedding corpus")
        qdense, _ = cached_embeddings(embedder, [data.queries[q] for q in qids], cache_dir,
                                      batch_size=kb.embed_batch_size, description="embedding queries")
    else:  # a constant 1-d stand-in: the scratch store needs a dense vector per point
        dense, hit = np.ones((len(texts), 1), dtype=np.float32), False
        qdense = np.ones((len(qids), 1), dtype=np.float32)
    # The encoder ingest uses; whole documents have no chunk size to estimate avgdl from, so measure it.
    enc = sparse_encoder(kb)
    if size <= 0:
        enc = sparse_encoder(kb, avgdl=max(float(np.mean([enc.doc_length(t) for t in texts])), 1.0))
    sparse = [enc.encode_document(t) for t in texts]

    # Enough chunks per retriever that the document ranking reaches depth 100 (several chunks per doc).
    per_doc = len(chunks) / max(len(data.docs), 1)
    depth = max(kb.candidates, int(np.ceil(100 * per_doc * 1.5)))
    run_dense: dict[str, list[Hit]] = {}
    run_sparse: dict[str, list[Hit]] = {}
    with tempfile.TemporaryDirectory(prefix="tailor-kb-eval-") as tmp:
        store = open_store(KBConfig(path=tmp, embedder=name), Path(tmp), dense.shape[1])
        try:
            store.upsert(chunks, dense, sparse)
            if hasattr(store, "optimize"):
                store.optimize()
            with progress() as bar:
                task = bar.add_task("querying", total=len(qids))
                for qid, qvec in zip(qids, qdense):
                    if use_dense:
                        run_dense[qid] = store.search_dense(qvec, depth)
                    run_sparse[qid] = store.search_sparse(enc.encode_query(data.queries[qid]), depth)
                    bar.advance(task)
        finally:
            store.close()
    settings = {"embedder": name if use_dense else None, "chunk_size": size, "chunk_overlap": overlap if size > 0 else 0,
                "title": title, "bm25_k1": kb.bm25_k1, "bm25_b": kb.bm25_b, "bm25_avgdl": round(enc.avgdl, 2),
                "bm25_stem": kb.bm25_stem, "bm25_stopwords": kb.bm25_stopwords, "depth": depth}
    return EvalRun(data, run_dense, run_sparse, len(chunks), settings, hit)


def doc_ranking(hits: Sequence[Hit]) -> list[str]:
    """Document ids in order of their best chunk (hits are best first)."""
    seen: dict[str, None] = {}
    for h in hits:
        seen.setdefault(h.chunk.doc_id, None)
    return list(seen)


def score_run(run: EvalRun, modes: Sequence[str] = EVAL_MODES, *, fusion: str = "rrf", rrf_k: int = 60,
              dense_weight: float = 0.5) -> dict[str, dict[str, float]]:
    """Mean metrics per mode for one set of fusion settings (no store access: fast)."""
    out: dict[str, dict[str, float]] = {}
    for mode in modes:
        if mode in ("dense", "hybrid") and not run.dense:
            raise KBError(f"mode '{mode}' needs dense retrieval, which this run skipped", fix="prepare with use_dense=True")
        if mode == "dense":
            rankings = {q: doc_ranking(h) for q, h in run.dense.items()}
        elif mode == "bm25":
            rankings = {q: doc_ranking(h) for q, h in run.sparse.items()}
        elif mode == "hybrid":
            rankings = {q: doc_ranking(fuse(run.dense[q], run.sparse[q], fusion, rrf_k=rrf_k,
                                            dense_weight=dense_weight)) for q in run.dense}
        else:
            raise KBError(f"unknown mode '{mode}'", fix=f"use some of {', '.join(EVAL_MODES)}")
        out[mode] = mean_metrics(rankings, run.data.qrels)
    return out


def kb_eval(cfg: TailorConfig, corpus: Path, queries: Path, qrels: Path, modes: Sequence[str] = EVAL_MODES, *,
            chunk_size: int | None = None, chunk_overlap: int | None = None, title: bool = True,
            cache_dir: Path | None = None, max_queries: int | None = None,
            embedder: Embedder | None = None) -> EvalResult:
    """Evaluate retrieval on a BEIR-layout corpus; fusion, BM25 and embedder settings come from cfg.kb.

    chunk_size/chunk_overlap default to kb.chunk_size/kb.chunk_overlap (200/30 tokens if absent);
    chunk_size 0 = whole documents. cache_dir defaults to <project>/.tailor/cache/kb-eval.
    """
    bad = [m for m in modes if m not in EVAL_MODES]
    if bad or not modes:
        raise KBError(f"unknown mode '{bad[0] if bad else ''}'", fix=f"use some of {', '.join(EVAL_MODES)}")
    start = time.perf_counter()
    run = prepare_eval(cfg, corpus, queries, qrels, chunk_size=chunk_size, chunk_overlap=chunk_overlap, title=title,
                       cache_dir=cache_dir, max_queries=max_queries, embedder=embedder,
                       use_dense=any(m in ("dense", "hybrid") for m in modes))
    kb = cfg.kb
    metrics = score_run(run, modes, fusion=kb.fusion, rrf_k=kb.rrf_k, dense_weight=kb.dense_weight)
    settings = {**run.settings, "fusion": kb.fusion, "rrf_k": kb.rrf_k, "dense_weight": kb.dense_weight}
    return EvalResult(metrics, len(run.data.docs), run.n_chunks, len(run.data.queries), settings, run.cache_hit,
                      time.perf_counter() - start, run.data.coverage)
