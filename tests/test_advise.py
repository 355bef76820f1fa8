"""`tailor advise` on the tiny model: the facts task (retrieval must win), outputs, and bad budgets."""
from __future__ import annotations

import json

import pytest

from advise_tasks import write_facts_task
from tailorkit.cli import main
from test_evaluate_support import one_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


def _project(root, tiny_model_dir, **extra):
    data = write_facts_task(root)
    cfg = {"model": {"base": str(tiny_model_dir)}, "data": data, "train": {"run_name": "facts", "batch_size": 4},
           "generation": {"max_new_tokens": 12}, "advise": {"max_rows": 6, "min_steps": 2, "max_steps": 6}, **extra}
    (root / "tailor.yaml").write_text(json.dumps(cfg))
    return root / "tailor.yaml"


def test_advise_facts_task_four_routes_and_the_recommendation(tiny_model_dir, tmp_path, capsys):
    config = _project(tmp_path, tiny_model_dir)
    assert main(["advise", "-c", str(config), "--minutes", "5", "--docs", "docs"]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "runs" / "facts-advise"
    doc = json.loads((folder / "advise.json").read_text())
    routes = doc["routes"]
    assert set(routes) == {"base", "base+retrieval", "tuned", "tuned+retrieval"}
    for r in routes.values():
        assert {"similarity", "nll", "prompt_tokens", "latency_s", "rouge_l"} <= set(r)
    # the retrieval routes quote the documents (extractive: a random model is never grounded) and win
    for name in ("base+retrieval", "tuned+retrieval"):
        assert routes[name]["extractive_rate"] == 1.0
        assert routes[name]["similarity"] > routes["base"]["similarity"] + 0.2
        assert routes[name]["prompt_tokens"] > routes["base"]["prompt_tokens"]
    rec = doc["recommendation"]  # no checks, no judge: the references' NLL decides (a random model: any route)
    assert rec["metric"] == "nll" and routes[rec["route"]]["nll"] <= min(r["nll"] for r in routes.values()) + 0.05
    assert f"{routes[rec['route']]['nll']:.3f}" in rec["headline"]
    assert doc["judge"] == {"enabled": False} and "judge: off" in out and "recommendation:" in out
    assert doc["train"]["steps"] >= 2 and (folder / "pilot" / "adapter").exists()
    html = (folder / "advise.html").read_text()
    assert "Recommendation" in html and "<script" not in html and "judge off" in html
    assert not list((tmp_path / "runs").glob(".*tmp*"))


def test_advise_budget_too_small_is_one_line_and_writes_nothing(tiny_model_dir, tmp_path, capsys):
    config = _project(tmp_path, tiny_model_dir)
    assert main(["advise", "-c", str(config), "--minutes", "0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--minutes" in err and "advise.minutes" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_advise_min_steps_beyond_budget_after_calibration(tiny_model_dir, tmp_path, capsys):
    config = _project(tmp_path, tiny_model_dir, advise={"min_steps": 10_000_000, "max_steps": 10_000_000})
    assert main(["advise", "-c", str(config), "--minutes", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "too small to train anything" in err and "needs about" in err
    assert not (tmp_path / "runs").exists()


def test_advise_missing_docs_folder(tiny_model_dir, tmp_path, capsys):
    config = _project(tmp_path, tiny_model_dir)
    assert main(["advise", "-c", str(config), "--docs", "nope"]) == 2
    assert "advise.docs" in capsys.readouterr().err


def _routes(**figures):
    base = {"similarity": 0.5, "nll": 2.0, "prompt_tokens": 40, "latency_s": 0.2}
    return {name: {**base, **figures.get(name.replace("+", "_"), {})}
            for name in ("base", "base+retrieval", "tuned", "tuned+retrieval")}


def test_recommendation_prefers_checks_then_nll_over_similarity_and_the_simplest_of_equals():
    from tailorkit.advise.recommend import recommend

    # the facts task measured with the bundled model: similarity favours the tuned format, NLL the facts
    facts = _routes(base={"similarity": 0.674, "nll": 1.68}, base_retrieval={"similarity": 0.766, "nll": 0.55, "prompt_tokens": 429},
                    tuned={"similarity": 0.802, "nll": 0.85}, tuned_retrieval={"similarity": 0.766, "nll": 0.26, "prompt_tokens": 429})
    rec = recommend(facts)
    assert rec["route"] == "tuned+retrieval" and rec["metric"] == "nll" and "0.260 vs 0.550" in rec["headline"]
    assert "+389 prompt tokens" in rec["headline"] and "Retrieval adds 389 prompt tokens" in rec["reason"]
    close = _routes(base_retrieval={"nll": 1.03, "prompt_tokens": 300}, tuned={"nll": 1.0})
    assert recommend(close)["route"] == "base+retrieval"  # within 0.05 nats and simpler than training
    checked = {k: {**v, "checks_all": c} for (k, v), c in zip(facts.items(), (0.1, 0.4, 0.9, 0.92))}
    rec = recommend(checked)
    assert rec["metric"] == "checks_all" and rec["route"] == "tuned" and "90%" in rec["headline"]
