"""Leakage-free train/val/test split.

Rows that share a normalised request, a normalised answer, or a near-duplicate answer are joined
into one group (union-find), and whole groups go to one split. So no request and no answer is
ever seen in training and then again in a held-out split, where its score would be a lie.
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

from .dedupe import answer_key, normalize, request_key, similar_pairs
from .example import Example

SPLITS = ("train", "val", "test")


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]  # path halving
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_rows(examples: list[Example], threshold: float) -> list[list[int]]:
    """Groups of row indices that must stay in one split, in order of their first row."""
    uf = _UnionFind(len(examples))
    owner: dict[tuple[str, str], int] = {}
    answers = []
    for i, ex in enumerate(examples):
        a = answer_key(ex)
        answers.append(a)
        for key in (("q", request_key(ex)), ("a", a)):
            if key in owner:
                uf.union(owner[key], i)
            else:
                owner[key] = i
    if threshold < 1.0:
        for i, j in similar_pairs(answers, threshold):
            uf.union(i, j)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(examples)):
        groups[uf.find(i)].append(i)
    return sorted(groups.values(), key=lambda g: g[0])


@dataclass
class SplitResult:
    train: list[Example]
    val: list[Example]
    test: list[Example]
    n_groups: int

    def as_dict(self) -> dict[str, list[Example]]:
        return {"train": self.train, "val": self.val, "test": self.test}


def split_examples(examples: list[Example], *, val_fraction: float, test_fraction: float, seed: int,
                   threshold: float) -> SplitResult:
    """Assign whole groups to splits, deterministically for a seed, as close to the fractions as groups allow.

    Groups are visited in a seeded shuffle; a group goes to test (then val) while it still fits
    the target count, otherwise to train. When test_fraction > 0 and there are at least 3 groups,
    test gets at least one group (the smallest in train); val too, unless that group is more than
    twice val's target.
    """
    groups = group_rows(examples, threshold)
    order = list(range(len(groups)))
    random.Random(seed).shuffle(order)
    n = len(examples)
    target = {"test": round(n * test_fraction), "val": round(n * val_fraction)}
    assigned: dict[str, list[int]] = {s: [] for s in SPLITS}
    count = {s: 0 for s in SPLITS}
    for g in order:
        size = len(groups[g])
        dest = next((s for s in ("test", "val") if count[s] + size <= target[s]), "train")
        assigned[dest].append(g)
        count[dest] += size
    for name, frac in (("test", test_fraction), ("val", val_fraction)):
        if frac > 0 and not assigned[name] and len(groups) >= 3 and len(assigned["train"]) > 1:
            smallest = min(assigned["train"], key=lambda g: (len(groups[g]), order.index(g)))
            # test always gets a row (compare needs one); val only if that does not distort it badly
            if name == "test" or len(groups[smallest]) <= max(1, 2 * target[name]):
                assigned["train"].remove(smallest)
                assigned[name].append(smallest)
    out: dict[str, list[Example]] = {}
    for name in SPLITS:
        rows = sorted(i for g in assigned[name] for i in groups[g])  # keep source order inside a split
        out[name] = []
        for i in rows:
            ex = Example(messages=examples[i].messages, meta={**examples[i].meta, "split": name})
            out[name].append(ex)
    return SplitResult(out["train"], out["val"], out["test"], len(groups))


def check_leakage(splits: dict[str, list[Example]]) -> list[str]:
    """Violations: a normalised request or answer that appears in more than one split."""
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name, rows in splits.items():
        for ex in rows:
            seen[("request", request_key(ex))].add(name)
            seen[("answer", answer_key(ex))].add(name)
    out = []
    for (kind, key), names in seen.items():
        if len(names) > 1:
            short = key if len(key) <= 60 else key[:57] + "..."
            out.append(f"{kind} '{short}' is in {' and '.join(sorted(names))}")
    return sorted(out)


__all__ = ["SPLITS", "SplitResult", "check_leakage", "group_rows", "normalize", "split_examples"]
