"""Summed token losses over trained positions, and validation loss / perplexity.

The training loop divides summed losses by the global number of trained tokens of an optimizer step,
so every trained token weighs the same whatever the batch, accumulation or process it lands in.
Logits are computed only at positions that predict a trained token when the model supports
`logits_to_keep`: prompts are never scored, and the vocabulary projection is a fifth of the compute
of a small model.
"""
from __future__ import annotations

import inspect
import math
from typing import Any

from .collate import collate
from .tokenize import IGNORE


def logits_mode(model, batch: dict[str, Any]) -> str:
    """How to ask this model for logits at trained positions only:
    "mask" (a boolean [batch, seq] `logits_to_keep`, recent transformers), "positions" (a 1-D tensor of
    positions, older ones) or "full" (no `logits_to_keep`). Probed once with a forward pass."""
    import torch

    inner = getattr(model, "module", model)  # a DistributedDataParallel wrapper
    if hasattr(inner, "get_base_model"):  # a PEFT wrapper
        inner = inner.get_base_model()
    try:
        if "logits_to_keep" not in inspect.signature(inner.forward).parameters:
            return "full"
    except (TypeError, ValueError):
        return "full"
    device = next(inner.parameters()).device
    ids, att = batch["input_ids"][:1].to(device), batch["attention_mask"][:1].to(device)
    mask = torch.zeros_like(ids, dtype=torch.bool)
    mask[0, :2] = True
    was_training = inner.training
    inner.eval()  # no dropout: the probe must not consume random numbers
    try:
        with torch.no_grad():
            logits = inner(input_ids=ids, attention_mask=att, logits_to_keep=mask, use_cache=False).logits
        ok = logits.ndim == 2 and logits.shape[0] == 2
    except Exception:  # an implementation that indexes differently: fall back to positions
        ok = False
    inner.train(was_training)
    return "mask" if ok else "positions"


def token_loss_sum(model, batch: dict[str, Any], *, mode: str = "full"):
    """Sum of cross-entropy over trained tokens of a batch, padded or packed (a 0-dim tensor), and their count."""
    import torch.nn.functional as F

    targets = batch["labels"][:, 1:]
    trained = targets != IGNORE
    n = int(trained.sum())
    inputs = {"input_ids": batch["input_ids"], "use_cache": False}
    # A padded batch carries an attention mask; a packed one position_ids restarting at each row.
    for key in ("attention_mask", "position_ids"):
        if key in batch:
            inputs[key] = batch[key]
    if mode == "mask":  # logits of exactly the positions whose next token is trained
        keep = F.pad(trained, (0, 1), value=False)
        logits = model(**inputs, logits_to_keep=keep).logits
        targets = targets[trained]
    elif mode == "positions":  # positions where any row of the batch has a trained next token
        positions = trained.any(dim=0).nonzero().squeeze(-1)
        logits = model(**inputs, logits_to_keep=positions).logits
        targets = targets[:, positions]
    else:
        logits = model(**inputs).logits[:, :-1]
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                           ignore_index=IGNORE, reduction="sum")
    if n == 0:  # keep the graph connected (distributed runs need every rank to backpropagate)
        loss = logits.sum() * 0.0
    return loss, n


def evaluate_loss(model, rows: list[dict[str, Any]], pad_id: int, batch_size: int, *, device=None,
                  accelerator=None, mode: str | None = None) -> tuple[float, int]:
    """Mean loss per trained token over `rows` (sharded across processes when an accelerator is given)
    and the number of trained tokens. Returns (nan, 0) for no rows."""
    import torch

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
            if mode is None:
                mode = logits_mode(model, batch)
            loss, n = token_loss_sum(model, batch, mode=mode)
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
