"""Right-padded batches with attention masks; padding is masked out of the labels by attention.

Labels are set to -100 wherever the attention mask is 0, never by comparing with the pad id: the pad
token could coincide with a real token, and masking by id would silently drop it from training.
"""
from __future__ import annotations

from typing import Any

from .tokenize import IGNORE


def collate(rows: list[dict[str, Any]], pad_id: int):
    """Stack encoded rows into tensors: input_ids, attention_mask, labels (all shape [batch, longest])."""
    import torch

    if not rows:
        raise ValueError("collate needs at least one row")
    width = max(len(r["input_ids"]) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        input_ids[i, :n] = torch.tensor(r["input_ids"], dtype=torch.long)
        attention[i, :n] = 1
        labels[i, :n] = torch.tensor(r["labels"], dtype=torch.long)
    labels = labels.masked_fill(attention == 0, IGNORE)
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def count_trained(batch) -> int:
    """Tokens of a batch that enter the loss (after the one-position shift)."""
    return int((batch["labels"][:, 1:] != IGNORE).sum())
