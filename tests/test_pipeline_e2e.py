"""`tailor run` end to end on the example project with a tiny model: every stage's artefacts appear."""
from __future__ import annotations

import json

from tailorkit.cli import main
from tailorkit.project import init_project


def test_run_pipeline_on_the_example_project(tiny_model_dir, tmp_path, monkeypatch, capsys):
    proj = init_project(tmp_path / "mj", example="midjourney")
    cfg_text = (proj / "tailor.yaml").read_text()
    (proj / "tailor.yaml").write_text(
        cfg_text.replace("base: smollm2-135m", f"base: {tiny_model_dir}")
        .replace("run_name: midjourney", "run_name: midjourney\n  max_steps: 4")
        .replace("compare:\n", "compare:\n  max_rows: 3\n  n_examples: 2\n", 1)
        + "\ngeneration:\n  max_new_tokens: 8\n")
    monkeypatch.chdir(proj)
    code = main(["run", "--steps", "prepare,train,compare,export", "--config", "tailor.yaml"])
    out = capsys.readouterr()
    assert code == 0, out.err
    run = proj / "runs" / "midjourney"
    sizes = {s: sum(1 for _ in open(run / "data" / f"{s}.jsonl")) for s in ("train", "val", "test")}
    assert sizes["train"] > 100 and sizes["val"] > 0 and sizes["test"] > 0
    assert (run / "adapter" / "adapter_config.json").exists() and (run / "loss.png").exists()
    report = json.loads((run / "compare.json").read_text())
    assert report["n_rows"] == 3
    for model in ("base", "tuned"):
        assert report[model]["perplexity"] > 1 and 0 <= report[model]["rouge_l"] <= 1
    assert (run / "report.html").read_text().count("<table") >= 1
    assert (run / "export" / "adapter" / "adapter_config.json").exists()
    assert "tuned" in out.out  # the comparison table was printed
