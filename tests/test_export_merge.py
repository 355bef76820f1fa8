"""export(): the PEFT adapter, the merged model (same logits as base + adapter), model cards, bad input."""
from __future__ import annotations

import json

import pytest
import yaml

from tailorkit.cli import main
from tailorkit.export import export
from test_evaluate_support import load_tiny, make_run
from test_evaluate_support import one_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lora_run(tiny_model_dir, tmp_path_factory):
    """A run whose adapter is a LoRA with random (non-zero) B matrices, so merging changes the logits."""
    from peft import LoraConfig, get_peft_model

    from tailorkit.train.load import save_tuned

    cfg = make_run(tmp_path_factory.mktemp("exp"), tiny_model_dir, train_adapter=False, train={"method": "lora"})
    model, tok = load_tiny(tiny_model_dir)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False,
                                             task_type="CAUSAL_LM"))
    save_tuned(model, tok, cfg.run_dir / "adapter", cfg)
    (cfg.run_dir / "prepare.json").write_text(json.dumps({
        "source": "/data/raw.csv", "format": "columns", "rows_read": 120, "kept": 100, "dropped": {"duplicate": 20},
        "split_sizes": {"train": 80, "val": 10, "test": 10}}))
    (cfg.run_dir / "compare.json").write_text(json.dumps({
        "n_rows": 10, "base": {"rouge_l": 0.12, "preamble_rate": 0.4}, "tuned": {"rouge_l": 0.48, "preamble_rate": 0.0}}))
    return cfg


@pytest.fixture(scope="module")
def merged_result(lora_run):
    return export(lora_run, merge=True)


def _logits(model, tok):
    import torch

    ids = tok.apply_chat_template([{"role": "user", "content": "midjourney prompt for a viking warrior"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        return model(input_ids=ids["input_ids"]).logits


def test_adapter_is_standard_peft_with_training_template(lora_run, merged_result):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = merged_result.paths["adapter"]
    assert out == lora_run.run_dir / "export" / "adapter"
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md"} <= {
        p.name for p in out.iterdir()}
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == lora_run.model.base
    train_tok = AutoTokenizer.from_pretrained(lora_run.run_dir / "adapter")
    assert AutoTokenizer.from_pretrained(out).chat_template == train_tok.chat_template
    # Loads with plain peft on the base model.
    base = AutoModelForCausalLM.from_pretrained(lora_run.model.base)
    assert isinstance(PeftModel.from_pretrained(base, str(out)), PeftModel)


def test_merged_loads_plainly_and_matches_base_plus_adapter(lora_run, merged_result):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from tailorkit.infer.loading import load_tuned

    out = merged_result.paths["merged"]
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    tuned, tuned_tok = load_tuned(lora_run.run_dir / "adapter", device="cpu")
    assert tok.chat_template == tuned_tok.chat_template
    a, b = _logits(merged, tok), _logits(tuned, tuned_tok)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    base, base_tok = load_tiny(lora_run.model.base)
    assert not torch.allclose(_logits(base, base_tok), a, atol=1e-3)  # the adapter did change something
    gen = GenerationConfig.from_pretrained(out)
    assert gen.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>") == tok.eos_token_id
    assert gen.pad_token_id is not None and gen.pad_token_id != gen.eos_token_id


def test_model_cards_hold_base_data_and_figures(lora_run, merged_result):
    for name, library in (("adapter", "peft"), ("merged", "transformers")):
        card = (merged_result.paths[name] / "README.md").read_text()
        front = yaml.safe_load(card.split("---")[1])
        assert front["base_model"] == lora_run.model.base and front["library_name"] == library
        assert "rows read: 120, kept: 100 (dropped: duplicate: 20)" in card
        assert "80 / 10 / 10" in card
        assert "| ROUGE-L F1 | 0.120 | 0.480 |" in card and "| chatty preamble rate | 40.0% | 0.0% |" in card
        assert f"learning_rate: {lora_run.train.learning_rate}" in card


def test_bundled_base_is_named_by_its_hub_id(lora_run):
    from tailorkit.export import portable_base

    assert portable_base(lora_run, {"base_model": "smollm2-135m"}) == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert portable_base(lora_run, {"base_model": "Qwen/Qwen2.5-0.5B-Instruct"}) == "Qwen/Qwen2.5-0.5B-Instruct"


def test_cli_export_without_merge_replaces_previous_export(lora_run, merged_result, capsys):
    (lora_run.root / "tailor.yaml").write_text(lora_run.to_yaml())
    assert main(["export", "-c", str(lora_run.root / "tailor.yaml")]) == 0
    out = capsys.readouterr().out
    assert "adapter" in out
    assert sorted(p.name for p in (lora_run.run_dir / "export").iterdir()) == ["adapter"]
    assert not (lora_run.run_dir / ".export.tmp").exists()


def test_full_finetune_run_exports_a_whole_model(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    cfg = make_run(tmp_path, tiny_model_dir)  # train.method: full
    result = export(cfg)
    assert list(result.paths) == ["merged"]
    AutoModelForCausalLM.from_pretrained(result.paths["merged"])


def test_no_adapter_exit_2_nothing_written(tiny_model_dir, tmp_path, capsys):
    cfg = make_run(tmp_path, tiny_model_dir, train_adapter=False)
    (tmp_path / "tailor.yaml").write_text(cfg.to_yaml())
    assert main(["export", "-c", str(tmp_path / "tailor.yaml"), "--merge"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "adapter" in err and "tailor train" in err and "Traceback" not in err
    assert not (cfg.run_dir / "export").exists()
