"""Turn plain records into Examples: columns, OpenAI messages, alpaca, sharegpt, prompt/completion.

`detect_format` looks at the keys of the first row. For plain columns, the mapping comes from
data.columns, or, when that is unset, from common names (User/Prompt, instruction/output,
question/answer, request/response, input/output). A mapped column that is missing is an error
that lists the columns the file has and the nearest one.
"""
from __future__ import annotations

import difflib
import math
from functools import partial
from typing import Any

from ..config.data import DataConfig
from ..errors import DataError
from .example import Example, check_role_order
from .readers import Records

# Tried in order; the first present wins. "prompt" is last on the user side because in
# request -> prompt data sets (User, Prompt) the prompt is the answer.
USER_NAMES = ("user", "request", "question", "instruction", "input", "query", "human", "prompt")
ASSISTANT_NAMES = ("assistant", "answer", "response", "output", "completion", "reply", "target", "gpt", "prompt")
SYSTEM_NAMES = ("system", "system_prompt")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "model": "assistant", "bard": "assistant", "bing": "assistant",
                  "system": "system"}


def detect_format(row: dict[str, Any]) -> str:
    """The row format implied by a record's keys."""
    keys = {str(k).lower() for k in row}
    if "messages" in keys:
        return "messages"
    if "conversations" in keys:
        return "sharegpt"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    if {"prompt", "completion"} <= keys:
        return "prompt_completion"
    return "columns"


def to_examples(recs: Records, cfg: DataConfig, fmt: str | None = None) -> tuple[list[Example], str]:
    """Convert every record; returns (examples, the format used)."""
    fmt = fmt or (cfg.format if cfg.format != "auto" else detect_format(recs.rows[0]))
    if fmt == "columns":
        convert = partial(_from_columns, cols=resolve_columns(recs, cfg))
    else:
        convert = {"messages": _from_messages, "alpaca": _from_alpaca, "sharegpt": _from_sharegpt,
                   "prompt_completion": _from_prompt_completion}[fmt]
    out: list[Example] = []
    for i, row in enumerate(recs.rows):
        ex = convert(recs, i, row)
        if ex.system is None and cfg.system_prompt:
            ex.messages.insert(0, {"role": "system", "content": cfg.system_prompt})
        pos_key = "line" if recs.kind == "line" else "row"
        ex.meta.update({"source": recs.path.name, pos_key: recs.numbers[i]})
        out.append(ex)
    return out, fmt


def resolve_columns(recs: Records, cfg: DataConfig) -> tuple[str, str, str | None]:
    """(user, assistant, system) column names, from data.columns or detected from common names."""
    present = recs.columns
    lower = {c.lower(): c for c in present}
    where = f"{recs.path}:1" if recs.kind == "line" and recs.path.suffix.lower() in (".csv", ".tsv", ".tab") else str(recs.path)
    mapped = cfg.columns
    user = mapped.user or _first(lower, USER_NAMES, exclude=())
    assistant = mapped.assistant or _first(lower, ASSISTANT_NAMES, exclude=(user,))
    system = mapped.system or _first(lower, SYSTEM_NAMES, exclude=(user, assistant))
    for role, name in (("user", user), ("assistant", assistant)):
        if name is None:
            raise DataError(f"cannot tell which column holds the {role} side; the columns are: {', '.join(present)}",
                            where=where, fix=f"set data.columns.{role} in tailor.yaml to one of them")
    for role, name in (("user", user), ("assistant", assistant), ("system", mapped.system)):
        if name is not None and name not in present:
            raise DataError(f"column '{name}' (data.columns.{role}) is not in the file; its columns are: "
                            f"{', '.join(present) or '(none)'}", where=f"{where}:{name}", fix=_column_fix(role, name, present))
    return user, assistant, system


def _first(lower: dict[str, str], names: tuple[str, ...], exclude: tuple) -> str | None:
    for n in names:
        if n in lower and lower[n] not in exclude:
            return lower[n]
    return None


def _column_fix(role: str, name: str, present: list[str]) -> str:
    by_lower = {c.lower(): c for c in present}
    guess = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.5)
    if guess:
        return f"did you mean '{by_lower[guess[0]]}'? set data.columns.{role}: {by_lower[guess[0]]}"
    return f"set data.columns.{role} to one of: {', '.join(present)}"


def text_of(recs: Records, i: int, value: Any, fld: str) -> str:
    """A cell as text: missing/None/NaN -> "" (dropped later as an empty side); numbers -> str."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    raise DataError(f"field '{fld}' holds a {type(value).__name__}, not text", where=recs.where(i, fld),
                    fix="make that field a string")


def _get(row: dict[str, Any], name: str) -> tuple[str, Any]:
    """Case-insensitive lookup; returns (actual key, value)."""
    if name in row:
        return name, row[name]
    for k, v in row.items():
        if str(k).lower() == name:
            return str(k), v
    return name, None


def _from_columns(recs: Records, i: int, row: dict[str, Any], cols: tuple[str, str, str | None]) -> Example:
    user, assistant, system = cols
    sys_text = text_of(recs, i, row.get(system), system) if system else ""
    return Example.simple(text_of(recs, i, row.get(user), user), text_of(recs, i, row.get(assistant), assistant),
                          sys_text or None)


def _from_prompt_completion(recs: Records, i: int, row: dict[str, Any]) -> Example:
    (pk, p), (ck, c) = _get(row, "prompt"), _get(row, "completion")
    sk, s = _get(row, "system")
    return Example.simple(text_of(recs, i, p, pk), text_of(recs, i, c, ck), text_of(recs, i, s, sk) or None)


def _from_alpaca(recs: Records, i: int, row: dict[str, Any]) -> Example:
    (ik, ins), (nk, inp), (ok, out) = _get(row, "instruction"), _get(row, "input"), _get(row, "output")
    sk, s = _get(row, "system")
    request = "\n\n".join(t for t in (text_of(recs, i, ins, ik), text_of(recs, i, inp, nk)) if t.strip())
    return Example.simple(request, text_of(recs, i, out, ok), text_of(recs, i, s, sk) or None)


def _from_messages(recs: Records, i: int, row: dict[str, Any]) -> Example:
    _, msgs = _get(row, "messages")
    return Example.from_dict({"messages": msgs, "meta": row.get("meta") or {}}, where=recs.where(i))


def _from_sharegpt(recs: Records, i: int, row: dict[str, Any]) -> Example:
    key, conv = _get(row, "conversations")
    if not isinstance(conv, list) or not conv:
        raise DataError("'conversations' must be a non-empty list", where=recs.where(i, key),
                        fix='write [{"from": "human", "value": ...}, {"from": "gpt", "value": ...}]')
    messages = []
    for j, turn in enumerate(conv):
        fld = f"{key}[{j}]"
        if not isinstance(turn, dict):
            raise DataError(f"turn {j} is not an object", where=recs.where(i, fld), fix='write {"from": ..., "value": ...}')
        speaker = str(turn.get("from", turn.get("role", ""))).lower()
        role = SHAREGPT_ROLES.get(speaker)
        if role is None:
            raise DataError(f"turn {j} has an unknown speaker '{speaker}'", where=recs.where(i, f"{fld}.from"),
                            fix="use from: human, gpt or system")
        messages.append({"role": role, "content": text_of(recs, i, turn.get("value", turn.get("content")), f"{fld}.value")})
    check_role_order(messages, recs.where(i), key)
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    return Example(messages=messages, meta=dict(meta))
