"""Chat screen: base and tuned answer the same message with the same decoding settings, streamed.

Engines come from `infer.open_engine` and stay loaded between messages (one per model; a retrained
run's adapter is reloaded because the key holds its modification time). Each engine has a lock:
a second message to the same model waits for the first answer to finish. The stream is
newline-delimited JSON, one object per token: `{"text": ...}`, then `{"done": true, "finish_reason",
"n_tokens"}`, or `{"error": one line}`.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from ..config import TailorConfig
from ..config.generation import GenerationConfig
from ..errors import ModelError, TailorError

_engines: dict[tuple, tuple[Any, threading.Lock]] = {}
_open_lock = threading.Lock()


def _key(cfg: TailorConfig, which: str) -> tuple:
    if which == "base":
        return (str(cfg.root), "base", cfg.model.base)
    adapter = cfg.path(cfg.runs_dir) / which / "adapter"
    if not adapter.exists():
        raise ModelError(f"run '{which}' has no tuned model", where=str(adapter),
                         fix="train the run first (Train screen), or pick a trained run")
    stamp = max(p.stat().st_mtime_ns for p in adapter.iterdir()) if any(adapter.iterdir()) else 0
    return (str(cfg.root), which, stamp)


def engine_for(cfg: TailorConfig, which: str):
    """The loaded engine for "base" or a run name, and its lock."""
    from ..infer import open_engine

    key = _key(cfg, which)
    with _open_lock:
        if key not in _engines:
            for old in [k for k in _engines if k[:2] == key[:2]]:  # a stale adapter of the same run
                _engines.pop(old)[0].close()
            _engines[key] = (open_engine(cfg, which), threading.Lock())
        return _engines[key]


def decoding(cfg: TailorConfig, settings: dict[str, Any]) -> GenerationConfig:
    """The project's generation settings with the screen's changes (validated: ConfigError on bad values)."""
    from pydantic import ValidationError

    from ..errors import ConfigError

    try:
        return GenerationConfig.model_validate({**cfg.generation.model_dump(), **settings})
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"'generation.{name}' is invalid: {err['msg']}", fix=f"correct the value of {name}") from None


def stream_answer(cfg: TailorConfig, which: str, message: str, gen: GenerationConfig,
                  system: str | None = None) -> Iterator[bytes]:
    """NDJSON lines of one streamed answer; errors become one {"error": ...} line."""
    try:
        if not message.strip():
            raise TailorError("the message is empty", fix="type a message first")
        engine, lock = engine_for(cfg, which)
        conversation = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": message}]
        with lock:
            for delta in engine.stream(conversation, gen):
                if delta.text:
                    yield (json.dumps({"text": delta.text}) + "\n").encode()
                if delta.finish_reason is not None:
                    yield (json.dumps({"done": True, "finish_reason": delta.finish_reason,
                                       "n_tokens": delta.n_tokens}) + "\n").encode()
    except TailorError as exc:
        yield (json.dumps({"error": exc.one_line()}) + "\n").encode()


def close_engines() -> None:
    with _open_lock:
        for engine, _ in _engines.values():
            engine.close()
        _engines.clear()
