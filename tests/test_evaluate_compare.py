"""compare() end to end on the tiny model: both models scored, compare.json + report.html written."""
from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from tailorkit.cli import main
from tailorkit.evaluate.compare import compare
from tailorkit.evaluate.metrics import METRICS
from test_evaluate_support import PAIRS, make_run
from test_evaluate_support import one_thread  # noqa: F401  (fixture)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run_cfg(tiny_model_dir, tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("proj"), tiny_model_dir)


@pytest.fixture(scope="module")
def result(run_cfg):
    return compare(run_cfg)


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith(("data:", "#")):
                self.external.append(value)


def test_compare_scores_both_models(result):
    assert result.n_rows == len(PAIRS)
    for agg in (result.base, result.tuned):
        assert {m.key for m in METRICS} <= set(agg)
    # The adapter was overfit on these rows: it reproduces them and stops; the random base does neither.
    assert result.tuned["rouge_l"] == pytest.approx(1.0)
    assert result.tuned["never_stops_rate"] == 0.0 and result.base["never_stops_rate"] == 1.0
    assert result.tuned["nll"] < result.base["nll"] and result.tuned["perplexity"] < result.base["perplexity"]
    assert result.tuned["embed_sim"] > result.base["embed_sim"]
    labels = [row[0] for row in result.table()]
    assert labels == [m.label for m in METRICS]
    assert dict((r[0], r[3]) for r in result.table())["ROUGE-L F1"] == "tuned"


def test_compare_json_holds_settings_rows_and_aggregates(result, run_cfg):
    doc = json.loads(result.compare_path.read_text())
    assert result.compare_path == run_cfg.run_dir / "compare.json"
    assert doc["n_rows"] == 3 and len(doc["rows"]) == 3
    assert doc["generation"]["max_new_tokens"] == 40 and doc["generation"]["temperature"] == 0.0
    assert doc["models"]["base"] == run_cfg.model.base
    # which engine answered (generation.engine: auto picks llama.cpp only where it is installed)
    assert set(doc["engines"]) == {"base", "tuned"} and set(doc["engines"].values()) <= {"hf", "llamacpp"}
    row = doc["rows"][0]
    assert row["request"] == PAIRS[0][0] and row["reference"] == PAIRS[0][1]
    assert row["source"] == {"source": "raw.csv", "row": 2}
    assert row["tuned"]["text"] == PAIRS[0][1] and row["tuned"]["finish_reason"] == "stop"
    assert row["base"]["finish_reason"] == "length"
    assert doc["better"]["nll"] == "tuned"


def test_report_is_self_contained_and_escaped(result, run_cfg):
    html = result.report_path.read_text()
    parser = _Collect()
    parser.feed(html)
    assert parser.external == [] and "script" not in parser.tags
    assert parser.tags.count("svg") >= len(METRICS) + 1  # one chart per metric + the loss curve
    assert html.count("class=ex>") == run_cfg.compare.n_examples
    assert "portrait of a girl on roller skates" in html
    assert "engine (tuned)" in html


def test_report_escapes_model_text(tmp_path):
    from tailorkit.evaluate.report import render_report

    row = {"text": "<script>alert(1)</script>", "rouge_l": 0.0, "preamble": False, "never_stops": False}
    doc = {"n_rows": 1, "models": {"base": "b", "tuned": "t"}, "generation": {}, "metrics": [],
           "base": {}, "tuned": {}, "reference": {}, "better": {},
           "rows": [{"request": "<b>hi</b>", "system": None, "reference": "a & b", "base": row, "tuned": row}]}
    html = render_report(doc, tmp_path)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;hi" in html and "a &amp; b" in html


def test_cli_compare_prints_table(run_cfg, capsys):
    (run_cfg.root / "tailor.yaml").write_text(run_cfg.to_yaml())
    code = main(["compare", "-c", str(run_cfg.root / "tailor.yaml"), "--max-rows", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "ROUGE-L F1" in out and "report.html" in out
    assert json.loads((run_cfg.run_dir / "compare.json").read_text())["n_rows"] == 2


def test_missing_inputs_exit_2_one_line(tiny_model_dir, tmp_path, capsys):
    cfg = make_run(tmp_path, tiny_model_dir, train_adapter=False)
    (tmp_path / "tailor.yaml").write_text(cfg.to_yaml())
    assert main(["compare", "-c", str(tmp_path / "tailor.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "adapter" in err and "tailor train" in err and "Traceback" not in err
    (cfg.run_dir / "data" / "test.jsonl").unlink()
    assert main(["compare", "-c", str(tmp_path / "tailor.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "test.jsonl" in err and "tailor data prepare" in err
    assert not (cfg.run_dir / "compare.json").exists() and not (cfg.run_dir / "report.html").exists()
