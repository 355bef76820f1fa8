"""Parsing teacher replies, the filters every recipe applies, and reading recipe sources."""
from __future__ import annotations

import json

import pytest

from tailorkit.config.synth import SynthConfig
from tailorkit.errors import DataError
from tailorkit.synth.filters import check_text, duplicate_flags, is_refusal, overlap, rouge_l
from tailorkit.synth.journal import Journal, read_journal
from tailorkit.synth.parse import parse_list, parse_pair, parse_pick, parse_score
from tailorkit.synth.sources import read_outputs


@pytest.mark.parametrize("reply, expected", [
    ('{"score": 4, "reason": "clear"}', (4, "clear")),
    ('```json\n{"score": 2, "reason": "off topic"}\n```', (2, "off topic")),
    ('Here is my rating:\n{"rating": "5", "explanation": "great"} Hope it helps.', (5, "great")),
    ("4", (4, "")),
    ("3/5 - fine but vague", (3, "fine but vague")),
    ("Score: 2. The answer ignores the request.", (2, "The answer ignores the request")),
    ("**Rating: 5**", (5, "")),
])
def test_parse_score_accepts_the_shapes_judges_reply_in(reply, expected):
    assert parse_score(reply) == expected


@pytest.mark.parametrize("reply", ["I like it", '{"score": 9}', "12 apples", ""])
def test_parse_score_rejects_what_holds_no_score(reply):
    assert parse_score(reply) is None


def test_parse_list_json_fenced_prose_and_numbered_lines():
    assert parse_list('["a cat", "a dog"]') == ["a cat", "a dog"]
    assert parse_list('Sure!\n```json\n["one", "two"]\n```') == ["one", "two"]
    assert parse_list('{"requests": [{"request": "x y"}, {"request": "z"}]}') == ["x y", "z"]
    assert parse_list('1. "draw a fox"\n2) Request: paint a cabin\n- a third one') == \
        ["draw a fox", "paint a cabin", "a third one"]
    assert parse_list("no list here") is None


def test_parse_pick_and_pair():
    assert parse_pick('The best one is {"best": 2}.', 3) == 1
    assert parse_pick("I'd go with 3", 3) == 2
    assert parse_pick("none of them", 3) is None
    assert parse_pick('{"best": 7}', 3) is None
    assert parse_pair('{"request": "q", "answer": "a"}') == ("q", "a")
    assert parse_pair('```json\n{"instruction": "q", "output": "a"}\n```') == ("q", "a")
    assert parse_pair("Request: write a haiku\nAnswer: leaves fall") == ("write a haiku", "leaves fall")
    assert parse_pair("just text") is None


def test_filters_refusals_truncation_and_length_bounds():
    cfg = SynthConfig(min_chars=5, max_chars=40)
    assert check_text("I'm sorry, but I can't do that.", "stop", cfg) == "refusal"
    assert check_text("As an AI language model, I cannot", "stop", cfg) == "refusal"
    assert check_text("a fine request about cats", "length", cfg) == "truncated"
    assert check_text("   ", "stop", cfg) == "empty"
    assert check_text("cat", "stop", cfg) == "too_short"
    assert check_text("x" * 41, "stop", cfg) == "too_long"
    assert check_text("draw a cat in the rain", "stop", cfg) is None
    assert not is_refusal("a poster that says I'm sorry in neon", ["as an ai"])


def test_leakage_guard_measures_copied_word_pairs_not_shared_topic_words():
    output = "Norse amulet made from black iron with a carbon fiber necklace, matte painting, Unreal Engine"
    fair = "midjourney prompt for a Viking warrior with a black iron amulet"
    leaking = "write a prompt: Norse amulet made from black iron with a carbon fiber necklace"
    assert overlap(fair, output) < 0.2
    assert overlap(leaking, output) > 0.5


def test_duplicates_and_rouge():
    texts = ["A cat on a mat.", "a cat on a mat", "A cat on a mat!!", "a cat sat on the mat today",
             "completely different text here"]
    assert duplicate_flags(texts, 0.9) == [None, "duplicate", "duplicate", None, None]
    assert duplicate_flags(["the quick brown fox jumps over the lazy dog",
                            "the quick brown fox jumps over the lazy dogs"], 0.9) == [None, "near_duplicate"]
    # Near duplicates are judged against KEPT rows only: c is close to the dropped b but not to a.
    a = "aaaaaaaaaa bbbbbbbbbb cccccccccc"
    b = a + " dddd"                 # ratio to a: 0.93
    c = a + " dddd eeee"            # ratio to b: 0.94, to a: 0.86
    assert duplicate_flags([a, b, c], 0.9) == [None, "near_duplicate", None]
    assert rouge_l("write a poem about the sea", "write a poem about the sea") == 1.0
    assert rouge_l("write a poem about the sea", "list three prime numbers") == 0.0


def test_sources_text_blocks_csv_column_and_jsonl(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("first output\nsecond output\n\n", encoding="utf-8")
    assert [r.text for r in read_outputs(lines)] == ["first output", "second output"]
    blocks = tmp_path / "blocks.txt"
    blocks.write_text("line one\nline two\n\nother block\n", encoding="utf-8")
    rows = read_outputs(blocks)
    assert [r.text for r in rows] == ["line one\nline two", "other block"]
    assert rows[1].ref["line"] == 4
    csv_file = tmp_path / "t.csv"
    csv_file.write_text('User,Prompt\nq1,"""a quoted prompt"""\nq2,"multi\nline"\n', encoding="utf-8")
    assert [r.text for r in read_outputs(csv_file, "Prompt")] == ["a quoted prompt", "multi\nline"]
    with pytest.raises(DataError, match="did you mean --column Prompt"):
        read_outputs(csv_file, "prompt")
    with pytest.raises(DataError, match="--column"):
        read_outputs(csv_file)
    jl = tmp_path / "t.jsonl"
    jl.write_text(json.dumps({"out": "x1", "n": 1}) + "\n" + json.dumps("x2") + "\n", encoding="utf-8")
    assert [r.text for r in read_outputs(jl)] == ["x1", "x2"]


def test_journal_cuts_a_torn_line_and_keeps_the_last_record_per_row(tmp_path):
    path = tmp_path / ".out.journal"
    j = Journal(path, "sig")
    j.append({"id": "a", "status": "error", "reason": "500"})
    j.append({"id": "a", "status": "kept"})
    j.append({"id": "b", "status": "kept"})
    j.close()
    with path.open("ab") as fh:
        fh.write(b'{"id": "c", "sta')  # a crash in mid-write
    j = Journal(path, "sig")
    assert j.done == {"a", "b"}
    j.append({"id": "c", "status": "dropped"})
    j.close()
    assert set(read_journal(path, "sig")) == {"a", "b", "c"}
    assert read_journal(path, "other settings") == {}
