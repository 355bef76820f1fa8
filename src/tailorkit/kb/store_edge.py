"""Qdrant Edge store: the Qdrant engine in-process, persisted in a folder inside the project.

The folder holds Qdrant's own files (wal/, segments/, edge_config.json) plus tailorkit.json recording
the embedder and dimension, so a store is never queried with vectors from another model. The WAL makes
each update operation durable when it returns; one upsert call of up to UPSERT_BATCH points is one
operation, so a document written in one call is stored whole or not at all.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import KBError
from .sparse import SparseVec
from .store import DENSE, INDEXED_FIELDS, SPARSE, UPSERT_BATCH, BaseStore, Filter, hit_from_payload
from .types import Chunk, Hit

META = "tailorkit.json"
_OPTIMIZE_AFTER = 2000  # points written in a session before close() builds the HNSW / sparse indexes


def _qe():
    import qdrant_edge

    return qdrant_edge


def check_meta(folder: Path, dim: int, embedder: str) -> None:
    """Refuse a store built with another embedder (same dimension would silently give garbage)."""
    meta_path = folder / META
    if not meta_path.exists():
        return
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise KBError(f"cannot read the store metadata ({exc})", where=str(meta_path),
                      fix="delete the knowledge-base folder and ingest again") from None
    if meta.get("embedder") != embedder or int(meta.get("dim", -1)) != dim:
        raise KBError(f"the knowledge base was built with embedder '{meta.get('embedder')}' ({meta.get('dim')} dims), "
                      f"not '{embedder}' ({dim} dims)", where=f"{folder} / tailor.yaml:kb.embedder",
                      fix=f"set kb.embedder back to '{meta.get('embedder')}', or use another kb.collection "
                          f"(or delete {folder}) and ingest again")


class EdgeStore(BaseStore):
    """Store on qdrant-edge-py (EdgeShard)."""

    def __init__(self, shard, folder: Path, dim: int) -> None:
        self.shard, self.folder, self.dim = shard, folder, dim
        self._written = 0

    @classmethod
    def open(cls, folder: Path, dim: int, *, embedder: str) -> "EdgeStore":
        qe = _qe()
        folder = Path(folder)
        check_meta(folder, dim, embedder)
        try:
            if (folder / "edge_config.json").exists():
                shard = qe.EdgeShard.load(str(folder))
            else:
                folder.mkdir(parents=True, exist_ok=True)
                config = qe.EdgeConfig(
                    vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
                    sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
                )
                shard = qe.EdgeShard.create(str(folder), config)
                for name in INDEXED_FIELDS:
                    shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword))
                meta = {"embedder": embedder, "dim": dim, "format": 1}
                (folder / META).write_text(json.dumps(meta), encoding="utf-8")
        except Exception as exc:  # qdrant-edge raises plain Exception for engine errors
            msg = str(exc)
            if "WouldBlock" in msg or "lock" in msg.lower():
                raise KBError("the knowledge base is open in another process", where=str(folder),
                              fix="wait for the other tailor command to finish (or close it), then retry") from None
            raise KBError(f"cannot open the knowledge base ({msg})", where=str(folder),
                          fix="check the folder's permissions, or delete it and ingest again") from None
        store = cls(shard, folder, dim)
        stored = _config_dim(folder)
        if stored is not None and stored != dim:
            store.close()
            raise KBError(f"the knowledge base holds {stored}-dim vectors, the embedder makes {dim}", where=str(folder),
                          fix="use the embedder it was built with (kb.embedder), or delete the folder and ingest again")
        return store

    # --- writes -------------------------------------------------------------------------------

    def upsert(self, chunks: list[Chunk], dense: np.ndarray, sparse: list[SparseVec]) -> None:
        qe = _qe()
        dense = self._check_upsert(chunks, dense, sparse)
        for start in range(0, len(chunks), UPSERT_BATCH):
            points = [
                qe.Point(id=c.id, vector={DENSE: d.tolist(), SPARSE: qe.SparseVector(s.indices, s.values)},
                         payload=c.payload())
                for c, d, s in zip(chunks[start:start + UPSERT_BATCH], dense[start:start + UPSERT_BATCH],
                                   sparse[start:start + UPSERT_BATCH])
            ]
            self.shard.update(qe.UpdateOperation.upsert_points(points))
        self._written += len(chunks)

    def delete_doc(self, doc_id: str) -> int:
        qe = _qe()
        flt = qe.Filter(must=[qe.FieldCondition(key="doc_id", match=qe.MatchValue(doc_id))])
        n = self.shard.count(qe.CountRequest(exact=True, filter=flt))
        if n:
            self.shard.update(qe.UpdateOperation.delete_points_by_filter(flt))
        return int(n)

    # --- reads --------------------------------------------------------------------------------

    def count(self) -> int:
        return int(self.shard.count(_qe().CountRequest(exact=True)))

    def doc_chunk_counts(self) -> dict[str, int]:
        qe = _qe()
        # The facet on the indexed doc_id field answers from the index, without reading payloads.
        limit = max(self.count(), 1)
        return {str(h.value): int(h.count) for h in self.shard.facet(qe.FacetRequest(key="doc_id", limit=limit, exact=True))}

    def doc_index(self) -> dict[str, str]:
        qe = _qe()
        out: dict[str, str] = {}
        offset = None
        selector = qe.PayloadSelector.Include(["doc_id", "doc_hash"])
        while True:
            records, offset = self.shard.scroll(qe.ScrollRequest(offset=offset, limit=4096, with_payload=selector,
                                                                 with_vector=False))
            for r in records:
                p = r.payload or {}
                out[p.get("doc_id")] = p.get("doc_hash")
            if offset is None:
                return out

    def _filter(self, flt: Filter | None):
        qe = _qe()
        res = self.resolve(flt)
        if res is None:
            return None, False
        must = [qe.FieldCondition(key="tags", match=qe.MatchValue(t)) for t in res.tags]
        if res.doc_ids is not None:
            must.append(qe.FieldCondition(key="doc_id", match=qe.MatchAny(res.doc_ids)))
        return qe.Filter(must=must), res.matches_nothing

    def _query(self, query, k: int, flt: Filter | None) -> list[Hit]:
        qe = _qe()
        qfilter, nothing = self._filter(flt)
        if nothing or k <= 0:
            return []
        points = self.shard.query(qe.QueryRequest(limit=k, query=query, filter=qfilter, with_payload=True))
        return [hit_from_payload(p.payload, p.score) for p in points]

    def search_dense(self, vec: np.ndarray, k: int, flt: Filter | None = None) -> list[Hit]:
        vec = np.asarray(vec, dtype=np.float32).ravel()
        return self._query(_qe().Query.Nearest(vec.tolist(), using=DENSE), k, flt)

    def search_sparse(self, vec: SparseVec, k: int, flt: Filter | None = None) -> list[Hit]:
        if not len(vec):
            return []  # a query of stopwords only has nothing to match
        qe = _qe()
        return self._query(qe.Query.Nearest(qe.SparseVector(list(vec.indices), list(vec.values)), using=SPARSE), k, flt)

    def optimize(self) -> None:
        """Build the HNSW and sparse indexes for everything written (otherwise search scans new segments)."""
        self.shard.optimize()
        self._written = 0

    def close(self) -> None:
        if self.shard is None:
            return
        if self._written >= _OPTIMIZE_AFTER:
            self.optimize()
        self.shard.flush()
        self.shard.close()
        self.shard = None


def _config_dim(folder: Path) -> int | None:
    """The dense dimension recorded in Qdrant's own edge_config.json (for stores made before tailorkit.json)."""
    try:
        cfg = json.loads((folder / "edge_config.json").read_text(encoding="utf-8"))
        return int(cfg["vectors"][DENSE]["size"])
    except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError):
        return None
