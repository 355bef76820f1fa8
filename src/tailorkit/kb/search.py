"""Search the knowledge base: dense, BM25, or hybrid (fusion of both), with metadata filters.

A Searcher holds the embedder and the open store, so repeated queries (ask, serve, eval) pay the
model load and the store open once. Hybrid fetches `kb.candidates` hits from each retriever under the
same filter, then fuses them (kb.fusion: rrf | weighted, kb.rrf_k, kb.dense_weight).
"""
from __future__ import annotations

from typing import Literal

from ..config import TailorConfig
from ..errors import KBError
from .embed import Embedder, get_embedder
from .fusion import fuse
from .sparse import sparse_encoder
from .store import Filter, Store, open_store, preflight
from .types import Hit

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")


class Searcher:
    """Embedder + store + BM25 query encoder for one knowledge base. Close it (or use `with`) when done."""

    def __init__(self, cfg: TailorConfig, *, store: Store | None = None, embedder: Embedder | None = None) -> None:
        self.cfg = cfg
        self.kb = cfg.kb
        if store is None:
            preflight(cfg.kb)  # a refused kb.url should not wait for the embedder to load
        self.embedder = embedder or get_embedder(cfg.kb)
        self._own_store = store is None
        self.store = store if store is not None else open_store(cfg.kb, cfg.root, self.embedder.dim)
        self.sparse = sparse_encoder(cfg.kb)

    def __enter__(self) -> "Searcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the store if this Searcher opened it."""
        if self._own_store and self.store is not None:
            self.store.close()
        self.store = None

    def search(self, query: str, k: int = 5, mode: Mode = "hybrid", flt: Filter | None = None) -> list[Hit]:
        """The k best chunks for a query, best first."""
        if mode not in MODES:
            raise KBError(f"unknown search mode '{mode}'", fix="use hybrid, dense or bm25")
        if k < 1:
            raise KBError(f"k must be at least 1 (got {k})", fix="ask for one or more results")
        if self.store is None:
            raise KBError("this Searcher is closed", fix="create a new Searcher")
        if mode == "dense":
            return self.store.search_dense(self.embedder.embed_query(query), k, flt)
        if mode == "bm25":
            return self.store.search_sparse(self.sparse.encode_query(query), k, flt)
        n = max(k, self.kb.candidates)
        dense = self.store.search_dense(self.embedder.embed_query(query), n, flt)
        sparse = self.store.search_sparse(self.sparse.encode_query(query), n, flt)
        return fuse(dense, sparse, self.kb.fusion, rrf_k=self.kb.rrf_k, dense_weight=self.kb.dense_weight, limit=k)


def kb_search(cfg: TailorConfig, query: str, k: int = 5, mode: Mode = "hybrid", flt: Filter | None = None) -> list[Hit]:
    """One-shot search: open the knowledge base, search, close."""
    with Searcher(cfg) as searcher:
        return searcher.search(query, k=k, mode=mode, flt=flt)
