"""Row overrides (data.overrides): prepare and inspect exclude or edit rows by file:line without
touching the source file; a changed source under an override is an error, not a silent mis-edit."""
from __future__ import annotations

import json

import pytest

from tailorkit.config import build_config
from tailorkit.data.inspect import inspect_data
from tailorkit.data.load import load_examples
from tailorkit.data.overrides import overrides_path, read_overrides, set_override
from tailorkit.data.prepare import prepare
from tailorkit.errors import DataError

ROWS = [(f"request number {i} about {w}", f"answer {i}: {w} in a long flowing style") for i, w in
        enumerate(["cats", "dogs", "ships", "trains", "clouds", "rivers", "lamps", "forests", "kites", "moons"])]


def _project(tmp_path, tiny_model_dir):
    csv = tmp_path / "data" / "train.csv"
    csv.parent.mkdir()
    csv.write_text("request,answer\n" + "".join(f"{u},{a}\n" for u, a in ROWS), encoding="utf-8")
    cfg = build_config({"model": {"base": str(tiny_model_dir)}, "data": {"source": "data/train.csv",
                        "val_fraction": 0.2, "test_fraction": 0.2}, "train": {"run_name": "r"}}, root=tmp_path)
    return cfg, csv


def _all_rows(cfg):
    return [json.loads(line) for split in ("train", "val", "test")
            for line in (cfg.run_dir / "data" / f"{split}.jsonl").read_text().splitlines()]


def test_prepare_applies_exclusions_and_edits_and_leaves_the_source_alone(tmp_path, tiny_model_dir):
    cfg, csv = _project(tmp_path, tiny_model_dir)
    before = csv.read_bytes()
    rows = load_examples(csv, cfg.data)
    path = overrides_path(cfg)
    set_override(path, rows[0], "exclude")
    set_override(path, rows[1], "edit", user="a brand new request", assistant="a brand new answer")
    assert path == tmp_path / "data" / "overrides.jsonl" and len(read_overrides(path)) == 2
    result = prepare(cfg)
    assert result.overrides == {"excluded": 1, "edited": 1} and result.kept == 9
    texts = [m["content"] for r in _all_rows(cfg) for m in r["messages"]]
    assert ROWS[0][0] not in texts and ROWS[1][0] not in texts
    assert "a brand new request" in texts and "a brand new answer" in texts
    assert csv.read_bytes() == before
    report = inspect_data(cfg, tokens=False)
    assert report.overrides == {"excluded": 1, "edited": 1} and report.rows_after_cleaning == 9
    # removing the override brings the row back
    set_override(path, rows[0], None)
    assert prepare(cfg).overrides == {"excluded": 0, "edited": 1}


def test_an_override_whose_row_changed_in_the_source_is_an_error(tmp_path, tiny_model_dir):
    cfg, csv = _project(tmp_path, tiny_model_dir)
    set_override(overrides_path(cfg), load_examples(csv, cfg.data)[2], "exclude")
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0], "a different row now,its answer", *lines[1:]]) + "\n")
    with pytest.raises(DataError, match=r"train\.csv:4 is no longer the one.*Fix: delete the line"):
        prepare(cfg)
    assert not (cfg.run_dir / "data").exists()  # nothing written


def test_bad_override_lines_and_empty_edits_are_refused(tmp_path, tiny_model_dir):
    cfg, csv = _project(tmp_path, tiny_model_dir)
    path = overrides_path(cfg)
    with pytest.raises(DataError, match="needs both a request and an answer"):
        set_override(path, load_examples(csv, cfg.data)[0], "edit", user="x", assistant="  ")
    assert not path.exists()
    path.write_text('{"where": "train.csv:2", "action": "shred"}\n')
    with pytest.raises(DataError, match=r"overrides\.jsonl:1: an override needs"):
        prepare(cfg)
