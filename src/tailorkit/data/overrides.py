"""Row overrides: exclude or edit single rows of a data file without touching the file itself.

The project keeps them in `data.overrides` (default `data/overrides.jsonl`, one JSON object a line):
`{"source": "train.csv", "where": "train.csv:12", "action": "exclude"|"edit", "user": ..., "assistant": ...,
"original": {"user": ..., "assistant": ...}}`. `where` is the row's file:line (or file:row N), the same
location every report names. `original` is the row as it was when the override was made: when the
source file has changed under an override (the row at that line is now another one), applying it is
an error rather than a silent exclusion or edit of the wrong row.

`prepare` and `inspect_data` apply them after loading; the studio writes them. Writes are atomic.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from .example import Example
from .load import location

ACTIONS = ("exclude", "edit")


@dataclass
class Applied:
    """The Examples after overrides, and how many rows each action touched."""

    examples: list[Example]
    excluded: list[str] = field(default_factory=list)  # locations
    edited: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"excluded": len(self.excluded), "edited": len(self.edited)}


def overrides_path(cfg) -> Path:
    """Where the project's overrides live (cfg: TailorConfig)."""
    return cfg.path(cfg.data.overrides)


def read_overrides(path: Path) -> dict[str, dict[str, Any]]:
    """Overrides by location (a later line for the same row replaces an earlier one); a missing file is none."""
    if not path.exists():
        return {}
    from .readers import decode_utf8, jsonl_objects

    out: dict[str, dict[str, Any]] = {}
    for lineno, obj in jsonl_objects(path, decode_utf8(path, path.read_bytes())):
        if obj.get("action") not in ACTIONS or not isinstance(obj.get("where"), str):
            raise DataError(f"an override needs 'where' and an 'action' in {ACTIONS}", where=f"{path}:{lineno}",
                            fix="fix or delete that line of the overrides file")
        if obj["action"] == "edit" and not (isinstance(obj.get("user"), str) and isinstance(obj.get("assistant"), str)):
            raise DataError("an edit override needs string 'user' and 'assistant'", where=f"{path}:{lineno}",
                            fix="fix or delete that line of the overrides file")
        out[obj["where"]] = obj
    return out


def _sides(ex: Example) -> dict[str, str]:
    return {"user": ex.user, "assistant": ex.assistant}


def _edited(ex: Example, user: str, assistant: str) -> Example:
    """A copy whose last user and last assistant turns carry the new text (other turns unchanged)."""
    msgs = [dict(m) for m in ex.messages]
    for role, text in (("user", user), ("assistant", assistant)):
        idx = [i for i, m in enumerate(msgs) if m["role"] == role]
        if idx:
            msgs[idx[-1]]["content"] = text
        else:
            msgs.append({"role": role, "content": text})
    return Example(messages=msgs, meta={**ex.meta, "edited": True})


def apply_overrides(examples: list[Example], overrides: dict[str, dict[str, Any]], path: Path) -> Applied:
    """Drop excluded rows and replace edited ones; an override whose row changed in the source is an error."""
    if not overrides:
        return Applied(list(examples))
    out = Applied([])
    for ex in examples:
        where = location(ex)
        ov = overrides.get(where)
        if ov is None:
            out.examples.append(ex)
            continue
        original = ov.get("original")
        if isinstance(original, dict) and original != _sides(ex):
            raise DataError(f"the row at {where} is no longer the one the override was made for (the data file "
                            f"changed since)", where=str(path),
                            fix=f"delete the line for {where} from the overrides file, then exclude or edit the row again")
        if ov["action"] == "exclude":
            out.excluded.append(where)
        else:
            out.examples.append(_edited(ex, ov["user"], ov["assistant"]))
            out.edited.append(where)
    return out


def set_override(path: Path, ex: Example, action: str | None, user: str | None = None,
                 assistant: str | None = None) -> dict[str, dict[str, Any]]:
    """Record (action "exclude" | "edit") or remove (action None) the override of one row; returns all."""
    if action not in (*ACTIONS, None):
        raise DataError(f"unknown override action '{action}'", fix=f"use one of {', '.join(ACTIONS)}")
    if action == "edit" and not ((user or "").strip() and (assistant or "").strip()):
        raise DataError("an edited row needs both a request and an answer", where=location(ex),
                        fix="fill in both sides, or exclude the row instead")
    current = read_overrides(path)
    where = location(ex)
    current.pop(where, None)
    if action is not None:
        entry: dict[str, Any] = {"source": ex.meta.get("source"), "where": where, "action": action,
                                 "original": _sides(ex)}
        if action == "edit":
            entry.update(user=user, assistant=assistant)
        current[where] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text("".join(json.dumps(v, ensure_ascii=False) + "\n" for v in current.values()), encoding="utf-8")
    tmp.replace(path)
    return current
