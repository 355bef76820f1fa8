"""The data stage at scale and with one huge cell: near-duplicate search grows about linearly and
finds what comparing all pairs finds; a 5 MB answer neither hangs inspect nor prepare and is reported
with its file:line; a CSV cell over 128 KiB reads."""
from __future__ import annotations

import csv
import json

import pytest
from mj_rows import make_rows

from tailorkit.config import build_config
from tailorkit.data import similar
from tailorkit.data.dedupe import normalize
from tailorkit.data.inspect import inspect_data
from tailorkit.data.prepare import prepare
from tailorkit.data.readers import read_records


def test_lsh_finds_what_all_pairs_find():
    texts = [normalize(answer) for _, answer in make_rows(2000, seed=3)]
    for threshold in (0.9, 0.8):
        every = set(similar._all_pairs(texts, threshold))
        lsh = set(similar._lsh_pairs(texts, threshold, "test"))
        assert len(every) > 50  # the generator injects near duplicates
        assert lsh <= every  # every candidate is checked with the exact ratio
        assert len(every - lsh) <= len(every) // 100, sorted(every - lsh)[:5]


@pytest.mark.timeout(60)  # comparing all 2e8 pairs (main before LSH) takes minutes
def test_similar_pairs_on_20k_rows_is_fast_and_finds_the_injected_copies():
    rows = make_rows(20_000, seed=1)
    texts = [normalize(answer) for _, answer in rows]
    assert sum(map(len, texts)) > similar.EXHAUSTIVE_CHARS  # the LSH path
    pairs = similar.similar_pairs(texts, 0.9)
    assert all(i < j for i, j in pairs) and len(set(pairs)) == len(pairs)
    # about 5% of the rows are exact or near copies of an earlier row
    linked = {j for _, j in pairs}
    assert 0.03 * len(texts) < len(linked) < 0.08 * len(texts)


def test_identical_texts_link_to_their_first_copy_only():
    texts = ["a red fox at dawn"] * 4 + ["a red fox at dusk", "something else entirely"]
    assert similar.similar_pairs(texts, 0.8) == [(0, 1), (0, 2), (0, 3), (0, 4)]


def config(tmp_path, tiny_model_dir, source, **data):
    return build_config({"model": {"base": str(tiny_model_dir)}, "data": {"source": str(source), **data}},
                        root=tmp_path)


def _rows_file(tmp_path, n=40):
    lines = [json.dumps({"prompt": f"request number {i} about {w}", "completion": f"answer {i}: {w} " * 3})
             for i, w in enumerate(["cats", "dogs", "owls", "foxes"] * (n // 4))]
    return lines


@pytest.mark.timeout(120)  # main: cdist of the 5 MB row against itself never returns
def test_a_5mb_answer_is_reported_not_hung(tmp_path, tiny_model_dir):
    lines = _rows_file(tmp_path)
    lines.insert(7, json.dumps({"prompt": "summarise the archive", "completion": "lorem ipsum dolor " * 300_000}))
    src = tmp_path / "rows.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = config(tmp_path, tiny_model_dir, src, max_length=128)
    report = inspect_data(cfg)
    huge = [p for p in report.problems if p["where"] == f"{src.name}:8"]
    assert huge and "far beyond data.max_length=128" in huge[0]["problem"]
    assert "answer is 5,399,999 characters" in huge[0]["problem"]  # cleaning drops the trailing space
    result = prepare(cfg)
    assert [p["where"] for p in result.problems] == [f"{src.name}:8"]
    assert "far beyond" in json.loads((cfg.run_dir / "prepare.json").read_text())["problems"][0]["problem"]


def test_a_row_too_long_for_fuzzy_matching_says_so(tmp_path, tiny_model_dir):
    lines = _rows_file(tmp_path)
    lines.append(json.dumps({"prompt": "a long one", "completion": "word " * 5_000}))  # 25,000 characters
    src = tmp_path / "rows.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = inspect_data(config(tmp_path, tiny_model_dir, src, max_length=4096), tokens=False)
    assert any(p["where"] == f"{src.name}:{len(lines)}" and "exact duplicates only" in p["problem"]
               for p in report.problems)


def test_csv_cell_over_128_kib_reads_and_the_limit_is_restored(tmp_path):
    big = "x" * 300_000
    src = tmp_path / "big.csv"
    with src.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["request", "answer"])
        w.writerow(["short", big])
        w.writerow(["next", "fine"])
    limit = csv.field_size_limit()
    recs = read_records(src)
    assert [len(r["answer"]) for r in recs.rows] == [300_000, 4] and recs.numbers == [2, 3]
    assert csv.field_size_limit() == limit


def test_an_unclosed_quote_still_names_its_line_and_column(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text('request,answer\nok,"fine"\nsecond,"never closed\nthird,x\n', encoding="utf-8")
    from tailorkit.errors import DataError

    with pytest.raises(DataError, match=r"bad.csv:3:answer: a quoted field"):
        read_records(src)
