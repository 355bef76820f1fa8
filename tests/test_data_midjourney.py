"""The shared Midjourney CSV (real, messy data): inspect and prepare figures. Skips when absent."""
from __future__ import annotations

import csv

from tailorkit.config import build_config
from tailorkit.data.dedupe import answer_key, request_key
from tailorkit.data.example import read_examples
from tailorkit.data.inspect import inspect_data
from tailorkit.data.prepare import prepare


def config(tmp_path, tiny_model_dir, csv_path):
    return build_config({"model": {"base": str(tiny_model_dir)}, "data": {"source": str(csv_path)}}, root=tmp_path)


def test_inspect_midjourney(tmp_path, tiny_model_dir, midjourney_csv):
    report = inspect_data(config(tmp_path, tiny_model_dir, midjourney_csv))
    assert report.rows_read == 289 and report.columns == ["User", "Prompt"] and report.format == "columns"
    assert report.empty_requests == 1 and report.empty_answers == 0
    assert report.quoting_artifacts >= 174  # every """...""" User cell, plus quoted Prompt cells
    assert report.exact_duplicates >= 289 - 174  # at most 174 distinct pairs before cleaning
    assert report.shared_answers > 0  # several requests map to one prompt
    assert report.rows_after_cleaning <= 174
    assert not (tmp_path / "runs").exists()


def test_prepare_midjourney(tmp_path, tiny_model_dir, midjourney_csv):
    cfg = config(tmp_path, tiny_model_dir, midjourney_csv)
    res = prepare(cfg)
    assert res.rows_read == 289
    assert res.dropped["empty request"] == 1
    assert res.leakage_violations == []
    assert res.kept == sum(res.split_sizes.values()) == 289 - sum(res.dropped.values())
    sizes = res.split_sizes
    assert sizes["train"] > 0.7 * res.kept and 0 < sizes["test"] <= 0.15 * res.kept and 0 < sizes["val"]
    splits = {s: read_examples(cfg.run_dir / "data" / f"{s}.jsonl") for s in ("train", "val", "test")}
    # no normalised request and no normalised answer crosses splits
    for key in (request_key, answer_key):
        homes: dict[str, str] = {}
        for name, rows in splits.items():
            for ex in rows:
                assert homes.setdefault(key(ex), name) == name
    # every kept request is unquoted; the raw User cells were """-quoted
    assert not any(ex.user.startswith('"') for rows in splits.values() for ex in rows)
    with open(midjourney_csv, encoding="utf-8", newline="") as fh:
        raw = list(csv.DictReader(fh))
    assert sum(r["User"].startswith('"') for r in raw) == 174


# The near duplicates on main before near-duplicate search used LSH (all pairs compared): the same
# pairs must come out, as file lines (removed row, the row it duplicates).
MIDJOURNEY_NEAR_PAIRS = [(147, 129), (156, 143), (174, 25), (224, 26), (272, 51), (277, 17), (281, 146), (34, 29),
                         (59, 36)]


def test_midjourney_near_duplicates_are_the_pinned_pairs(tmp_path, tiny_model_dir, midjourney_csv):
    from tailorkit.data.clean import clean_examples
    from tailorkit.data.dedupe import dedupe
    from tailorkit.data.load import load

    cfg = config(tmp_path, tiny_model_dir, midjourney_csv)
    result = dedupe(clean_examples(load(midjourney_csv, cfg.data).examples).kept, 0.9)
    near = [(gone.meta["line"], twin.meta["line"]) for reason, gone, twin in result.removed if reason == "near duplicate"]
    assert sorted(near) == sorted(MIDJOURNEY_NEAR_PAIRS)
