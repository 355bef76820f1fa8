"""An open knowledge base: store + ingest manifest + (lazily) the embedder, for ingest and catalog commands.

The embedder is loaded only when something must be embedded: listing, removing or re-adding
unchanged documents never loads a model (the store's recorded dimension is enough to open it).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..config import TailorConfig
from .embed import Embedder, get_embedder
from .manifest import Manifest
from .store import Store, open_store, preflight


def kb_folder(cfg: TailorConfig) -> Path:
    return cfg.path(cfg.kb.path)


def manifest_path(cfg: TailorConfig) -> Path:
    return kb_folder(cfg) / f"{cfg.kb.collection}.manifest.sqlite"


def doc_id_for(path: Path, root: Path) -> str:
    """Document id: the path relative to the project root, or the absolute path when outside it."""
    p = Path(path).expanduser().resolve()
    try:
        return p.relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def source_of(doc_id: str, root: Path) -> Path:
    """The file a document id came from (row documents 'path#row' map to their file)."""
    path = Path(doc_id.split("#", 1)[0])
    return path if path.is_absolute() else Path(root).resolve() / path


def _recorded_dim(cfg: TailorConfig) -> int | None:
    """The dimension an existing embedded store was built with, if it used the configured embedder."""
    if cfg.kb.url:
        return None
    meta = kb_folder(cfg) / cfg.kb.collection / "tailorkit.json"
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return int(data["dim"]) if data.get("embedder") == cfg.kb.embedder and "dim" in data else None


class KBSession:
    """Use as a context manager; closes the store (flushing it) and the manifest on exit."""

    def __init__(self, cfg: TailorConfig, *, embedder: Embedder | None = None, store: Store | None = None) -> None:
        self.cfg = cfg
        self._embedder = embedder
        self._own_store = store is None
        if store is None:
            preflight(cfg.kb)  # a refused kb.url fails before any file is written or model loaded
        self.manifest = Manifest(manifest_path(cfg))
        try:
            if store is None:
                dim = embedder.dim if embedder is not None else _recorded_dim(cfg)
                store = open_store(cfg.kb, cfg.root, dim if dim is not None else self.embedder.dim)
        except BaseException:
            self.manifest.close()
            raise
        self.store: Store = store

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.cfg.kb)
        return self._embedder

    def all_doc_ids(self) -> set[str]:
        return set(self.store.doc_index()) | set(self.manifest.docs())

    def close(self) -> None:
        try:
            if self._own_store:
                self.store.close()
        finally:
            self.manifest.close()

    def __enter__(self) -> "KBSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
