"""Filters every recipe applies: refusals, empty or truncated text, length bounds, leakage, duplicates.

Each check returns a reason string (the key counted in the data card) or None when the text passes.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from rapidfuzz.distance import Indel

from ..config.synth import SynthConfig

_WORD = re.compile(r"[\w']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def normalize(text: str) -> str:
    """Case, punctuation and spacing removed: what counts as an exact duplicate."""
    return " ".join(words(text))


def is_refusal(text: str, markers: Sequence[str]) -> bool:
    # Refusals announce themselves early; looking further would catch content that quotes them.
    head = text.strip().lower().replace("\u2019", "'")[:160]
    return any(marker in head for marker in markers)


def check_text(text: str, finish_reason: str, cfg: SynthConfig) -> str | None:
    """Why a generated text must go, or None: empty, truncated, refusal, too_short, too_long."""
    stripped = text.strip()
    if not stripped:
        return "empty"
    if finish_reason == "length":
        return "truncated"
    if is_refusal(stripped, cfg.refusal_markers):
        return "refusal"
    if len(stripped) < cfg.min_chars:
        return "too_short"
    if len(stripped) > cfg.max_chars:
        return "too_long"
    return None


def overlap(request: str, output: str) -> float:
    """Share of the output's word pairs that the request repeats (single words for 1-word outputs).

    Word pairs, not words: a fair request names the subject ("a viking with an iron amulet"); a
    leaking one copies runs of the output ("norse amulet made from black iron with a carbon ...").
    """
    out_words, req_words = words(output), words(request)
    if len(out_words) < 2:
        return 1.0 if out_words and set(out_words) <= set(req_words) else 0.0
    out_pairs = set(zip(out_words, out_words[1:]))
    req_pairs = set(zip(req_words, req_words[1:]))
    return len(out_pairs & req_pairs) / len(out_pairs)


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F1 over words (Indel similarity on word lists is exactly 2*LCS/(|a|+|b|))."""
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return 0.0
    return Indel.normalized_similarity(wa, wb)


def duplicate_flags(texts: Sequence[str], threshold: float) -> list[str | None]:
    """For each text in order: "duplicate" (same after normalising) or "near_duplicate" of an earlier
    kept one (rapidfuzz ratio >= threshold), else None. The first of each group is kept.

    The similar pairs come from one blocked all-pairs pass (rapidfuzz cdist on every core), so a
    run of tens of thousands of rows finishes in seconds rather than one scan per row.
    """
    from ..data.dedupe import similar_pairs

    norms = [normalize(text) for text in texts]
    flags: list[str | None] = [None] * len(norms)
    first: dict[str, int] = {}
    for i, norm in enumerate(norms):
        if first.setdefault(norm, i) != i:
            flags[i] = "duplicate"
    unique = sorted(first.values())
    earlier: dict[int, list[int]] = {}
    for a, b in similar_pairs([norms[i] for i in unique], threshold):
        earlier.setdefault(unique[b], []).append(unique[a])
    for i in unique:
        if any(flags[j] is None for j in earlier.get(i, ())):
            flags[i] = "near_duplicate"
    return flags


def example_text(messages: Sequence[dict]) -> str:
    return "\n".join(m["content"] for m in messages)
