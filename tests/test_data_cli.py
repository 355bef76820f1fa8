"""`tailor data inspect|prepare` through tailorkit.cli.main: happy path and every bad input.

Bad input: exit code 2, one stderr line naming file:line (or row) and the fix, no traceback,
and nothing written under the run directory.
"""
from __future__ import annotations

import json

import pytest
import yaml

from tailorkit.cli import main
from tailorkit.data.example import read_examples
from tailorkit.data.split import check_leakage

NOUNS = ("owl", "tram", "viking", "castle", "robot", "kitten", "dragon", "lighthouse", "mecha", "tower",
         "forest", "spaceship", "geisha", "pirate ship", "chess set", "mandala", "unicorn", "skull", "jellyfish")
GOOD_CSV = "".join(
    ['User,Prompt\n', '"""midjourney prompt for a cat"""," a cat,  8k --ar 16:9 "\n', ',"orphan answer"\n']
    + [f"draw a {n},{n} {'in watercolor' if i % 2 else 'as an oil painting'} --v {i}\n" for i, n in enumerate(NOUNS)]
    + ["draw a viking,viking as an oil painting --v 2\n"]  # exact duplicate of line 6
)


def project(tmp_path, model_dir, data: str | bytes | None = None, name: str = "raw.csv", **data_cfg):
    """A tailor.yaml using the tiny model, and (optionally) a data file it points to."""
    cfg = {"model": {"base": str(model_dir)}, "data": {"source": name, **data_cfg}}
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    if data is not None:
        target = tmp_path / name
        target.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return tmp_path / "tailor.yaml"


def test_prepare_writes_clean_leak_free_splits(tmp_path, tiny_model_dir, capsys):
    cfg = project(tmp_path, tiny_model_dir, GOOD_CSV)
    assert main(["data", "prepare", "-c", str(cfg), "--test-fraction", "0.2"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "22 rows read" in out and "leakage violations: 0" in out
    run = tmp_path / "runs" / "default"
    info = json.loads((run / "prepare.json").read_text())
    assert info["dropped"] == {"empty request": 1, "exact duplicate": 1}
    assert info["kept"] == 20 and info["leakage_violations"] == []
    splits = {s: read_examples(run / "data" / f"{s}.jsonl") for s in ("train", "val", "test")}
    assert {s: len(v) for s, v in splits.items()} == info["split_sizes"]
    assert len(splits["test"]) == 4 and check_leakage(splits) == []
    cat = next(ex for ex in splits["train"] + splits["val"] + splits["test"] if "cat" in ex.user)
    assert (cat.user, cat.assistant) == ("midjourney prompt for a cat", "a cat, 8k --ar 16:9")
    assert cat.meta["source"] == "raw.csv" and cat.meta["line"] == 2 and cat.meta["split"] in splits
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["data"]["source"] == str((tmp_path / "raw.csv").resolve())
    assert not [p for p in (run / "data").iterdir() if p.name.startswith(".")]  # no temp files left


def test_inspect_prints_report_and_writes_nothing(tmp_path, tiny_model_dir, capsys):
    cfg = project(tmp_path, tiny_model_dir, GOOD_CSV)
    assert main(["data", "inspect", "-c", str(cfg), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows_read"] == 22 and report["columns"] == ["User", "Prompt"]
    assert report["empty_requests"] == 1 and report["exact_duplicates"] == 1
    assert report["quoting_artifacts"] == 1 and report["lengths"]["total"]["max"] > 0
    assert any(p["where"] == "raw.csv:3" and p["problem"] == "empty request" for p in report["problems"])
    assert main(["data", "inspect", str(tmp_path / "raw.csv"), "-c", str(cfg), "--max-length", "40"]) == 0
    text = capsys.readouterr().out
    assert "rows read" in text and "median" in text and "raw.csv:3" in text
    assert not (tmp_path / "runs").exists()


BAD_INPUTS = [
    # (name, content, extra data config, expected where, words in the message)
    ("unclosed.csv", 'User,Prompt\nok,fine\nstill ok,"the quote opens here\nnext,row\n', {}, "unclosed.csv:3:Prompt",
     "never closed"),
    ("bad.jsonl", '{"prompt": "a", "completion": "b"}\n{"prompt": "c", oops}\n', {}, "bad.jsonl:2", "not JSON"),
    ("raw.csv", "User,Prompt\nq,a\n", {"columns": {"user": "User", "assistant": "Promt"}}, "raw.csv:1:Promt",
     "User, Prompt"),
    ("empty.csv", "", {}, "empty.csv", "empty"),
    ("latin.csv", b"User,Prompt\ncaf\xe9 au lait,ok\n", {}, "latin.csv:2", "not valid UTF-8"),
    ("long.csv", "User,Prompt\nshort,fine\n" + "request " * 60 + ",answer\n", {"max_length": 32}, "long.csv:3",
     "truncated to nothing"),
]


@pytest.mark.parametrize("command", ["prepare", "inspect"])
@pytest.mark.parametrize("name,content,data_cfg,where,words", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, tiny_model_dir, capsys, command, name, content,
                                                      data_cfg, where, words):
    if command == "inspect" and name == "long.csv":
        pytest.skip("inspect reports truncation as a problem row instead of failing")
    cfg = project(tmp_path, tiny_model_dir, content, name=name, **data_cfg)
    code = main(["data", command, "-c", str(cfg)])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured
    assert len(lines) == 1, lines
    line = lines[0]
    assert where in line and words in line and "Fix:" in line
    assert "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "runs").exists()


def test_missing_column_names_the_nearest(tmp_path, tiny_model_dir, capsys):
    cfg = project(tmp_path, tiny_model_dir, "User,Prompt\nq,a\n", columns={"user": "user_text", "assistant": "Prompt"})
    assert main(["data", "prepare", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "'user_text'" in err and "User, Prompt" in err and "raw.csv" in err and "did you mean 'User'" in err


def test_inspect_of_long_row_lists_it(tmp_path, tiny_model_dir, capsys):
    content = "User,Prompt\nshort,fine\n" + "request " * 60 + ",answer\n"
    cfg = project(tmp_path, tiny_model_dir, content, name="long.csv", max_length=32)
    assert main(["data", "inspect", "-c", str(cfg), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["problems"][0]["where"] == "long.csv:3"
    assert "nothing" in report["problems"][0]["problem"]
    assert report["lengths"]["empty_after_truncation"][0]["where"] == "long.csv:3"


def test_failed_prepare_keeps_the_previous_splits(tmp_path, tiny_model_dir, capsys):
    cfg = project(tmp_path, tiny_model_dir, GOOD_CSV)
    assert main(["data", "prepare", "-c", str(cfg)]) == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "runs" / "default" / "data").iterdir()}
    (tmp_path / "raw.csv").write_text('User,Prompt\nq,"never closed\n', encoding="utf-8")
    assert main(["data", "prepare", "-c", str(cfg)]) == 2
    after = {p.name: p.read_bytes() for p in (tmp_path / "runs" / "default" / "data").iterdir()}
    assert after == before
