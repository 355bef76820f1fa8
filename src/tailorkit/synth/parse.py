"""Robust parsing of teacher replies: JSON inside code fences or prose, lists, scores, picks, pairs.

Judges and generators often wrap JSON in ```json fences, add a sentence before or after it, or
answer with a bare number. Every parser here returns None when nothing usable is found, never guesses
silently beyond what the text says.
"""
from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)]|\(\d+\))\s+(.*\S)\s*$")
_SCORE_WORD = re.compile(r"(?:score|rating)\s*(?:[:=]|is|of)?\s*\**\s*([1-5])(?!\d)", re.I)
_BARE_DIGIT = re.compile(r"^\W*([1-5])(?:\s*(?:/\s*5|out of 5))?(?!\d)")
_LABEL = re.compile(r"^\s*(?:request|prompt|instruction|user request|question)\s*\d*\s*[:\-]\s*", re.I)


def extract_json(text: str) -> Any | None:
    """The first JSON value found: whole text, a fenced block, or the first {...} / [...] in prose."""
    text = text.strip()
    candidates = [text] + [m.group(1).strip() for m in _FENCE.finditer(text)]
    for cand in candidates:
        try:
            return json.loads(cand)
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "[{":
            try:
                value, _ = decoder.raw_decode(text[i:])
                return value
            except ValueError:
                continue
    return None


def clean_line(text: str) -> str:
    """A generated request without labels ("Request:"), wrapping quotes or surrounding spaces."""
    text = _LABEL.sub("", text.strip())
    while len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return text.strip()


def parse_list(text: str) -> list[str] | None:
    """A list of strings from a JSON list (of strings or of {"request": ...}), or from list lines."""
    value = extract_json(text)
    if isinstance(value, dict):
        value = next((v for v in value.values() if isinstance(v, list)), None)
    if isinstance(value, list):
        items = []
        for item in value:
            if isinstance(item, dict):
                item = next((v for k, v in item.items() if isinstance(v, str) and k.lower() in
                             ("request", "prompt", "instruction", "text", "query")), None)
            if isinstance(item, str) and clean_line(item):
                items.append(clean_line(item))
        return items or None
    lines = [m.group(1) for line in text.splitlines() if (m := _LIST_ITEM.match(line))]
    items = [clean_line(line) for line in lines if clean_line(line)]
    return items or None


def parse_score(text: str) -> tuple[int, str] | None:
    """(score 1-5, reason) from JSON {"score": 4, "reason": ...}, "Score: 4 ...", or a bare "4"."""
    value = extract_json(text)
    if isinstance(value, dict):
        raw = next((value[k] for k in ("score", "rating", "grade") if k in value), None)
        try:
            score = int(float(raw)) if raw is not None and not isinstance(raw, bool) else None
        except (TypeError, ValueError):
            score = None
        if score is not None and 1 <= score <= 5:
            reason = value.get("reason") or value.get("explanation") or value.get("rationale") or ""
            return score, " ".join(str(reason).split())
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 1 <= value <= 5:
        return int(value), ""
    stripped = _FENCE.sub(lambda m: m.group(1), text).strip()
    found = _SCORE_WORD.search(stripped) or _BARE_DIGIT.match(stripped)
    if found:
        rest = stripped[found.end():].strip(" .:-*\n")
        return int(found.group(1)), " ".join(rest.split())[:300]
    return None


def parse_pick(text: str, n: int) -> int | None:
    """A judge's choice as a 0-based index from {"best": k} (1-based) or the first number 1..n."""
    value = extract_json(text)
    if isinstance(value, dict):
        raw = next((value[k] for k in ("best", "choice", "index", "answer") if k in value), None)
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) and 1 <= raw <= n:
            return int(raw) - 1
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= n:
        return value - 1
    for m in re.finditer(r"(?<![\d.])(\d+)(?![\d.])", text):
        k = int(m.group(1))
        if 1 <= k <= n:
            return k - 1
    return None


_PAIR_KEYS = (("request", "answer"), ("instruction", "output"), ("prompt", "response"), ("user", "assistant"),
              ("question", "answer"), ("input", "output"))
_PAIR_TEXT = re.compile(r"(?:request|instruction|prompt|question)\s*:\s*(.+?)\n+\s*"
                        r"(?:answer|response|output)\s*:\s*(.+)", re.I | re.S)


def parse_pair(text: str) -> tuple[str, str] | None:
    """(request, answer) from JSON with a known key pair, or from "Request: ... Answer: ..." text."""
    value = extract_json(text)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        value = value[0]
    if isinstance(value, dict):
        lowered = {str(k).lower(): v for k, v in value.items()}
        for req_key, ans_key in _PAIR_KEYS:
            req, ans = lowered.get(req_key), lowered.get(ans_key)
            if isinstance(req, str) and isinstance(ans, str):
                return req.strip(), ans.strip()
    found = _PAIR_TEXT.search(_FENCE.sub(lambda m: m.group(1), text))
    if found:
        return clean_line(found.group(1)), found.group(2).strip()
    return None
