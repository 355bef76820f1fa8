"""Summed token losses over trained positions, and validation loss / perplexity.

The training loop divides summed losses by the global number of trained tokens of an optimizer step,
so every trained token weighs the same whatever the batch, accumulation or process it lands in.
Logits are computed only at positions that predict a trained token when the model supports
`logits_to_keep` (most of a prompt is never scored, and the vocabulary projection is expensive).
"""
from __future__ import annotations

import inspect
import math
from typing import Any

from .collate import collate
from .tokenize import IGNORE


def supports_logits_to_keep(model) -> bool:
    """Whether the innermost causal LM accepts `logits_to_keep` (a tensor of positions)."""
    inner = getattr(model, "module", model)  # a DistributedDataParallel wrapper
    if hasattr(inner, "get_base_model"):  # a PEFT wrapper
        inner = inner.get_base_model()
    try:
        return "logits_to_keep" in inspect.signature(inner.forward).parameters
    except (TypeError, ValueError):
        return False


def token_loss_sum(model, batch: dict[str, Any], *, keep_logits: bool = True):
    """Sum of cross-entropy over trained tokens of a batch (a 0-dim tensor) and their count."""
    import torch
    import torch.nn.functional as F

    targets = batch["labels"][:, 1:]
    trained = targets != IGNORE
    n = int(trained.sum())
    if keep_logits:
        # Positions t whose next token t+1 is trained in any row of the batch.
        positions = trained.any(dim=0).nonzero().squeeze(-1)
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    logits_to_keep=positions, use_cache=False)
        logits = out.logits
        targets = targets[:, positions]
    else:
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
        logits = out.logits[:, :-1]
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                           ignore_index=IGNORE, reduction="sum")
    if n == 0:  # keep the graph connected (distributed runs need every rank to backpropagate)
        loss = logits.sum() * 0.0
    return loss, n


def evaluate_loss(model, rows: list[dict[str, Any]], pad_id: int, batch_size: int, *, device=None,
                  accelerator=None, keep_logits: bool | None = None) -> tuple[float, int]:
    """Mean loss per trained token over `rows` (sharded across processes when an accelerator is given)
    and the number of trained tokens. Returns (nan, 0) for no rows."""
    import torch

    if keep_logits is None:
        keep_logits = supports_logits_to_keep(model)
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    device = device or (accelerator.device if accelerator else next(model.parameters()).device)
    # Sorting by length keeps padding small; the order does not change a sum.
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))[rank::world]
    was_training = model.training
    model.eval()
    total = torch.zeros(2, dtype=torch.float64, device=device)
    with torch.no_grad():
        for s in range(0, len(order), batch_size):
            batch = {k: v.to(device) for k, v in collate([rows[i] for i in order[s:s + batch_size]], pad_id).items()}
            loss, n = token_loss_sum(model, batch, keep_logits=keep_logits)
            total[0] += loss.double()
            total[1] += n
    if was_training:
        model.train()
    if accelerator is not None and world > 1:
        total = accelerator.reduce(total, reduction="sum")
    count = int(total[1].item())
    return (total[0].item() / count if count else math.nan), count


def perplexity(loss: float) -> float:
    """exp(loss), saturating instead of overflowing."""
    if loss is None or math.isnan(loss):
        return math.nan
    return math.exp(min(loss, 700.0))
