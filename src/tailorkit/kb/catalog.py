"""What is in the knowledge base: `kb_list`, `kb_rm`, `kb_stats`. None of them loads an embedder."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from ..config import TailorConfig
from ..errors import KBError
from .session import KBSession, doc_id_for, kb_folder, manifest_path


@dataclass
class DocInfo:
    doc_id: str
    doc_hash: str | None
    chunks: int
    state: str  # complete | pending (interrupted; the next `kb add` redoes it) | unknown (not in the manifest)
    tags: list[str] = field(default_factory=list)


@dataclass
class RemoveResult:
    removed: dict[str, int] = field(default_factory=dict)  # doc_id -> chunks removed
    not_found: list[str] = field(default_factory=list)


@dataclass
class KBStats:
    documents: int
    chunks: int
    pending: int
    store: str
    embedder: str
    manifest: str
    size_bytes: int | None


def kb_list(cfg: TailorConfig) -> list[DocInfo]:
    """Every document in the store (plus pending ones), sorted by id."""
    with KBSession(cfg) as s:
        counts = s.store.doc_chunk_counts()
        hashes = s.store.doc_index()
        records = s.manifest.docs()
    out = []
    for doc_id in sorted(set(counts) | {d for d, r in records.items() if r.state == "pending"}):
        rec = records.get(doc_id)
        out.append(DocInfo(doc_id, hashes.get(doc_id) or (rec.doc_hash if rec else None), counts.get(doc_id, 0),
                           rec.state if rec else "unknown", rec.tags if rec else []))
    return out


def _matches(pattern: str, doc_id: str) -> bool:
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(doc_id, pattern) or fnmatch.fnmatchcase(doc_id.split("#", 1)[0], pattern)
    folder = pattern.rstrip("/")
    return doc_id == pattern or doc_id.startswith(pattern + "#") or doc_id.startswith(folder + "/")


def kb_rm(cfg: TailorConfig, ids_or_paths: list[str]) -> RemoveResult:
    """Remove documents by id, by file path (all rows of a CSV), by folder, or by glob ('docs/*.pdf')."""
    if not ids_or_paths:
        raise KBError("no document given", fix="pass document ids as shown by `tailor kb list`, paths or globs")
    result = RemoveResult()
    with KBSession(cfg) as s:
        known = sorted(s.all_doc_ids())
        for arg in ids_or_paths:
            patterns = {arg}
            if not any(c in arg for c in "*?["):
                patterns.add(doc_id_for(Path(arg), cfg.root))  # a path typed from another folder
            hits = [d for d in known if d not in result.removed and any(_matches(p, d) for p in patterns)]
            if not hits and not any(_matches(p, d) for p in patterns for d in result.removed):
                result.not_found.append(arg)
            for doc_id in hits:
                result.removed[doc_id] = s.store.delete_doc(doc_id)
                s.manifest.forget([doc_id])
                rec_source = str(Path(doc_id.split("#", 1)[0]))
                s.manifest.forget_file(str((cfg.root / rec_source).resolve()) if not Path(rec_source).is_absolute()
                                       else rec_source)
    return result


def _size(folder: Path) -> int | None:
    if not folder.exists():
        return None
    # allocated blocks, not apparent size: Qdrant preallocates sparse 32 MB files
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def kb_stats(cfg: TailorConfig) -> KBStats:
    with KBSession(cfg) as s:
        counts = s.store.doc_chunk_counts()
        pending = len(s.manifest.pending())
    store = cfg.kb.url or str(kb_folder(cfg) / cfg.kb.collection)
    size = None if cfg.kb.url else _size(kb_folder(cfg) / cfg.kb.collection)
    return KBStats(len(counts), sum(counts.values()), pending, store, cfg.kb.embedder, str(manifest_path(cfg)), size)
