"""Slow tier: compare and export on the bundled SmolLM2-135M (make test-slow)."""
from __future__ import annotations

import json

import pytest

from test_evaluate_support import one_thread  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def bundled_run(tmp_path_factory):
    """A run on the bundled model whose adapter is a fresh LoRA (B = 0): tuned == base exactly."""
    from peft import LoraConfig, get_peft_model

    from tailorkit.config import build_config
    from tailorkit.data.example import Example, write_examples
    from tailorkit.infer.loading import load_base
    from tailorkit.train.load import save_tuned

    root = tmp_path_factory.mktemp("bundled")
    cfg = build_config({"generation": {"max_new_tokens": 48}, "compare": {"batch_size": 3}}, root=root)
    write_examples(cfg.run_dir / "data" / "test.jsonl", [
        Example.simple("midjourney prompt for an owl at night", "an owl on a branch at night, moonlight --ar 16:9"),
        Example.simple("What is 2+2? Answer with just the number.", "4"),
        Example.simple("midjourney prompt for a desert", "a desert at dawn, dunes, soft light --ar 21:9"),
    ])
    model, tok = load_base(cfg, device="cpu")
    save_tuned(get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM")), tok,
               cfg.run_dir / "adapter", cfg)
    return cfg


def test_identical_models_give_identical_results(bundled_run):
    from tailorkit.evaluate.compare import compare

    result = compare(bundled_run)
    doc = json.loads(result.compare_path.read_text())
    assert [r["base"]["text"] for r in doc["rows"]] == [r["tuned"]["text"] for r in doc["rows"]]
    for key in ("rouge_l", "chrf", "never_stops_rate", "median_words"):
        assert result.base[key] == pytest.approx(result.tuned[key])
    assert result.base["nll"] == pytest.approx(result.tuned["nll"], rel=1e-4)
    assert doc["rows"][1]["base"]["finish_reason"] == "stop"  # the instruct model answers "4" and stops
    assert "4" in doc["rows"][1]["base"]["text"]


def test_export_merged_bundled_loads_plainly(bundled_run):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tailorkit.export import export

    result = export(bundled_run, merge=True)
    acfg = json.loads((result.paths["adapter"] / "adapter_config.json").read_text())
    assert acfg["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    model = AutoModelForCausalLM.from_pretrained(result.paths["merged"])
    tok = AutoTokenizer.from_pretrained(result.paths["merged"])
    assert model.generation_config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    ids = tok.apply_chat_template([{"role": "user", "content": "What is 2+2? Answer with just the number."}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert out[0, -1].item() == tok.convert_tokens_to_ids("<|im_end|>")  # stops by itself
