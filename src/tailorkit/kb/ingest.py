"""Incremental, crash-safe ingest: `kb_add(cfg, paths)` and `kb_sync(cfg, folder)`.

A document's id is its path (relative to the project root); its hash is sha256 of the file's bytes
(of the row's text for CSV/JSONL rows). An unchanged document is skipped without being read or
embedded; a changed one has its chunks replaced; `sync` also removes documents whose files are gone.

Write order per batch of documents (see manifest.py): embed (nothing touched yet, so a failing
embedder loses nothing) -> mark pending -> per document: delete its old chunks, upsert the new ones
in one store operation -> mark complete. A run killed anywhere in between leaves pending rows that
the next run deletes and re-ingests. Files that cannot be read are reported in `skipped` and keep
whatever version was stored before.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import TailorConfig
from ..errors import KBError
from ..progress import progress
from .chunking import chunk_document, embedding_text, token_counter
from .embed import Embedder
from .manifest import DocRecord
from .readers import ROW_EXT, RowColumns, SUPPORTED, Unreadable, is_supported, read_source, sha256
from .session import KBSession, doc_id_for, kb_folder, source_of
from .sparse import sparse_encoder
from .store import Store
from .types import Chunk

@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class IngestResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)  # pending documents of an interrupted run, redone
    skipped: list[Skipped] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_removed: int = 0
    documents: int = 0  # in the store afterwards
    chunks: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """At least one document is in the requested state (new, updated or already current)."""
        return bool(self.added or self.updated or self.unchanged or self.removed)

    def failure(self, verb: str = "ingested") -> KBError | None:
        """The error to report when nothing at all was ingested because files were skipped, else None."""
        if self.ok or not self.skipped:
            return None
        if len(self.skipped) == 1:  # one bad file: one error line
            return KBError(f"nothing {verb}: {self.skipped[0].reason}", where=self.skipped[0].path)
        return KBError(f"nothing {verb}: all {len(self.skipped)} file(s) were skipped (reasons above)",
                       fix="fix or remove those files, or pass supported documents")


def collect_files(cfg: TailorConfig, paths: list[Path]) -> tuple[list[Path], list[Skipped]]:
    """Expand folders into files (hidden files and the store's own folder excluded); unsupported
    types are reported, not read. A missing path or an empty folder is an error."""
    if not paths:
        raise KBError("no path given", fix="pass files or folders: tailor kb add docs/")
    store_dir = kb_folder(cfg).resolve()
    files: dict[Path, None] = {}
    skipped: list[Skipped] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise KBError("no such file or folder", where=str(path), fix="check the path (relative to the current folder)")
        path = path.resolve()
        if path.is_dir():
            found = [p for p in sorted(path.rglob("*")) if p.is_file()
                     and not any(part.startswith(".") for part in p.relative_to(path).parts)
                     and store_dir not in p.parents]
            if not found:
                raise KBError("the folder holds no files (hidden files are ignored)", where=str(path),
                              fix=f"put documents ({', '.join(sorted(SUPPORTED))}) in it or pass another folder")
        else:
            found = [path]
        for p in found:
            reason = unsupported_reason(p)
            if reason is None:
                files[p] = None
            else:
                skipped.append(Skipped(doc_id_for(p, cfg.root), reason))
    return list(files), skipped


def unsupported_reason(path: Path) -> str | None:
    """Why a file cannot be ingested because of its type, or None when its type is supported."""
    if is_supported(path):
        return None
    return f"unsupported file type '{path.suffix or path.name}' (supported: {', '.join(sorted(SUPPORTED))})"


class _Ingestor:
    """One ingest run over a session: reads, chunks, embeds in groups, writes crash-safely."""

    def __init__(self, session: KBSession, result: IngestResult, tags: list[str] | None) -> None:
        cfg = session.cfg
        self.s, self.result, self.tags = session, result, (sorted(set(tags)) if tags is not None else None)
        self.counter = token_counter(cfg.kb.embedder)
        self.encoder = sparse_encoder(cfg.kb)
        self.columns = RowColumns(cfg.kb.text_column, cfg.kb.title_column, cfg.kb.id_column)
        self.queue: list[tuple[DocRecord, list[Chunk], bool]] = []
        self.queued_chunks = 0
        self.files_done: list[tuple[str, str]] = []
        self.index: dict[str, str] = {}
        self.records: dict[str, DocRecord] = {}

    def recover(self) -> list[Path]:
        """Delete the chunks of documents left pending by an interrupted run; return their files."""
        again: list[Path] = []
        for rec in self.s.manifest.pending():
            self.s.store.delete_doc(rec.doc_id)
            self.s.manifest.forget_file(rec.source)
            self.result.recovered.append(rec.doc_id)
            if Path(rec.source).exists():
                again.append(Path(rec.source))
            else:
                self.s.manifest.forget([rec.doc_id])
        return again

    def run(self, files: list[Path], bar) -> None:
        """Read and chunk file by file; embed and write every kb.ingest_batch chunks (two bars)."""
        self.index = self.s.store.doc_index()
        self.records = self.s.manifest.docs()
        read_task = bar.add_task("reading", total=len(files))
        self.embed_task, self.embed_total = bar.add_task("embedding", total=0), 0
        self.bar = bar
        for path in files:
            before = self.queued_chunks
            self.ingest_file(path)
            self.embed_total += self.queued_chunks - before
            bar.update(self.embed_task, total=self.embed_total)
            if self.queued_chunks >= self.s.cfg.kb.ingest_batch:
                self.flush()
            bar.advance(read_task)
        self.flush()

    def _current(self, rec: DocRecord) -> bool:
        return rec.state == "complete" and self.index.get(rec.doc_id) == rec.doc_hash and \
            (self.tags is None or rec.tags == self.tags)

    def ingest_file(self, path: Path) -> None:
        src, shown = str(path), doc_id_for(path, self.s.cfg.root)
        try:
            data = path.read_bytes()
        except PermissionError:
            self.result.skipped.append(Skipped(shown, "permission denied; make the file readable"))
            return
        except OSError as exc:
            self.result.skipped.append(Skipped(shown, f"cannot read the file ({exc.strerror or exc})"))
            return
        file_hash = sha256(data)
        previous = self.s.manifest.docs_from(src)
        if previous and self.s.manifest.file_hash(src) == file_hash and all(self._current(r) for r in previous):
            self.result.unchanged.extend(r.doc_id for r in previous)  # not even parsed
            return
        base_id = shown
        try:
            read = read_source(path, base_id, data, self.columns)
        except Unreadable as exc:
            self.result.skipped.append(Skipped(shown, exc.reason))
            return
        self.result.skipped.extend(Skipped(where, reason) for where, reason in read.problems)
        new_ids = set()
        for doc in read.documents:
            new_ids.add(doc.doc_id)
            old = self.records.get(doc.doc_id)
            tags = self.tags if self.tags is not None else (old.tags if old else [])
            rec = DocRecord(doc.doc_id, src, doc.doc_hash, "pending", 0, tags)
            if self.index.get(doc.doc_id) == doc.doc_hash and (old is None or (old.state == "complete" and old.tags == tags)):
                if old is None:  # stored but unknown to the manifest (lost manifest): adopt, don't re-embed
                    self.s.manifest.adopt([rec])
                self.result.unchanged.append(doc.doc_id)
                continue
            chunks = chunk_document(doc, self.counter, self.s.cfg.kb.chunk_size, self.s.cfg.kb.chunk_overlap, tags)
            rec.n_chunks = len(chunks)
            self.queue.append((rec, chunks, doc.doc_id in self.index))
            self.queued_chunks += len(chunks)
        if path.suffix.lower() in ROW_EXT:  # rows that disappeared from a changed file
            stale = [r.doc_id for r in previous if r.doc_id not in new_ids]
            stale += [d for d in self.index if d.startswith(base_id + "#") and d not in new_ids and d not in stale]
            self.remove(stale)
        self.files_done.append((src, file_hash))

    def flush(self) -> None:
        if not self.queue:
            for src, file_hash in self.files_done:
                self.s.manifest.set_file(src, file_hash)
            self.files_done.clear()
            return
        texts = [embedding_text(c) for _, chunks, _ in self.queue for c in chunks]
        embedder: Embedder = self.s.embedder
        dense = embedder.embed_documents(texts, batch_size=self.s.cfg.kb.embed_batch_size) if texts else None
        sparse = [self.encoder.encode_document(t) for t in texts]
        store: Store = self.s.store
        self.s.manifest.mark_pending([rec for rec, _, _ in self.queue])
        offset = 0
        for rec, chunks, existed in self.queue:
            self.result.chunks_removed += store.delete_doc(rec.doc_id) if existed else 0
            if chunks:
                store.upsert(chunks, dense[offset:offset + len(chunks)], sparse[offset:offset + len(chunks)])
            offset += len(chunks)
            self.index[rec.doc_id] = rec.doc_hash
            (self.result.updated if existed else self.result.added).append(rec.doc_id)
        self.s.manifest.mark_complete([rec.doc_id for rec, _, _ in self.queue])
        self.result.chunks_embedded += len(texts)
        self.bar.advance(self.embed_task, len(texts))
        self.queue.clear()
        self.queued_chunks = 0
        self.flush()  # records the files whose documents are now all written

    def remove(self, doc_ids: list[str]) -> None:
        for doc_id in doc_ids:
            self.result.chunks_removed += self.s.store.delete_doc(doc_id)
            self.s.manifest.forget([doc_id])
            self.index.pop(doc_id, None)
            self.result.removed.append(doc_id)


def _run(cfg: TailorConfig, paths: list[Path], tags: list[str] | None, embedder: Embedder | None,
         store: Store | None, sync_folder: Path | None) -> IngestResult:
    started = time.perf_counter()
    files, skipped = collect_files(cfg, paths)
    result = IngestResult(skipped=skipped)
    with KBSession(cfg, embedder=embedder, store=store) as session:
        ing = _Ingestor(session, result, tags)
        extra = [p for p in ing.recover() if p not in files]
        todo = files + extra
        with progress() as bar:
            ing.run(todo, bar)
        if sync_folder is not None:
            folder = sync_folder.resolve()
            known = {r.doc_id: Path(r.source) for r in session.manifest.docs().values()}
            gone = []
            for doc_id in sorted(session.all_doc_ids()):
                src = known.get(doc_id) or source_of(doc_id, cfg.root)
                if (src == folder or folder in src.parents) and not src.exists():
                    gone.append(doc_id)
            ing.remove(gone)
        counts = session.store.doc_chunk_counts()
        result.documents, result.chunks = len(counts), sum(counts.values())
    result.seconds = time.perf_counter() - started
    return result


def kb_add(cfg: TailorConfig, paths: list[Path], tags: list[str] | None = None, *,
           embedder: Embedder | None = None, store: Store | None = None) -> IngestResult:
    """Ingest files and folders. Unchanged documents are skipped, changed ones replaced.

    `tags` (when given) replace the tags of the documents ingested; when None, documents keep the
    tags they had. `embedder` / `store` let a caller reuse open ones (kb eval, tests).
    """
    return _run(cfg, [Path(p) for p in paths], tags, embedder, store, None)


def kb_sync(cfg: TailorConfig, folder: Path, tags: list[str] | None = None, *,
            embedder: Embedder | None = None, store: Store | None = None) -> IngestResult:
    """Make the knowledge base mirror a folder: add new, replace changed, remove documents whose
    files are gone from it. An empty or missing folder is an error (never a reason to delete all)."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise KBError(f"{folder} is a file, not a folder", where=str(folder),
                      fix="use `tailor kb add FILE` for single files, `kb sync DIR` for folders")
    return _run(cfg, [folder], tags, embedder, store, folder)
