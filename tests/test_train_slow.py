"""The bundled SmolLM2-135M: its template's label masks, and a couple of real training steps (slow tier)."""
from __future__ import annotations

import pytest

from tailorkit.data.example import Example, write_examples
from tailorkit.train.tokenize import IGNORE, encode_example

pytestmark = pytest.mark.slow


def test_smollm2_labels_answer_and_im_end_only():
    from tailorkit.models import load_tokenizer

    tok = load_tokenizer("smollm2-135m")
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id != tok.eos_token_id
    enc = encode_example(Example.simple("midjourney prompt for a fox", "a red fox, watercolor --ar 3:2"), tok, 256)
    trained = [i for i, lab in zip(enc["input_ids"], enc["labels"]) if lab != IGNORE]
    assert tok.decode(trained) == "a red fox, watercolor --ar 3:2<|im_end|>"
    assert "SmolLM" in tok.decode(enc["input_ids"])  # the template's default system prompt is not trained


def test_bundled_model_trains_a_few_steps_and_loads(tmp_path):
    import torch

    from tailorkit.config import build_config
    from tailorkit.infer.loading import load_tuned
    from tailorkit.train.trainer import train

    cfg = build_config({"data": {"max_length": 128}, "train": {"max_steps": 2, "batch_size": 4}}, root=tmp_path)
    rows = [Example.simple(f"midjourney prompt for a {s}", f"{s}, cinematic lighting, 8k --ar 16:9", source="t", row=i)
            for i, s in enumerate(["fox", "viking", "car", "temple", "reef", "city", "girl", "ship"])]
    write_examples(cfg.run_dir / "data" / "train.jsonl", rows[:6])
    write_examples(cfg.run_dir / "data" / "val.jsonl", rows[6:])
    result = train(cfg)
    assert result.steps == 2 and result.best_val_loss is not None and result.best_val_loss < 10
    model, tok = load_tuned(result.adapter_dir, device="cpu")
    ids = tok(tok.apply_chat_template([{"role": "user", "content": "midjourney prompt for a fox"}], tokenize=False,
                                      add_generation_prompt=True), return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        assert torch.isfinite(model(**ids).logits).all()
