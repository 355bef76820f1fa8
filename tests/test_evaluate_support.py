"""Helpers for the evaluate/export tests (no tests here): teach the tiny model to answer and stop.

A random tiny model never emits its terminator, so tests that need a model which *does* stop
overfit it for a few dozen steps on a handful of (request -> answer<|im_end|>) pairs. The labels
here are built independently of tailorkit.train.tokenize on purpose: these helpers test the
evaluation code, not the training code.
"""
from __future__ import annotations

from pathlib import Path

import pytest

@pytest.fixture(scope="module", autouse=False)
def one_thread():
    """Tiny matmuls on a shared 2-core machine: one torch thread is ~20x faster than two fighting
    over busy cores. Restored afterwards so other modules keep their setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


PAIRS = [
    ("midjourney prompt for a girl", "portrait of a girl on roller skates, neon city --ar 16:9"),
    ("midjourney prompt for a viking", "a viking warrior with a black iron amulet, matte painting"),
    ("midjourney prompt for a car", "steampunk children's car, copper, blueprint, concept art"),
]


def conversation(user: str) -> list[dict]:
    return [{"role": "user", "content": user}]


def overfit(model, tokenizer, pairs=PAIRS, steps: int = 60, lr: float = 1e-2) -> None:
    """Train `model` in place (all trainable parameters) until it reproduces each answer and stops."""
    rows = []
    for user, answer in pairs:
        prompt = tokenizer.apply_chat_template(conversation(user), add_generation_prompt=True, tokenize=True,
                                               return_dict=False)
        target = tokenizer.encode(answer, add_special_tokens=False) + [tokenizer.eos_token_id]
        rows.append((list(prompt) + target, [-100] * len(prompt) + target))
    fit_rows(model, rows, tokenizer.pad_token_id, steps, lr)


def fit_rows(model, rows: list[tuple[list[int], list[int]]], pad: int, steps: int = 60, lr: float = 1e-2) -> None:
    """Full-batch Adam on (input_ids, labels) rows, right-padded with `pad`, for `steps` steps."""
    import torch

    width = max(len(ids) for ids, _ in rows)
    ids = torch.tensor([r[0] + [pad] * (width - len(r[0])) for r in rows])
    labels = torch.tensor([r[1] + [-100] * (width - len(r[1])) for r in rows])
    mask = torch.tensor([[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows])
    torch.manual_seed(0)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def load_tiny(model_dir: Path):
    from tailorkit.models import load_model, load_tokenizer

    tok = load_tokenizer(str(model_dir))
    return load_model(str(model_dir), tokenizer=tok, device="cpu"), tok


def make_run(root: Path, model_dir: Path, *, pairs=PAIRS, train_adapter: bool = True, **overrides):
    """A run directory written by hand: data/test.jsonl, a tuned model (the tiny model fully fine-tuned,
    i.e. `train.method: full`, overfit on `pairs`; a tiny LoRA needs far more steps to overfit) saved the
    way `tailor train` saves it, and a short metrics.jsonl. Returns the config."""
    import json

    from tailorkit.config import build_config
    from tailorkit.data.example import Example, write_examples
    from tailorkit.train.load import save_tuned

    data = {"model": {"base": str(model_dir)}, "train": {"method": "full"}, "generation": {"max_new_tokens": 40, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0},
            "compare": {"batch_size": 4, "n_examples": 2}, **overrides}
    cfg = build_config(data, root=root)
    run = cfg.run_dir
    write_examples(run / "data" / "test.jsonl",
                   [Example.simple(u, a, source="raw.csv", row=i + 2, split="test") for i, (u, a) in enumerate(pairs)])
    if train_adapter:
        model, tok = load_tiny(model_dir)
        overfit(model, tok, pairs)
        save_tuned(model, tok, run / "adapter", cfg)
    (run / "metrics.jsonl").write_text("".join(
        json.dumps({"kind": "train", "step": s, "epoch": 0, "loss": 5.0 / s}) + "\n" for s in range(1, 9))
        + json.dumps({"kind": "val", "step": 8, "epoch": 1, "val_loss": 0.9}) + "\n", encoding="utf-8")
    return cfg
