"""Exact and near-duplicate removal, and the normalised keys the split uses to prevent leakage.

The normalised key of a text: casefold, collapse whitespace, strip punctuation at both ends.
Two rows are exact duplicates when their normalised request and answer are equal; near duplicates
when both the request and the answer similarity (rapidfuzz ratio, 0-1) reach the threshold.
Similar pairs come from similar.py: all pairs for small inputs, MinHash LSH candidates checked with
the exact ratio for large ones, so 100,000 rows take seconds.
"""
from __future__ import annotations

import string
import unicodedata
from dataclasses import dataclass, field

from .example import Example
from .similar import similar_pairs

_EDGE = string.punctuation + "\u2018\u2019\u201c\u201d\u2026\u2013\u2014\u00ab\u00bb"


def normalize(text: str) -> str:
    """The comparison key of a text."""
    s = " ".join(unicodedata.normalize("NFC", text).casefold().split())  # the same as re.sub(r"\s+", " "), 3x faster
    return s.strip(_EDGE + " ")


def request_text(ex: Example) -> str:
    """Everything the model is shown except the system prompt (the user turns, and earlier answers)."""
    return "\n".join(m["content"] for m in ex.prompt_messages() if m["role"] != "system")


def request_key(ex: Example) -> str:
    return normalize(request_text(ex))


def answer_key(ex: Example) -> str:
    return normalize(ex.assistant)


@dataclass
class DedupeResult:
    """Kept Examples and what was removed (each removed row with the row it duplicates)."""

    kept: list[Example]
    exact_removed: int
    near_removed: int
    removed: list[tuple[str, Example, Example]] = field(default_factory=list)  # (reason, removed, kept twin)

    @property
    def dropped(self) -> dict[str, int]:
        out = {"exact duplicate": self.exact_removed, "near duplicate": self.near_removed}
        return {k: v for k, v in out.items() if v}


def ratio(a: str, b: str) -> float:
    from rapidfuzz import fuzz

    return fuzz.ratio(a, b) / 100.0


def exact_duplicates(examples: list[Example]) -> list[tuple[int, int]]:
    """(duplicate index, index of its first occurrence) for every exact duplicate."""
    first: dict[tuple[str, str], int] = {}
    out = []
    for i, ex in enumerate(examples):
        key = (request_key(ex), answer_key(ex))
        if key in first:
            out.append((i, first[key]))
        else:
            first[key] = i
    return out


def near_duplicates(examples: list[Example], threshold: float) -> list[tuple[int, int]]:
    """(j, i) pairs, i < j, whose request AND answer similarity reach the threshold (not exact duplicates).

    Candidates are the pairs whose request + answer, joined, reach the threshold: when both parts
    do, so does the whole (its common subsequence is at least the two parts' together), so no pair
    is lost by looking at one text per row, and each candidate is then checked part by part.
    """
    answers = [answer_key(ex) for ex in examples]
    requests = [request_key(ex) for ex in examples]
    joined = [f"{q}\n{a}" for q, a in zip(requests, answers)]
    out = []
    for i, j in similar_pairs(joined, threshold):
        if (requests[i], answers[i]) == (requests[j], answers[j]):
            continue
        if ratio(answers[i], answers[j]) >= threshold and ratio(requests[i], requests[j]) >= threshold:
            out.append((j, i))
    return out


def dedupe(examples: list[Example], threshold: float) -> DedupeResult:
    """Remove exact duplicates, then near duplicates; the first occurrence of each is kept."""
    removed: list[tuple[str, Example, Example]] = []
    exact = dict(exact_duplicates(examples))
    for j, i in exact.items():
        removed.append(("exact duplicate", examples[j], examples[i]))
    unique = [ex for k, ex in enumerate(examples) if k not in exact]
    gone: set[int] = set()
    near = 0
    for j, i in sorted(near_duplicates(unique, threshold)):
        if i in gone or j in gone:
            continue  # i's twin is already gone: keep j unless another kept row matches it
        gone.add(j)
        near += 1
        removed.append(("near duplicate", unique[j], unique[i]))
    kept = [ex for k, ex in enumerate(unique) if k not in gone]
    return DedupeResult(kept, len(exact), near, removed)
