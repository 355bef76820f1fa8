"""Leakage-free split: no normalised request or answer crosses splits; fractions and determinism."""
from __future__ import annotations

import random

import pytest

from tailorkit.data.dedupe import answer_key, request_key
from tailorkit.data.example import Example
from tailorkit.data.split import check_leakage, group_rows, split_examples


def random_rows(seed: int, n: int) -> list[Example]:
    """Rows drawn from small pools of requests and answers, so many share one or the other."""
    rnd = random.Random(seed)
    n_req, n_ans = rnd.randint(n // 2, 2 * n), rnd.randint(n // 2, 2 * n)
    requests = [f"request number {i} about {rnd.choice(['cats', 'ships', 'tea'])}" for i in range(n_req)]
    answers = [f"answer {i}: " + " ".join(rnd.choices("abcdefgh", k=12)) for i in range(n_ans)]
    rows = []
    for _ in range(n):
        q, a = rnd.choice(requests), rnd.choice(answers)
        # formatting noise must not let a duplicate slip across splits
        q = rnd.choice([q, q.upper(), f"  {q}!", q.replace(" ", "  ")])
        a = rnd.choice([a, a.title(), f"{a}.", f'"{a}"'])
        rows.append(Example.simple(q, a))
    return rows


@pytest.mark.parametrize("seed", range(25))
def test_no_request_or_answer_crosses_splits(seed):
    rows = random_rows(seed, 120)
    res = split_examples(rows, val_fraction=0.1, test_fraction=0.2, seed=seed, threshold=0.9)
    assert len(res.train) + len(res.val) + len(res.test) == len(rows)
    assert res.train and res.test  # the pools are sized so that the split is never trivial
    where = {}
    for name, part in res.as_dict().items():
        for ex in part:
            assert ex.meta["split"] == name
            for key in (("q", request_key(ex)), ("a", answer_key(ex))):
                assert where.setdefault(key, name) == name, f"{key} in {where[key]} and {name}"
    assert check_leakage(res.as_dict()) == []


def test_near_duplicate_answers_share_a_split():
    base = "portrait of a girl on roller skates, neon city at night, cinematic lighting, 8k --ar 16:9"
    rows = [Example.simple(f"request {i}", base + (" hd" if i % 2 else "")) for i in range(6)]
    rows += [Example.simple(f"other {i}", f"completely different answer {i} " * 3) for i in range(20)]
    groups = group_rows(rows, threshold=0.9)
    assert sorted(range(6)) in [sorted(g) for g in groups]
    res = split_examples(rows, val_fraction=0.2, test_fraction=0.2, seed=1, threshold=0.9)
    homes = {ex.meta["split"] for part in res.as_dict().values() for ex in part if ex.user.startswith("request")}
    assert len(homes) == 1


def test_fractions_are_hit_with_singletons_and_split_is_deterministic():
    rows = [Example.simple(f"q{i}", f"a{i}") for i in range(200)]
    a = split_examples(rows, val_fraction=0.1, test_fraction=0.15, seed=7, threshold=0.9)
    b = split_examples(rows, val_fraction=0.1, test_fraction=0.15, seed=7, threshold=0.9)
    c = split_examples(rows, val_fraction=0.1, test_fraction=0.15, seed=8, threshold=0.9)
    assert (len(a.train), len(a.val), len(a.test)) == (150, 20, 30)
    assert [e.user for e in a.test] == [e.user for e in b.test]
    assert [e.user for e in a.test] != [e.user for e in c.test]


def test_test_split_gets_a_row_when_groups_allow():
    rows = [Example.simple(f"q{i}", f"a{i}") for i in range(4)]
    res = split_examples(rows, val_fraction=0.1, test_fraction=0.1, seed=0, threshold=0.9)
    assert len(res.test) >= 1 and len(res.val) >= 1 and len(res.train) >= 1
    none = split_examples(rows, val_fraction=0.0, test_fraction=0.0, seed=0, threshold=0.9)
    assert (len(none.train), len(none.val), len(none.test)) == (4, 0, 0)


def test_check_leakage_reports_violations():
    splits = {"train": [Example.simple("Same request", "a1")], "val": [], "test": [Example.simple("same request!", "a2")]}
    (violation,) = check_leakage(splits)
    assert "same request" in violation and "test" in violation and "train" in violation
