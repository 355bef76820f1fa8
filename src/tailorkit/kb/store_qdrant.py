"""qdrant-client store: a Qdrant server or cluster (kb.url = http(s)://...), or the client's local
mode (kb.url = ':memory:' or 'local:<dir>'), which runs the same client code path without a server.

The collection records the embedder and dimension in its metadata, so a collection is never queried
with vectors from another model. A server that refuses connections fails fast with a KBError.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..config.kb import KBConfig
from ..errors import KBError
from .sparse import SparseVec
from .store import DENSE, INDEXED_FIELDS, SPARSE, UPSERT_BATCH, BaseStore, Filter, hit_from_payload
from .types import Chunk, Hit

_CONNECT_TIMEOUT_S = 5


def _models():
    from qdrant_client import models

    return models


def _client(kb_cfg: KBConfig, root: Path):
    from qdrant_client import QdrantClient

    url = kb_cfg.url or ""
    if url == ":memory:":
        return QdrantClient(location=":memory:"), url
    if url.startswith("local:"):
        folder = Path(url[len("local:"):]).expanduser()
        folder = folder if folder.is_absolute() else Path(root) / folder
        folder.mkdir(parents=True, exist_ok=True)
        try:
            return QdrantClient(path=str(folder)), str(folder)
        except RuntimeError as exc:  # portalocker: another client holds the folder
            raise KBError(f"the local Qdrant folder is in use ({exc})", where=str(folder),
                          fix="close the other tailor process using it, then retry") from None
    if not url.startswith(("http://", "https://")):
        raise KBError(f"kb.url '{url}' is not a Qdrant URL", where="tailor.yaml:kb.url",
                      fix="use http(s)://host:6333, ':memory:', 'local:<dir>', or unset it for the embedded store")
    check_server(kb_cfg)
    return QdrantClient(url=url, api_key=_api_key(kb_cfg), timeout=60, check_compatibility=False), url


def _api_key(kb_cfg: KBConfig) -> str | None:
    return os.environ.get(kb_cfg.api_key_env) if kb_cfg.api_key_env else None


def check_server(kb_cfg: KBConfig) -> None:
    """One cheap round trip to the server: fail here (in seconds), not halfway through an ingest."""
    from qdrant_client import QdrantClient

    url = kb_cfg.url or ""
    client = QdrantClient(url=url, api_key=_api_key(kb_cfg), timeout=_CONNECT_TIMEOUT_S, check_compatibility=False)
    try:
        client.get_collections()
    except Exception as exc:  # httpx/grpc/qdrant all raise different types for "cannot connect"
        raise KBError(f"cannot reach the Qdrant server at {url} ({type(exc).__name__}: {str(exc)[:160]})",
                      where="tailor.yaml:kb.url",
                      fix="start the server (docker run -p 6333:6333 qdrant/qdrant), correct kb.url, "
                          "or unset kb.url to use the embedded store") from None
    finally:
        client.close()


class QdrantStore(BaseStore):
    """Store on qdrant-client."""

    def __init__(self, client, collection: str, dim: int) -> None:
        self.client, self.collection, self.dim = client, collection, dim

    @classmethod
    def open(cls, kb_cfg: KBConfig, root: Path, dim: int) -> "QdrantStore":
        m = _models()
        client, where = _client(kb_cfg, root)
        name = kb_cfg.collection
        if client.collection_exists(name):
            info = client.get_collection(name)
            meta = info.config.metadata or {}
            vectors = info.config.params.vectors
            stored = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
            if stored != dim or (meta.get("embedder") not in (None, kb_cfg.embedder)):
                client.close()
                raise KBError(f"collection '{name}' holds {stored}-dim vectors from '{meta.get('embedder')}', "
                              f"not {dim}-dim from '{kb_cfg.embedder}'", where=f"{where} / tailor.yaml:kb.collection",
                              fix="set kb.embedder back, or choose another kb.collection and ingest again")
        else:
            client.create_collection(
                name,
                vectors_config={DENSE: m.VectorParams(size=dim, distance=m.Distance.COSINE)},
                sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
                metadata={"embedder": kb_cfg.embedder, "dim": dim},
            )
            if str(kb_cfg.url).startswith("http"):
                # Local mode has no payload indexes (it scans), and warns if asked for them.
                for field in INDEXED_FIELDS:
                    client.create_payload_index(name, field, m.PayloadSchemaType.KEYWORD)
        return cls(client, name, dim)

    # --- writes -------------------------------------------------------------------------------

    def upsert(self, chunks: list[Chunk], dense: np.ndarray, sparse: list[SparseVec]) -> None:
        m = _models()
        dense = self._check_upsert(chunks, dense, sparse)
        for start in range(0, len(chunks), UPSERT_BATCH):
            points = [
                m.PointStruct(id=c.id, payload=c.payload(), vector={
                    DENSE: d.tolist(), SPARSE: m.SparseVector(indices=list(s.indices), values=list(s.values))})
                for c, d, s in zip(chunks[start:start + UPSERT_BATCH], dense[start:start + UPSERT_BATCH],
                                   sparse[start:start + UPSERT_BATCH])
            ]
            self.client.upsert(self.collection, points=points, wait=True)

    def _doc_filter(self, doc_id: str):
        m = _models()
        return m.Filter(must=[m.FieldCondition(key="doc_id", match=m.MatchValue(value=doc_id))])

    def delete_doc(self, doc_id: str) -> int:
        m = _models()
        flt = self._doc_filter(doc_id)
        n = self.client.count(self.collection, count_filter=flt, exact=True).count
        if n:
            self.client.delete(self.collection, points_selector=m.FilterSelector(filter=flt), wait=True)
        return int(n)

    # --- reads --------------------------------------------------------------------------------

    def count(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    def _scroll_docs(self):
        offset = None
        while True:
            records, offset = self.client.scroll(self.collection, limit=4096, offset=offset,
                                                 with_payload=["doc_id", "doc_hash"], with_vectors=False)
            yield from records
            if offset is None:
                return

    def doc_chunk_counts(self) -> dict[str, int]:
        # Scroll, not facet: local mode has no facet, and this is the same query on every backend.
        out: dict[str, int] = {}
        for r in self._scroll_docs():
            d = (r.payload or {}).get("doc_id")
            out[d] = out.get(d, 0) + 1
        return out

    def doc_index(self) -> dict[str, str]:
        return {(r.payload or {}).get("doc_id"): (r.payload or {}).get("doc_hash") for r in self._scroll_docs()}

    def _filter(self, flt: Filter | None):
        m = _models()
        res = self.resolve(flt)
        if res is None:
            return None, False
        must = [m.FieldCondition(key="tags", match=m.MatchValue(value=t)) for t in res.tags]
        if res.doc_ids is not None:
            must.append(m.FieldCondition(key="doc_id", match=m.MatchAny(any=res.doc_ids)))
        return m.Filter(must=must), res.matches_nothing

    def _query(self, query, using: str, k: int, flt: Filter | None) -> list[Hit]:
        qfilter, nothing = self._filter(flt)
        if nothing or k <= 0:
            return []
        resp = self.client.query_points(self.collection, query=query, using=using, limit=k, query_filter=qfilter,
                                        with_payload=True)
        return [hit_from_payload(p.payload, p.score) for p in resp.points]

    def search_dense(self, vec: np.ndarray, k: int, flt: Filter | None = None) -> list[Hit]:
        return self._query(np.asarray(vec, dtype=np.float32).ravel().tolist(), DENSE, k, flt)

    def search_sparse(self, vec: SparseVec, k: int, flt: Filter | None = None) -> list[Hit]:
        if not len(vec):
            return []
        m = _models()
        return self._query(m.SparseVector(indices=list(vec.indices), values=list(vec.values)), SPARSE, k, flt)

    def optimize(self) -> None:
        """Qdrant servers index in the background; nothing to do here."""

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
