"""The vector-store interface of the knowledge base and how a config picks an implementation.

One small protocol, two implementations: Qdrant Edge in-process (store_edge.py, the default: a folder
inside the project) and qdrant-client (store_qdrant.py: a Qdrant server or cluster when kb.url is
http(s)://..., or the client's local mode for ':memory:' / 'local:<dir>'). Both keep, per chunk, a
dense vector "dense" (cosine) and a BM25 sparse vector "bm25" (idf modifier), with the chunk's payload
and keyword indexes on doc_id and tags.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..config.kb import KBConfig
from ..errors import KBError
from .sparse import SparseVec
from .types import Chunk, Hit

DENSE = "dense"
SPARSE = "bm25"
INDEXED_FIELDS = ("doc_id", "doc_hash", "tags")
UPSERT_BATCH = 1024  # points per update operation: bounds memory without splitting ordinary documents
_GLOB_CHARS = "*?["


@dataclass
class Filter:
    """Metadata filter for search.

    path_glob: shell-style pattern on the document id (its path), e.g. "policies/*.pdf" ('*' also
      crosses '/'); a pattern without wildcards matches that document or everything under that folder.
    tags: the chunk must carry every one of these tags (given at ingest).
    """

    path_glob: str | None = None
    tags: list[str] | None = None


@dataclass
class ResolvedFilter:
    """A Filter turned into exact payload matches both backends can express.

    doc_ids None = no path condition; an empty list = the glob matched no document (search returns []).
    """

    doc_ids: list[str] | None
    tags: list[str]

    @property
    def matches_nothing(self) -> bool:
        return self.doc_ids is not None and not self.doc_ids


def glob_matches(pattern: str, doc_id: str) -> bool:
    """Does a path filter select this document id?"""
    if not any(c in pattern for c in _GLOB_CHARS):
        folder = pattern.rstrip("/")
        return doc_id == pattern or doc_id.startswith(folder + "/")
    return fnmatch.fnmatchcase(doc_id, pattern)


@runtime_checkable
class Store(Protocol):
    """What ingest, search and eval need from a vector store."""

    def upsert(self, chunks: list[Chunk], dense: np.ndarray, sparse: list[SparseVec]) -> None:
        """Insert or replace chunks (by Chunk.id) with their dense and BM25 vectors."""

    def delete_doc(self, doc_id: str) -> int:
        """Remove every chunk of a document; returns how many were removed."""

    def doc_index(self) -> dict[str, str]:
        """doc_id -> doc_hash of the chunks stored (what ingest compares to decide what to redo)."""

    def doc_chunk_counts(self) -> dict[str, int]:
        """doc_id -> number of chunks stored."""

    def count(self) -> int:
        """Number of chunks stored."""

    def search_dense(self, vec: np.ndarray, k: int, flt: Filter | None = None) -> list[Hit]:
        """Top-k chunks by cosine similarity."""

    def search_sparse(self, vec: SparseVec, k: int, flt: Filter | None = None) -> list[Hit]:
        """Top-k chunks by BM25 (idf applied by the store)."""

    def close(self) -> None:
        """Flush and release the store (other processes may open it afterwards)."""


class BaseStore:
    """Shared logic: input checks and path-glob resolution."""

    dim: int

    def _check_upsert(self, chunks: list[Chunk], dense: np.ndarray, sparse: list[SparseVec]) -> np.ndarray:
        dense = np.asarray(dense, dtype=np.float32)
        if dense.ndim != 2 or dense.shape[0] != len(chunks) or len(sparse) != len(chunks):
            raise KBError(f"upsert got {len(chunks)} chunks, {dense.shape[0] if dense.ndim == 2 else '?'} dense and "
                          f"{len(sparse)} sparse vectors", fix="pass one dense row and one sparse vector per chunk")
        if dense.shape[1] != self.dim:
            raise KBError(f"dense vectors have {dense.shape[1]} dimensions, the store holds {self.dim}",
                          fix="use the embedder the knowledge base was built with (kb.embedder)")
        return dense

    def doc_chunk_counts(self) -> dict[str, int]:  # pragma: no cover - overridden
        raise NotImplementedError

    def resolve(self, flt: Filter | None) -> ResolvedFilter | None:
        if flt is None or (not flt.path_glob and not flt.tags):
            return None
        doc_ids = None
        if flt.path_glob:
            doc_ids = sorted(d for d in self.doc_chunk_counts() if glob_matches(flt.path_glob, d))
        return ResolvedFilter(doc_ids, list(flt.tags or []))


def hit_from_payload(payload: dict[str, Any] | None, score: float) -> Hit:
    return Hit(Chunk.from_payload(payload or {}), float(score))


def preflight(kb_cfg: KBConfig) -> None:
    """Fail fast, before any model is loaded, when the configured Qdrant server cannot be reached."""
    if (kb_cfg.url or "").startswith(("http://", "https://")):
        from .store_qdrant import check_server

        check_server(kb_cfg)


def open_store(kb_cfg: KBConfig, root: Path, dim: int) -> Store:
    """Open (creating if needed) the store named by the `kb:` section.

    kb.url unset -> Qdrant Edge in <root>/<kb.path>/<kb.collection>; http(s)://... -> Qdrant server;
    ':memory:' or 'local:<dir>' -> qdrant-client local mode. A store built with another embedder or
    dimension is refused with a KBError rather than silently mixing vector spaces.
    """
    url = kb_cfg.url
    if url:
        from .store_qdrant import QdrantStore

        return QdrantStore.open(kb_cfg, root, dim)
    from .store_edge import EdgeStore

    folder = Path(kb_cfg.path).expanduser()
    folder = folder if folder.is_absolute() else Path(root) / folder
    return EdgeStore.open(folder / kb_cfg.collection, dim, embedder=kb_cfg.embedder)
