"""A content-addressed request cache (SQLite in WAL mode): a rerun never pays twice for one request.

The key is a hash of (teacher endpoint, model, messages, parameters), so any change to the prompt or
the decoding settings is a new request, and an identical one is answered from disk. A completion is
committed before its row is journaled; a crash between the two costs nothing on rerun.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .teacher import Completion, Usage

SCHEMA = """CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY, text TEXT NOT NULL, finish_reason TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, created REAL NOT NULL)"""


def request_key(ident: str, model: str, messages: list[dict], params: dict[str, Any]) -> str:
    blob = json.dumps({"teacher": ident, "model": model, "messages": messages, "params": params},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Cache:
    """Open (creating if needed) the cache file; use from one thread (the event loop's)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit: each put is its own transaction, durable in the WAL once it returns.
            self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
            self._db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the request cache {self.path} ({exc})",
                              fix="set synth.cache to a writable file path") from None

    def get(self, key: str) -> Completion | None:
        row = self._db.execute("SELECT text, finish_reason, prompt_tokens, completion_tokens FROM completions "
                               "WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return Completion(text=row[0], finish_reason=row[1], usage=Usage(row[2], row[3]))

    def contains(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM completions WHERE key = ?", (key,)).fetchone() is not None

    def put(self, key: str, completion: Completion) -> None:
        self._db.execute("INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?)",
                         (key, completion.text, completion.finish_reason, completion.usage.prompt_tokens,
                          completion.usage.completion_tokens, time.time()))

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        self._db.close()
