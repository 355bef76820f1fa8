"""Token counts remembered between `tailor data inspect` and `tailor data prepare` (and the studio).

Both commands count every row's prompt and whole-conversation tokens with the model's chat
template; at 100k rows that is most of their time (rendering the template is a Python loop inside
transformers). The counts depend only on the exact messages and on the tokenizer + template, so
they are kept in `<project>/.tailor/cache/token-counts/<tokenizer fingerprint>.npz`, keyed by a
128-bit hash of each conversation's messages. A row whose key is present is not rendered again;
anything else (another tokenizer, template, special tokens, or an edited row) misses and is
counted. The file holds the keys of the latest call only, so it never grows past one dataset.

Hand-written rather than e.g. diskcache/joblib.Memory: those memoise a whole call (one edited row
recounts 100k) and pickle per entry; numpy arrays of 16-byte keys load 100k entries in milliseconds.
A cache that cannot be read or written is ignored: the counts are recomputed, never wrong.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

_KEY = np.dtype("V16")


def conversation_key(messages: list[dict]) -> bytes:
    """16-byte hash of the exact roles and contents (separators cannot be confused with content)."""
    blob = json.dumps([[m["role"], m["content"]] for m in messages], ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(blob.encode("utf-8"), digest_size=16).digest()


def tokenizer_fingerprint(tokenizer) -> str | None:
    """Hash of everything the counts depend on; None when the tokenizer cannot be fingerprinted."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "to_str"):
        return None  # a slow (Python) tokenizer: no complete serialisation to hash, so no cache
    h = hashlib.blake2b(digest_size=16)
    h.update(backend.to_str().encode("utf-8"))
    h.update(b"\0" + str(getattr(tokenizer, "chat_template", None) or "").encode("utf-8"))
    h.update(b"\0" + json.dumps(getattr(tokenizer, "special_tokens_map", {}), sort_keys=True, default=str).encode())
    return h.hexdigest()


class TokenCountCache:
    """(prompt tokens, whole tokens) per conversation key, for one tokenizer fingerprint."""

    def __init__(self, folder: Path | None, tokenizer) -> None:
        fp = tokenizer_fingerprint(tokenizer) if folder is not None else None
        self.path = Path(folder) / f"{fp}.npz" if fp else None
        self.known: dict[bytes, tuple[int, int]] = {}
        if self.path is not None and self.path.is_file():
            try:
                with np.load(self.path) as z:
                    keys, prompt, whole = z["keys"], z["prompt"], z["whole"]
                self.known = dict(zip((k.tobytes() for k in keys), zip(prompt.tolist(), whole.tolist())))
            except Exception:  # a truncated or foreign file: count again and overwrite it
                self.known = {}

    def get(self, key: bytes) -> tuple[int, int] | None:
        return self.known.get(key)

    def save(self, keys: list[bytes], prompt: list[int], whole: list[int]) -> None:
        """Keep exactly these rows' counts (written to a temporary file, then renamed)."""
        if self.path is None:
            return
        tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            arr = np.frombuffer(b"".join(keys), dtype=_KEY) if keys else np.zeros(0, dtype=_KEY)
            with tmp.open("wb") as fh:
                np.savez(fh, keys=arr, prompt=np.asarray(prompt, dtype=np.int64),
                         whole=np.asarray(whole, dtype=np.int64))
            tmp.replace(self.path)
        except OSError:  # read-only project, full disk, a file in the way: the cache is an optimisation only
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
