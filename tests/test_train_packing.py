"""Padding-free packing keeps rows apart: per-row losses equal the unpacked ones, no gradient crosses a
row boundary, the grouping respects the length budget, a packed training run matches a padded one,
and the memory options (gradient checkpointing, micro_batch_tokens) train the same."""
from __future__ import annotations

import pytest

from tailorkit.data.example import Example
from tailorkit.train.collate import collate
from tailorkit.train.packing import count_tokens, pack, packing_isolates, plan_packs
from tailorkit.train.tokenize import IGNORE, encode_example
from test_train_run import one_thread  # noqa: F401  (autouse fixture)

PAIRS = [("a fox", "a quick brown fox, 8k"), ("a viking warrior with an amulet", "matte painting --ar 16:9"),
         ("steampunk car", "copper, blueprint, symmetrical, concept art --ar 8:5"), ("neon", "city at night")]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from tailorkit.models import load_model, load_tokenizer

    tok = load_tokenizer(str(tiny_model_dir))
    model = load_model(str(tiny_model_dir), device="cpu", tokenizer=tok).eval()
    rows = [encode_example(Example.simple(u, a), tok, 128) for u, a in PAIRS]
    # A row cut so that its first token is an answer token: in a pack nothing may predict it.
    cut = dict(rows[2])
    first = next(k for k, x in enumerate(cut["labels"]) if x != IGNORE) + 2
    cut = {"input_ids": cut["input_ids"][first:], "labels": cut["labels"][first:]}
    assert cut["labels"][0] != IGNORE
    return model, tok, rows + [cut]


def row_losses_packed(model, batch, n_rows):
    """Summed loss per row of a packed batch (rows told apart by their restarting positions)."""
    import torch
    import torch.nn.functional as F

    logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
    losses = F.cross_entropy(logits[:, :-1].transpose(1, 2), batch["labels"][:, 1:], ignore_index=IGNORE,
                             reduction="none")
    starts = batch["position_ids"] == 0
    row_id = torch.cumsum(starts, dim=1)[:, 1:]  # the row of each predicted (target) position
    out = []
    for s in range(batch["input_ids"].shape[0]):
        for r in sorted(set(row_id[s].tolist())):
            picked = (row_id[s] == r) & (batch["labels"][s, 1:] != IGNORE)
            if picked.any():
                out.append(float(losses[s][picked].sum()))
    return out


def test_per_row_loss_packed_equals_unpacked(tiny):
    import torch
    import torch.nn.functional as F

    model, tok, rows = tiny
    with torch.no_grad():
        alone = []
        for r in rows:
            b = collate([r], tok.pad_token_id)
            logits = model(**b).logits
            alone.append(float(F.cross_entropy(logits[0, :-1], b["labels"][0, 1:], ignore_index=IGNORE, reduction="sum")))
        # One sequence holding every row, then a budget that forces several sequences plus padding.
        longest = max(len(r["input_ids"]) for r in rows)
        for pack_len in (10_000, longest + 5):
            batch = pack(rows, tok.pad_token_id, pack_len)
            assert batch["input_ids"].shape[0] == 1 if pack_len == 10_000 else batch["input_ids"].shape[0] >= 3
            got = row_losses_packed(model, batch, len(rows))
            by_value = sorted(got)
            assert len(got) == len(rows)
            assert max(abs(a - b) for a, b in zip(by_value, sorted(alone))) < 1e-4
    assert count_tokens(batch) == sum(len(r["input_ids"]) for r in rows)
    # Labels are those of the padded batch, minus each row's first token.
    n_trained = int((batch["labels"][:, 1:] != IGNORE).sum())
    assert n_trained == sum(sum(x != IGNORE for x in r["labels"][1:]) for r in rows)


def test_no_gradient_crosses_a_row_boundary(tiny):
    import torch
    import torch.nn.functional as F

    model, tok, rows = tiny
    batch = pack(rows[:3], tok.pad_token_id, 10_000)
    n = [len(r["input_ids"]) for r in rows[:3]]
    start, end = n[0], n[0] + n[1]  # the middle row
    embeds = model.get_input_embeddings()(batch["input_ids"]).detach().requires_grad_(True)
    logits = model(inputs_embeds=embeds, position_ids=batch["position_ids"], use_cache=False).logits
    labels = torch.full_like(batch["labels"], IGNORE)
    labels[0, start:end] = batch["labels"][0, start:end]
    F.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=IGNORE, reduction="sum").backward()
    grad = embeds.grad[0].abs().sum(dim=-1)
    assert torch.all(grad[:start] == 0) and torch.all(grad[end:] == 0)  # exactly zero, not small
    assert grad[start] > 0 and grad[start:end].sum() > 0  # while the row's own tokens do get gradient


def test_probe_sees_isolation_for_sdpa_and_eager(tiny):
    model, tok, rows = tiny
    assert packing_isolates(model, rows, tok.pad_token_id)
    model.set_attn_implementation("eager")
    try:
        assert packing_isolates(model, rows, tok.pad_token_id)
    finally:
        model.set_attn_implementation("sdpa")


def test_pack_grouping_covers_rows_once_within_budget():
    lengths = [(i * 37) % 101 + 5 for i in range(40)]
    groups = plan_packs(lengths, 200)
    assert sorted(i for g in groups for i in g) == list(range(40))
    assert all(sum(lengths[i] for i in g) <= 200 for g in groups)
    assert len(groups) <= sum(lengths) // 200 + 2  # close to the fewest possible sequences
    assert plan_packs([300, 10], 200) == [[0], [1]]  # a row longer than the budget sits alone
    assert plan_packs(lengths, 200) == groups


def test_packed_training_matches_padded(tiny_model_dir, tmp_path):
    from tailorkit.config import load_config
    from tailorkit.train.trainer import train
    from test_train_run import make_project

    results = {}
    for setting in ("on", "off"):
        cfg = load_config(make_project(tmp_path / setting, tiny_model_dir, epochs=2, packing=setting,
                                       lora_dropout=0.0))
        results[setting] = train(cfg)
    on, off = results["on"], results["off"]
    assert on.packed and not off.packed
    assert on.steps == off.steps
    assert abs(on.best_val_loss - off.best_val_loss) < 1e-3


def test_memory_options_train_the_same(tiny_model_dir, tmp_path):
    """Gradient checkpointing plus forward passes capped at 40 tokens (each micro-batch run in parts)."""
    from tailorkit.config import load_config
    from tailorkit.train.trainer import train
    from test_train_run import make_project

    runs = [train(load_config(make_project(tmp_path / str(gc), tiny_model_dir, max_steps=3, gradient_checkpointing=gc,
                                           micro_batch_tokens=40 if gc else None)))
            for gc in (True, False)]
    assert runs[0].steps == runs[1].steps == 3
    assert runs[0].final_val_loss == pytest.approx(runs[1].final_val_loss, rel=1e-4)
