"""Padding-free packing: the rows of a micro-batch concatenated into a few sequences, isolated.

Each packed sequence carries `position_ids` that restart at 0 for every row and no 2-D attention mask.
transformers reads that layout as packed rows: for SDPA and eager attention it builds the block-diagonal
causal mask itself (`masking_utils.find_packed_sequence_indices`, in the format each implementation
wants: boolean for SDPA, additive for eager), and FlashAttention-2 takes its varlen path from the same
position_ids. We do not build a 4-D mask by hand because its format differs per attention
implementation and FlashAttention does not accept one; the layout above is the one all of them read.
Whether a given model really isolates rows this way is not assumed: `packing_isolates` checks it with
one tiny forward pass before training, and `train.packing: auto` falls back to padded batches if not.

How long a packed sequence may be depends on the attention kernel. FlashAttention's varlen path costs
each row only its own length squared, so rows go into sequences of up to data.max_length tokens. SDPA
and eager attention (CPU) compute the whole sequence x sequence score matrix and mask it afterwards, so
a long pack pays for attention it throws away (measured on SmolLM2-135M, 8 rows of ~78 tokens: one
624-token pack spent 4x the attention time of the padded batch); there a sequence is as long as the
longest row of the micro-batch and shorter rows share it, which removes padding without adding work.

Labels stay exactly as in padded batches, with one addition: the first token of every row is never a
target (in a padded batch nothing predicts it; in a pack the previous row's last token would).
"""
from __future__ import annotations

from typing import Any

from .tokenize import IGNORE


def plan_packs(lengths: list[int], pack_len: int) -> list[list[int]]:
    """Group row positions into as few sequences of at most pack_len tokens as the rows allow, balanced
    so that the sequences (padded to the longest of them) waste little: longest rows first, each into
    the currently shortest sequence that has room (a row longer than pack_len gets a sequence alone).
    Rows keep their relative order inside a sequence, so the grouping is a pure function of the input."""
    if not lengths:
        return []
    total = sum(lengths)
    n_bins = max(1, -(-total // max(pack_len, 1)))
    bins: list[list[int]] = [[] for _ in range(n_bins)]
    fill = [0] * n_bins
    for i in sorted(range(len(lengths)), key=lambda k: (-lengths[k], k)):
        fitting = [b for b in range(len(bins)) if fill[b] + lengths[i] <= pack_len or not bins[b]]
        if fitting:
            b = min(fitting, key=lambda k: (fill[k], k))
        else:
            bins.append([])
            fill.append(0)
            b = len(bins) - 1
        bins[b].append(i)
        fill[b] += lengths[i]
    return [sorted(b) for b in bins if b]


def pack(rows: list[dict[str, Any]], pad_id: int, pack_len: int | None = None):
    """Tensors input_ids, position_ids, labels of shape [sequences, longest sequence] for `rows`, with
    sequences of at most pack_len tokens (None: the longest row's length).

    The tail of a shorter sequence is padding laid out as one more row (positions from 0, labels
    IGNORE), so it can neither see nor be seen by the real rows."""
    import torch

    if not rows:
        raise ValueError("pack needs at least one row")
    lengths = [len(r["input_ids"]) for r in rows]
    groups = plan_packs(lengths, pack_len or max(lengths))
    width = max(sum(len(rows[i]["input_ids"]) for i in g) for g in groups)
    input_ids = torch.full((len(groups), width), pad_id, dtype=torch.long)
    labels = torch.full((len(groups), width), IGNORE, dtype=torch.long)
    positions = torch.zeros((len(groups), width), dtype=torch.long)
    for s, group in enumerate(groups):
        at = 0
        for i in group:
            ids, lab = rows[i]["input_ids"], rows[i]["labels"]
            n = len(ids)
            input_ids[s, at:at + n] = torch.tensor(ids, dtype=torch.long)
            labels[s, at + 1:at + n] = torch.tensor(lab[1:], dtype=torch.long)
            positions[s, at:at + n] = torch.arange(n)
            at += n
        positions[s, at:] = torch.arange(width - at)
    return {"input_ids": input_ids, "position_ids": positions, "labels": labels,
            "n_tokens": torch.tensor(sum(len(r["input_ids"]) for r in rows))}


def packing_isolates(model, rows: list[dict[str, Any]], pad_id: int, *, tolerance: float = 1e-3) -> bool:
    """True when this model, fed a pack, computes each row as if it were alone: the logits of a row
    packed behind another equal the row's logits on its own (positions restart, attention does not
    cross the boundary). One no-grad forward on two short rows; dropout is off while probing."""
    import torch

    from .collate import collate

    inner = getattr(model, "module", model)
    device = next(inner.parameters()).device
    first, second = rows[0], rows[-1] if len(rows) > 1 else rows[0]
    # Short slices keep the probe cheap; the second row's content differs from the first by a shift.
    a = {"input_ids": first["input_ids"][:12], "labels": first["labels"][:12]}
    b = {"input_ids": second["input_ids"][-10:], "labels": second["labels"][-10:]}
    packed = pack([a, b], pad_id, pack_len=len(a["input_ids"]) + len(b["input_ids"]))
    alone = collate([b], pad_id)
    was_training = inner.training
    inner.eval()
    try:
        with torch.no_grad():
            together = inner(input_ids=packed["input_ids"].to(device), position_ids=packed["position_ids"].to(device),
                             use_cache=False).logits[0, len(a["input_ids"]):].float()
            single = inner(input_ids=alone["input_ids"].to(device), attention_mask=alone["attention_mask"].to(device),
                           use_cache=False).logits[0].float()
    except Exception:  # a model whose forward does not take position_ids this way
        return False
    finally:
        inner.train(was_training)
    return bool((together - single).abs().max() <= tolerance * (1.0 + single.abs().max()))


def varlen_attention(model) -> bool:
    """True when the model attends with a FlashAttention kernel (varlen: packs cost no masked work)."""
    inner = getattr(model, "module", model)
    impl = getattr(getattr(inner, "config", None), "_attn_implementation", None) or ""
    return "flash" in impl  # flash_attention_2, flash_attention_3, hub flash-attn kernels


def count_tokens(batch: dict[str, Any]) -> int:
    """Real (non-padding) tokens of a padded or packed batch."""
    if "n_tokens" in batch:
        return int(batch["n_tokens"])
    return int(batch["attention_mask"].sum())
