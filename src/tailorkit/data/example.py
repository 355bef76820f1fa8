"""The Example: the one row type passed between stages (OpenAI chat fine-tuning JSONL + meta).

`{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}], "meta": {...}}`
`meta` carries provenance: source file and line, teacher, score, split.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError

ROLES = ("system", "user", "assistant")


@dataclass
class Example:
    messages: list[dict[str, str]]
    meta: dict[str, Any] = field(default_factory=dict)

    # -- convenient views ---------------------------------------------------------------
    @property
    def system(self) -> str | None:
        return next((m["content"] for m in self.messages if m["role"] == "system"), None)

    @property
    def user(self) -> str:
        """The last user turn (the request the answer responds to)."""
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""

    @property
    def assistant(self) -> str:
        """The last assistant turn (the reference answer)."""
        answers = [m["content"] for m in self.messages if m["role"] == "assistant"]
        return answers[-1] if answers else ""

    def prompt_messages(self) -> list[dict[str, str]]:
        """Messages up to (not including) the last assistant turn: what a model is asked."""
        last = max((i for i, m in enumerate(self.messages) if m["role"] == "assistant"), default=len(self.messages))
        return self.messages[:last]

    @classmethod
    def simple(cls, user: str, assistant: str, system: str | None = None, **meta: Any) -> "Example":
        msgs = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]
        return cls(messages=msgs, meta=dict(meta))

    def to_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "meta": self.meta}

    @classmethod
    def from_dict(cls, obj: Any, where: str = "") -> "Example":
        """Validate a parsed JSON object into an Example; errors name `where` and the field."""
        if not isinstance(obj, dict) or "messages" not in obj:
            raise DataError("row has no 'messages' list", where=where,
                            fix="write rows as {\"messages\": [{\"role\": ..., \"content\": ...}]}")
        msgs = obj["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise DataError("'messages' must be a non-empty list", where=f"{where}:messages",
                            fix="give at least a user and an assistant message")
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise DataError(f"message {i} needs a role in {ROLES} and a string content",
                                where=f"{where}:messages[{i}]", fix="fix that message's role/content")
        check_role_order(msgs, where)
        meta = obj.get("meta") or {}
        if not isinstance(meta, dict):
            raise DataError("'meta' must be an object", where=f"{where}:meta", fix="remove it or make it a mapping")
        return cls(messages=[{"role": m["role"], "content": m["content"]} for m in msgs], meta=dict(meta))


def check_role_order(messages: list[dict[str, Any]], where: str = "", field: str = "messages") -> None:
    """Raise DataError unless the roles run: an optional system message, then user and assistant
    alternating from user, ending with assistant.

    A conversation that opens with an assistant turn would be trained on the template's role header and
    default system prompt; one that ends with a user turn has nothing to learn from that turn.
    """
    roles = [m.get("role") for m in messages]
    start = 1 if roles[:1] == ["system"] else 0
    if "assistant" not in roles:
        raise DataError(f"the row has no assistant turn, so it has zero trainable tokens (found "
                        f"{' > '.join(map(str, roles))})", where=where or None,
                        fix="give every row an assistant answer or drop the row")
    for i in range(start, len(roles)):
        expected = "user" if (i - start) % 2 == 0 else "assistant"
        if roles[i] != expected:
            what = ("a system message may only come first" if roles[i] == "system" else
                    f"message {i} is '{roles[i]}' where '{expected}' must come")
            raise DataError(f"the roles are out of order: {what} (found {' > '.join(map(str, roles))})",
                            where=f"{where}:{field}[{i}]" if where else f"{field}[{i}]",
                            fix="order the turns as: optional system, then user and assistant alternating, "
                                "starting with user and ending with assistant")
    if len(roles) == start or roles[-1] != "assistant":
        raise DataError(f"the conversation must end with an assistant answer (found {' > '.join(map(str, roles))})",
                        where=f"{where}:{field}[{len(roles) - 1}]" if where else f"{field}[{len(roles) - 1}]",
                        fix="end each row with the assistant turn to train on, or drop the trailing turns")


def read_examples(path: str | Path) -> list[Example]:
    """Read Example JSONL (an empty file is no Examples); a bad line raises DataError naming file:line."""
    from .readers import decode_utf8, jsonl_objects

    path = Path(path)
    if not path.exists():
        raise DataError(f"file {path} does not exist", fix="run `tailor data prepare` first or check the path")
    data = path.read_bytes()
    if not data.strip():
        return []
    text = decode_utf8(path, data)
    return [Example.from_dict(obj, where=f"{path}:{lineno}") for lineno, obj in jsonl_objects(path, text)]


def iter_jsonl_dicts(examples: Iterable[Example]) -> Iterator[str]:
    for ex in examples:
        yield json.dumps(ex.to_dict(), ensure_ascii=False)


def write_examples(path: str | Path, examples: Iterable[Example]) -> Path:
    """Write Example JSONL atomically: a crash never leaves a half-written file at `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as fh:
        for line in iter_jsonl_dicts(examples):
            fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return path
