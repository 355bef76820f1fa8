"""Cleaning (quoting artifacts, whitespace, empty sides) and exact / near-duplicate removal."""
from __future__ import annotations

import pytest

from tailorkit.data.clean import clean_examples, clean_text, strip_quoting
from tailorkit.data.dedupe import dedupe, normalize
from tailorkit.data.example import Example


@pytest.mark.parametrize("raw,clean,fixed", [
    ('"""midjourney prompt for a cat"""', "midjourney prompt for a cat", True),
    ('"midjourney prompt for a cat"', "midjourney prompt for a cat", True),
    ('"a ""quoted"" word"', 'a "quoted" word', True),
    ('Intricate typography, the words "OXYDE NOIR" in wire', 'Intricate typography, the words "OXYDE NOIR" in wire', False),
    ('"Hi" she said, "bye"', '"Hi" she said, "bye"', False),
    ('Attack on Titan "Beast Titan" --ar 4:3"', 'Attack on Titan "Beast Titan" --ar 4:3"', False),
    ('print("")', 'print("")', False),
])
def test_strip_quoting(raw, clean, fixed):
    assert strip_quoting(raw) == (clean, fixed)


def test_whitespace_is_normalised_but_intentional_newlines_stay():
    raw = "  Step 1:\tmix   flour\r\n\r\n\r\n\r\nStep 2:  bake  \u00a0 it  \n"
    assert clean_text(raw) == ("Step 1: mix flour\n\nStep 2: bake it", False)
    assert clean_text("cafe\u0301")[0] == "caf\u00e9"  # NFC


def test_content_is_not_rewritten():
    # parameter spellings are content: only quoting and whitespace change
    assert clean_text('"""a castle —ar 16:9 --w 1024"""')[0] == "a castle —ar 16:9 --w 1024"


def test_empty_sides_are_dropped_and_counted():
    rows = [Example.simple('"""q1"""', "a1", source="f.csv", line=2),
            Example.simple("   ", "a2", source="f.csv", line=3),
            Example.simple('""', "a3", source="f.csv", line=4),
            Example.simple("q4", " \n ", source="f.csv", line=5),
            Example.simple("q5", "a5", system="  ", source="f.csv", line=6)]
    res = clean_examples(rows)
    assert [(e.user, e.assistant) for e in res.kept] == [("q1", "a1"), ("q5", "a5")]
    assert res.kept[1].system is None  # an all-blank system prompt is removed, not kept empty
    assert res.dropped == {"empty request": 2, "empty answer": 1}
    assert res.dropped_rows[0] == ("f.csv:3", "empty request")
    assert res.quoting_fixed == 2


def test_normalize_key():
    assert normalize("  Hello,   WORLD!! ") == normalize("\"hello, world.\"") == "hello, world"


def test_exact_duplicates_after_normalisation():
    rows = [Example.simple("Make a cat", "A cat, 8k."), Example.simple("make a  cat!", "a cat, 8k"),
            Example.simple("make a cat", "a dog"), Example.simple("Make a cat", "A cat, 8k.")]
    res = dedupe(rows, threshold=0.9)
    assert [e.assistant for e in res.kept] == ["A cat, 8k.", "a dog"]
    assert res.exact_removed == 2 and res.near_removed == 0
    assert res.dropped == {"exact duplicate": 2}


def test_near_duplicates_need_both_sides_similar():
    answer = "portrait of a viking warrior with a black iron amulet, matte painting, unreal engine --ar 16:9"
    rows = [Example.simple("midjourney prompt for a viking warrior", answer),
            Example.simple("midjourney prompt for a viking warriors", answer + " 8k"),  # both similar: near dup
            Example.simple("write a haiku about the sea", answer + " hd"),  # answer similar, request not
            Example.simple("midjourney prompt for a viking warrior", "a kitten")]  # request same, answer not
    res = dedupe(rows, threshold=0.9)
    assert res.near_removed == 1 and res.exact_removed == 0
    assert [e.user for e in res.kept] == [rows[0].user, rows[2].user, rows[3].user]
    reason, gone, twin = res.removed[0]
    assert reason == "near duplicate" and gone is rows[1] and twin is rows[0]


def test_dedupe_is_fast_enough_for_thousands(tmp_path):
    import random
    import time

    rnd = random.Random(0)
    words = "castle dragon neon city portrait matte painting cinematic 8k octane render forest night".split()
    rows = [Example.simple(" ".join(rnd.choices(words, k=8)), " ".join(rnd.choices(words, k=30)))
            for _ in range(2000)]
    start = time.perf_counter()
    res = dedupe(rows, threshold=0.9)
    assert len(res.kept) + res.exact_removed + res.near_removed == 2000
    assert time.perf_counter() - start < 30  # generous: a shared 2-core machine
