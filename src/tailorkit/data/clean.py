"""Clean Examples: strip spreadsheet quoting artifacts, normalise whitespace, drop empty sides.

Only quoting and whitespace change; the words of a request or an answer never do (parameter
spellings such as `--ar` / `—ar` are content and stay as written).
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from .example import Example
from .load import location

# A run of spaces/tabs becomes one space. Single plain spaces are not matched at all: replacing
# each with itself made a long cell (a 5 MB answer) cost seconds.
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]{2,}|[\t\u00a0\u2000-\u200a\u202f\u205f\u3000]")
_MANY_NEWLINES = re.compile(r"\n{3,}")

EMPTY_REQUEST = "empty request"
EMPTY_ANSWER = "empty answer"


@dataclass
class CleanResult:
    """Kept Examples, dropped counts by reason, and how many cells had quoting artifacts."""

    kept: list[Example]
    dropped: dict[str, int]
    quoting_fixed: int
    dropped_rows: list[tuple[str, str]] = field(default_factory=list)  # (file:line, reason)


def strip_quoting(text: str) -> tuple[str, bool]:
    """Remove spreadsheet quoting: `\"\"\"text\"\"\"`, a whole cell wrapped in quotes, doubled inner quotes.

    A cell counts as wrapped only when, inside the outer quotes, every quote is doubled (that is
    how a spreadsheet escapes them), so `"Hi" she said, "bye"` is left alone.
    """
    s = text.strip()
    changed = False
    while len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        inner = s[1:-1]
        if '"' in inner.replace('""', ""):
            break
        s = inner.replace('""', '"')
        changed = True
    return (s, True) if changed else (text, False)


def normalize_whitespace(text: str) -> str:
    """NFC, CRLF -> LF, runs of spaces/tabs -> one space, trailing spaces per line, 3+ newlines -> 2, strip."""
    s = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in s.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def clean_text(text: str) -> tuple[str, bool]:
    """Both steps; returns (clean text, whether a quoting artifact was removed)."""
    s, fixed = strip_quoting(normalize_whitespace(text))
    return normalize_whitespace(s), fixed


def clean_examples(examples: list[Example]) -> CleanResult:
    """Clean every message; drop Examples whose request or answer is empty, counting by reason."""
    kept: list[Example] = []
    dropped: Counter[str] = Counter()
    dropped_rows: list[tuple[str, str]] = []
    fixed = 0
    for ex in examples:
        messages = []
        for m in ex.messages:
            content, was_quoted = clean_text(m["content"])
            fixed += was_quoted
            if m["role"] == "system" and not content:
                continue  # an empty system prompt is no prompt at all
            messages.append({"role": m["role"], "content": content})
        reason = _empty_reason(messages)
        if reason:
            dropped[reason] += 1
            dropped_rows.append((location(ex), reason))
            continue
        kept.append(Example(messages=messages, meta=dict(ex.meta)))
    return CleanResult(kept, dict(dropped), fixed, dropped_rows)


def _empty_reason(messages: list[dict[str, str]]) -> str | None:
    users = [m for m in messages if m["role"] == "user"]
    answers = [m for m in messages if m["role"] == "assistant"]
    if not users or any(not m["content"] for m in users):
        return EMPTY_REQUEST
    if not answers or any(not m["content"] for m in answers):
        return EMPTY_ANSWER
    return None
