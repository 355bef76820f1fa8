"""`tailor advise` with the bundled SmolLM2-135M: a facts task (retrieval must win) and the Midjourney
example rows (the recommendation follows the figures). Prints every route's figures."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from advise_tasks import write_facts_task
from tailorkit.advise import advise
from tailorkit.config import build_config, load_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "tailorkit" / "examples" / "midjourney"


def _print(title, result):
    print(f"\n{title}: pilot LoRA {result.train_steps} steps, {result.seconds / 60:.1f} min")
    for name, r in result.routes.items():
        checks = f"checks {100 * r['checks_all']:.0f}% " if "checks_all" in r else ""
        print(f"  {name:16s} {checks}sim {r['similarity']:.3f} nll {r['nll']:.2f} tokens {r['prompt_tokens']:.0f} "
              f"latency {r['latency_s']:.2f}s extractive {100 * r['extractive_rate']:.0f}%")
    print("  ->", result.recommendation["headline"])
    print("  ", result.recommendation["reason"])


def test_advise_facts_task_bundled_model(tmp_path, capsys):
    data = write_facts_task(tmp_path)
    cfg = build_config({"data": data, "train": {"run_name": "facts"}, "generation": {"max_new_tokens": 48},
                        "advise": {"max_rows": 8}}, root=tmp_path)
    result = advise(cfg, minutes=float(__import__("os").environ.get("ADVISE_MINUTES", 12)), docs="docs")
    with capsys.disabled():
        _print("facts task", result)
    routes = result.routes
    assert result.recommendation["route"] in ("base+retrieval", "tuned+retrieval")
    assert result.recommendation["metric"] == "nll"  # similarity cannot tell a right fact from a wrong one
    best_retrieval = min(routes["base+retrieval"]["nll"], routes["tuned+retrieval"]["nll"])
    assert best_retrieval < min(routes["base"]["nll"], routes["tuned"]["nll"]) - 0.1


def test_advise_midjourney_rows_bundled_model(tmp_path, capsys):
    shutil.copytree(EXAMPLE / "data", tmp_path / "data")
    shutil.copy(EXAMPLE / "tailor.yaml", tmp_path / "tailor.yaml")
    cfg = load_config(tmp_path / "tailor.yaml", {"generation.max_new_tokens": 80, "advise.max_rows": 12})
    result = advise(cfg, minutes=float(__import__("os").environ.get("ADVISE_MINUTES", 12)))
    with capsys.disabled():
        _print("midjourney rows", result)
    routes, rec = result.routes, result.recommendation
    assert rec["metric"] == "checks_all"
    best = max(r["checks_all"] for r in routes.values())
    assert routes[rec["route"]]["checks_all"] >= best - 0.05  # the advice follows the figures
    assert f"{100 * routes[rec['route']]['checks_all']:.0f}%" in rec["headline"]
    doc = json.loads(result.json_path.read_text())
    assert doc["checks"] and doc["routes"]["tuned"]["checks"]
