"""The crash-safe journal: one JSON line per finished source row, appended as rows finish.

A rerun of the same command reads it and skips rows already kept or dropped; rows that failed are
tried again. The first line holds a signature of the recipe, teacher and settings; a different
signature starts a fresh journal (the request cache still answers repeated requests for free).

Lines are written with one os.write each (a killed process cannot lose what the kernel has), and
fsynced at most every `fsync_every` seconds, in a helper thread so the event loop never waits on the
disk, and on close (group commit: a power cut loses at most that window). A torn last line from a
crash is cut off when the journal reopens.
"""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

FINISHED = ("kept", "dropped")


def journal_path(output: Path) -> Path:
    return output.with_name(f".{output.name}.journal")


def read_journal(path: Path, signature: str) -> dict[str, dict[str, Any]]:
    """The last record per row id, or {} when the journal is absent or belongs to other settings."""
    records: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return records
    with path.open("rb") as fh:
        for i, raw in enumerate(fh):
            if not raw.endswith(b"\n"):
                break  # torn by a crash mid-write
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if i == 0:
                if obj.get("signature") != signature:
                    return {}
                continue
            if isinstance(obj, dict) and "id" in obj:
                records[obj["id"]] = obj
    return records


class Journal:
    """Open for appending; `records` holds what earlier runs finished (last record per id)."""

    def __init__(self, path: Path, signature: str, fsync_every: float = 0.05) -> None:
        self.path = path
        self.fsync_every = fsync_every
        path.parent.mkdir(parents=True, exist_ok=True)
        self.records = read_journal(path, signature)
        fresh = not self.records and not _has_header(path, signature)
        if fresh:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps({"journal": 1, "signature": signature}) + "\n", encoding="utf-8")
            tmp.replace(path)
        else:
            _cut_torn_tail(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._last_sync = time.monotonic()
        self._dirty = False
        self._flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tailor-journal")
        self._flushing: Future | None = None

    @property
    def done(self) -> set[str]:
        return {rid for rid, rec in self.records.items() if rec.get("status") in FINISHED}

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        os.write(self._fd, line)
        self.records[record["id"]] = record
        self._dirty = True
        now = time.monotonic()
        if now - self._last_sync >= self.fsync_every and (self._flushing is None or self._flushing.done()):
            self._dirty, self._last_sync = False, now
            self._flushing = self._flusher.submit(os.fsync, self._fd)

    def sync(self) -> None:
        """Block until everything appended so far is on disk."""
        if self._flushing is not None:
            self._flushing.result()
        if self._dirty:
            os.fsync(self._fd)
            self._dirty = False
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if self._fd >= 0:
            self.sync()
            self._flusher.shutdown(wait=True)
            os.close(self._fd)
            self._fd = -1


def _has_header(path: Path, signature: str) -> bool:
    if not path.exists():
        return False
    with path.open("rb") as fh:
        first = fh.readline()
    try:
        return first.endswith(b"\n") and json.loads(first).get("signature") == signature
    except ValueError:
        return False


def _cut_torn_tail(path: Path) -> None:
    """Drop a partial last line so the next append starts on a line of its own."""
    with path.open("rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)
