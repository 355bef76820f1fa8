"""The ingest manifest: per-document state in SQLite (WAL) next to the store, for crash safety.

A document is marked `pending` before its chunks are touched in the store and `complete` only after
the new version is fully written. A run that dies in between (crash, Ctrl-C, kill -9) leaves a
pending row; the next ingest deletes that document's chunks and ingests it again, so no half-written
document survives. The store stays the truth for *what* is stored (doc_id -> hash); the manifest adds
what the store cannot tell: pending state, the source file, and the last ingested file hash.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import KBError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    doc_id   TEXT PRIMARY KEY,
    source   TEXT NOT NULL,
    doc_hash TEXT NOT NULL,
    state    TEXT NOT NULL CHECK (state IN ('pending', 'complete')),
    n_chunks INTEGER NOT NULL DEFAULT 0,
    tags     TEXT NOT NULL DEFAULT '[]',
    updated  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_source ON docs(source);
CREATE TABLE IF NOT EXISTS files (
    source    TEXT PRIMARY KEY,
    file_hash TEXT NOT NULL,
    updated   REAL NOT NULL
);
"""


@dataclass
class DocRecord:
    doc_id: str
    source: str
    doc_hash: str
    state: str
    n_chunks: int
    tags: list[str] = field(default_factory=list)


class Manifest:
    """One SQLite file per collection: <kb.path>/<collection>.manifest.sqlite."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a committed transaction survives a killed process (not necessarily a power cut,
            # after which the pending rows make the next run redo the work anyway).
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise KBError(f"cannot open the ingest manifest ({exc})", where=str(self.path),
                          fix="check the folder's permissions; if the file is damaged delete it and run `tailor kb add` again") from None

    # --- reads --------------------------------------------------------------------------------

    def _rows(self, sql: str, args: tuple = ()) -> list[DocRecord]:
        return [DocRecord(r[0], r[1], r[2], r[3], int(r[4]), json.loads(r[5] or "[]"))
                for r in self.db.execute(f"SELECT doc_id, source, doc_hash, state, n_chunks, tags FROM docs {sql}", args)]

    def docs(self) -> dict[str, DocRecord]:
        return {r.doc_id: r for r in self._rows("")}

    def pending(self) -> list[DocRecord]:
        return self._rows("WHERE state = 'pending'")

    def docs_from(self, source: str) -> list[DocRecord]:
        return self._rows("WHERE source = ?", (source,))

    def file_hash(self, source: str) -> str | None:
        row = self.db.execute("SELECT file_hash FROM files WHERE source = ?", (source,)).fetchone()
        return row[0] if row else None

    # --- writes (each call is one transaction) -----------------------------------------------

    def mark_pending(self, records: list[DocRecord]) -> None:
        now = time.time()
        with self._tx():
            self.db.executemany(
                "INSERT INTO docs(doc_id, source, doc_hash, state, n_chunks, tags, updated) VALUES (?, ?, ?, 'pending', ?, ?, ?) "
                "ON CONFLICT(doc_id) DO UPDATE SET source=excluded.source, doc_hash=excluded.doc_hash, state='pending', "
                "n_chunks=excluded.n_chunks, tags=excluded.tags, updated=excluded.updated",
                [(r.doc_id, r.source, r.doc_hash, r.n_chunks, json.dumps(r.tags), now) for r in records])

    def mark_complete(self, doc_ids: list[str]) -> None:
        with self._tx():
            self.db.executemany("UPDATE docs SET state = 'complete', updated = ? WHERE doc_id = ?",
                                [(time.time(), d) for d in doc_ids])

    def adopt(self, records: list[DocRecord]) -> None:
        """Record documents found complete in the store (e.g. after the manifest was lost)."""
        self.mark_pending(records)
        self.mark_complete([r.doc_id for r in records])

    def set_file(self, source: str, file_hash: str) -> None:
        with self._tx():
            self.db.execute("INSERT INTO files(source, file_hash, updated) VALUES (?, ?, ?) "
                            "ON CONFLICT(source) DO UPDATE SET file_hash=excluded.file_hash, updated=excluded.updated",
                            (source, file_hash, time.time()))

    def forget(self, doc_ids: list[str]) -> None:
        with self._tx():
            self.db.executemany("DELETE FROM docs WHERE doc_id = ?", [(d,) for d in doc_ids])

    def forget_file(self, source: str) -> None:
        with self._tx():
            self.db.execute("DELETE FROM files WHERE source = ?", (source,))

    def _tx(self):
        return _Transaction(self.db)

    def close(self) -> None:
        self.db.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
