"""A trained run keeps its splits: prepare refuses to change them (unless --force, which sets the
adapter and checkpoints aside), and compare refuses a test split holding rows that were trained on."""
from __future__ import annotations

import json

import pytest

from tailorkit.cli import main
from tailorkit.data.example import read_examples, write_examples
from tailorkit.data.trained import RECORD, row_hash
from test_data_cli import GOOD_CSV, project


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    return err[0]


def test_prepare_after_train_refuses_new_splits_and_force_sets_outputs_aside(tmp_path, tiny_model_dir, capsys):
    cfg = str(project(tmp_path, tiny_model_dir, GOOD_CSV, max_length=128))
    data = tmp_path / "runs" / "default" / "data"
    assert main(["data", "prepare", "-c", cfg, "--test-fraction", "0.2"]) == 0
    assert main(["train", "-c", cfg, "--max-steps", "1"]) == 0
    run = data.parent
    trained = read_examples(data / "train.jsonl")
    record = json.loads((run / RECORD).read_text())
    assert record["rows"] == len(trained) and set(record["hashes"]) == {row_hash(ex) for ex in trained}
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    capsys.readouterr()

    # Other fractions would move training rows into the test split: refused, nothing changed.
    assert main(["data", "prepare", "-c", cfg, "--test-fraction", "0.4"]) == 2
    line = _err_line(capsys)
    assert "has been trained" in line and "--force" in line and "new run name" in line
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before
    # The same splits again are fine (a rerun of `tailor run`).
    assert main(["data", "prepare", "-c", cfg, "--test-fraction", "0.2"]) == 0
    assert (run / "adapter").is_dir()

    # --force: new splits, and the adapter, checkpoints and record are moved aside, not deleted.
    assert main(["data", "prepare", "-c", cfg, "--test-fraction", "0.4", "--force"]) == 0
    assert "moved to" in " ".join(capsys.readouterr().out.split())
    assert not (run / "adapter").exists() and not (run / "checkpoints").exists() and not (run / RECORD).exists()
    (aside,) = (run / "superseded").iterdir()
    assert (aside / "adapter").is_dir() and (aside / RECORD).exists()
    assert len(read_examples(data / "test.jsonl")) > before["test.jsonl"].count(b"\n") == 4


def test_compare_refuses_a_test_split_with_trained_rows(tmp_path, tiny_model_dir, capsys):
    cfg = str(project(tmp_path, tiny_model_dir, GOOD_CSV, max_length=128))
    data = tmp_path / "runs" / "default" / "data"
    assert main(["data", "prepare", "-c", cfg, "--test-fraction", "0.2"]) == 0
    assert main(["train", "-c", cfg, "--max-steps", "1"]) == 0
    # The splits are swapped behind the tool's back (an old run, a hand edit): a trained row is now a test row.
    test = read_examples(data / "test.jsonl")
    write_examples(data / "test.jsonl", test + [read_examples(data / "train.jsonl")[0]])
    capsys.readouterr()
    assert main(["compare", "-c", cfg]) == 2
    line = _err_line(capsys)
    assert f"test.jsonl:{len(test) + 1}" in line and "1 of" in line and "trained on" in line
    assert not (data.parent / "compare.json").exists()
