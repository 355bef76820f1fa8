"""Helpers for the evaluate/export tests (no tests here): teach the tiny model to answer and stop.

A random tiny model never emits its terminator, so tests that need a model which *does* stop
overfit it for a few dozen steps on a handful of (request -> answer<|im_end|>) pairs. The labels
here are built independently of tailorkit.train.tokenize on purpose: these helpers test the
evaluation code, not the training code.
"""
from __future__ import annotations

from pathlib import Path

PAIRS = [
    ("midjourney prompt for a girl", "portrait of a girl on roller skates, neon city --ar 16:9"),
    ("midjourney prompt for a viking", "a viking warrior with a black iron amulet, matte painting"),
    ("midjourney prompt for a car", "steampunk children's car, copper, blueprint, concept art"),
]


def conversation(user: str) -> list[dict]:
    return [{"role": "user", "content": user}]


def overfit(model, tokenizer, pairs=PAIRS, steps: int = 60, lr: float = 1e-2) -> None:
    """Train `model` in place (all trainable parameters) until it reproduces each answer and stops."""
    import torch

    rows = []
    for user, answer in pairs:
        prompt = tokenizer.apply_chat_template(conversation(user), add_generation_prompt=True, tokenize=True,
                                               return_dict=False)
        target = tokenizer.encode(answer, add_special_tokens=False) + [tokenizer.eos_token_id]
        rows.append((list(prompt) + target, [-100] * len(prompt) + target))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
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
