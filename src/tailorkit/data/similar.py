"""Near-duplicate pairs of texts (rapidfuzz ratio >= threshold) in about linear time.

Small inputs (up to EXHAUSTIVE_CHARS characters in all: the shared Midjourney CSV, about a thousand
Midjourney-sized rows) compare every pair with rapidfuzz's cdist, exactly as before. Larger ones first propose
candidate pairs with MinHash LSH over character 5-grams (96 hash functions; 16 bands of 6 rows at
the default threshold 0.9, wider bands below), then check every candidate with the exact ratio, so
a reported pair always reaches the threshold; a pair that reaches it is missed only when no band
proposed it. Measured against all pairs on 10,000 generated Midjourney-like prompts: 519 of 519
pairs at 0.9 and 520 of 521 at 0.8 found, about one candidate per row
(benchmarks/bench_data_scale.py makes the rows).

The MinHash is written here in numpy rather than taken from datasketch: datasketch hashes every
shingle in a Python loop and inserts band by band in Python (about 80 s for 20,000 rows on this
machine), while one vectorised pass over all 5-grams of a block of rows costs about a second for
10,000 rows.

Identical texts are linked to their first occurrence only (that keeps the groups a split needs
without listing k*k pairs for k copies). Texts longer than MAX_FUZZY_CHARS are never fuzzy-matched:
comparing a 5 MB cell with itself alone takes minutes; `inspect` and `prepare` report such cells.
"""
from __future__ import annotations

import numpy as np

from ..progress import subtask

EXHAUSTIVE_CHARS = 300_000  # all pairs below this many characters in all: about a second
MAX_FUZZY_CHARS = 20_000  # longer texts take part in exact matching only
Q = 5  # characters per shingle
PERMS = 96  # hash functions per signature
_BLOCK = 1024  # rows per cdist block: bounds memory at BLOCK x n bytes
_CHUNK = 8192  # rows per signature block: bounds memory at ~100 MB
_VERIFY = 262_144  # candidate pairs checked per cpdist call
_U32 = np.uint32
_U64 = np.uint64


def similar_pairs(texts: list[str], threshold: float, *, description: str = "near duplicates") -> list[tuple[int, int]]:
    """Pairs (i < j) whose rapidfuzz ratio / 100 reaches threshold, sorted (identical texts: see module doc)."""
    first: dict[str, int] = {}
    pairs: list[tuple[int, int]] = []
    fuzzy: list[int] = []
    for i, text in enumerate(texts):
        j = first.setdefault(text, i)
        if j != i:
            pairs.append((j, i))
        elif len(text) <= MAX_FUZZY_CHARS:
            fuzzy.append(i)
    sub = [texts[i] for i in fuzzy]
    if sum(map(len, sub)) <= EXHAUSTIVE_CHARS:
        found = _all_pairs(sub, threshold)
    else:
        found = _lsh_pairs(sub, threshold, description)
    pairs.extend((fuzzy[a], fuzzy[b]) for a, b in found)
    return sorted(pairs)


def _all_pairs(texts: list[str], threshold: float) -> list[tuple[int, int]]:
    from rapidfuzz import fuzz, process

    n = len(texts)
    pairs: list[tuple[int, int]] = []
    for start in range(0, n, _BLOCK):
        # uint8 scores hold 0-100 and keep memory at one byte per pair; cutoff zeroes the rest.
        scores = process.cdist(texts[start:start + _BLOCK], texts[start:], scorer=fuzz.ratio,
                               score_cutoff=threshold * 100, dtype=np.uint8, workers=-1)
        rows, cols = np.nonzero(scores)
        keep = rows < cols
        pairs.extend(zip((start + rows[keep]).tolist(), (start + cols[keep]).tolist()))
    return pairs


def bands_for(threshold: float) -> tuple[int, int]:
    """(bands, rows per band): narrower bands propose more candidates, for lower thresholds."""
    rows = 6 if threshold >= 0.85 else 4 if threshold >= 0.7 else 3
    return PERMS // rows, rows


def _lsh_pairs(texts: list[str], threshold: float, description: str) -> list[tuple[int, int]]:
    from rapidfuzz import fuzz, process

    n = len(texts)
    bands, rows = bands_for(threshold)
    rng = np.random.default_rng(20240917)  # fixed: the same data always gives the same pairs
    xor = rng.integers(0, 2**32, size=PERMS, dtype=np.uint64).astype(_U32)
    mul = (rng.integers(0, 2**31, size=PERMS, dtype=np.uint64).astype(_U32) << _U32(1)) | _U32(1)
    sig = np.empty((n, bands * rows), dtype=_U32)
    with subtask(description, total=2 * n) as advance:
        for start in range(0, n, _CHUNK):
            block = texts[start:start + _CHUNK]
            sig[start:start + len(block)] = _signatures(block, xor, mul)
            advance(len(block))
        codes = _candidates(sig, bands, rows)
        left, right = codes // n, codes % n
        out: list[tuple[int, int]] = []
        done = 0
        for s in range(0, len(codes), _VERIFY):
            a, b = left[s:s + _VERIFY], right[s:s + _VERIFY]
            scores = process.cpdist([texts[i] for i in a.tolist()], [texts[j] for j in b.tolist()],
                                    scorer=fuzz.ratio, score_cutoff=threshold * 100, dtype=np.uint8, workers=-1)
            hit = np.nonzero(scores)[0]
            out.extend(zip(a[hit].tolist(), b[hit].tolist()))
            step = int(n * min(s + _VERIFY, len(codes)) / max(len(codes), 1)) - done
            advance(step)
            done += step
        advance(n - done)
    return out


def _signatures(texts: list[str], xor: np.ndarray, mul: np.ndarray) -> np.ndarray:
    """MinHash signatures (len(texts), PERMS) of the character 5-gram sets, in one vectorised pass."""
    padded = [t if len(t) >= Q else t.ljust(Q, "\0") for t in texts]  # a short text is one shingle
    lens = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
    codes = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=_U32).astype(_U64)
    span = len(codes) - Q + 1
    h = codes[:span].copy()
    for k in range(1, Q):  # polynomial hash of each window of Q code points
        h *= _U64(0x100000001B3)
        h += codes[k:span + k]
    # windows that cross into the next text are dropped; what is left is ordered by text
    ends = np.cumsum(lens)
    row = np.repeat(np.arange(len(padded)), lens)[:span]
    h = h[np.arange(span) + Q <= ends[row]]
    h ^= h >> _U64(31)  # splitmix64 finaliser: spread the polynomial hash over all bits
    h *= _U64(0xBF58476D1CE4E5B9)
    h ^= h >> _U64(27)
    h *= _U64(0x94D049BB133111EB)
    h ^= h >> _U64(31)
    h32 = (h >> _U64(32)).astype(_U32)
    bounds = np.concatenate([[0], np.cumsum(lens - Q + 1)[:-1]])
    out = np.empty((len(padded), len(xor)), dtype=_U32)
    tmp = np.empty_like(h32)
    for p in range(len(xor)):
        np.bitwise_xor(h32, xor[p], out=tmp)
        np.multiply(tmp, mul[p], out=tmp)  # an odd multiplier: a permutation of the 32-bit values
        out[:, p] = np.minimum.reduceat(tmp, bounds)
    return out


def _candidates(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Codes i * n + j (i < j, unique) of rows that agree on every value of at least one band."""
    n = len(sig)
    found: list[np.ndarray] = []
    for b in range(bands):
        key = np.zeros(n, dtype=_U64)
        for k in range(b * rows, (b + 1) * rows):
            key = key * _U64(0x9E3779B97F4A7C15) + sig[:, k]
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        sizes = np.diff(np.r_[starts, n])
        for size in np.unique(sizes[sizes > 1]).tolist():
            members = order[starts[sizes == size][:, None] + np.arange(size)]  # one row per bucket
            members.sort(axis=1)
            i, j = np.triu_indices(size, 1)
            found.append((members[:, i] * n + members[:, j]).ravel())
    if not found:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(found))
