"""Epoch rule, deterministic length-bucketed data order, process sharding, and logit modes of the loss."""
from __future__ import annotations

import json

import pytest

from tailorkit.config.train import TrainConfig
from tailorkit.train.plan import auto_epochs, epoch_steps, make_plan, split_by_tokens, step_rows
from test_train_run import one_thread  # noqa: F401  (autouse fixture)


def test_auto_epochs_rule():
    assert auto_epochs(100_000) == 3  # big sets: three passes
    assert auto_epochs(20) > 3  # tiny sets: more passes, capped
    assert auto_epochs(1) == auto_epochs(2) >= auto_epochs(130) >= auto_epochs(400) >= 3


def test_epoch_order_is_deterministic_covers_every_row_once_and_buckets_lengths():
    lengths = [(i * 37) % 101 + 5 for i in range(50)]
    plan = make_plan(50, TrainConfig(batch_size=4, epochs=2))
    a, b = epoch_steps(lengths, plan, 7, 0), epoch_steps(lengths, plan, 7, 0)
    assert a == b and a != epoch_steps(lengths, plan, 7, 1) and a != epoch_steps(lengths, plan, 8, 0)
    assert len(a) == plan.steps_per_epoch == 13
    assert sorted(i for step in a for i in step) == list(range(50))
    assert len(a[-1]) == 2 and all(len(s) == 4 for s in a[:-1])  # the short step comes last
    spread = sum(max(lengths[i] for i in s) - min(lengths[i] for i in s) for s in a) / len(a)
    assert spread < 30  # rows of a step have similar lengths (random batches would spread ~70)


def test_steps_hold_the_same_rows_however_they_are_split():
    lengths = list(range(40, 80))
    one = make_plan(40, TrainConfig(batch_size=8, epochs=1))
    accum = make_plan(40, TrainConfig(batch_size=4, grad_accum=2, epochs=1))
    ddp = make_plan(40, TrainConfig(batch_size=4, epochs=1), world=2)
    steps = epoch_steps(lengths, one, 1, 0)
    assert steps == epoch_steps(lengths, accum, 1, 0) == epoch_steps(lengths, ddp, 1, 0)
    assert step_rows(accum, steps[0], 0) == [steps[0][:4], steps[0][4:]]
    assert step_rows(ddp, steps[0], 0) + step_rows(ddp, steps[0], 1) == [steps[0][0::2], steps[0][1::2]]
    assert step_rows(ddp, [5], 1) == [[]]  # a process without rows on a short step still takes part


def test_token_steps_are_deterministic_balanced_and_cover_every_row_once():
    lengths = [(i * 37) % 101 + 5 for i in range(60)]
    trained = [max(1, n // 2) for n in lengths]
    plan = make_plan(60, TrainConfig(batch_size=4, tokens_per_step=200, epochs=2), trained_tokens=sum(trained))
    assert plan.steps_per_epoch == -(-sum(trained) // 200) and plan.tokens_per_step == 200
    a = epoch_steps(lengths, plan, 7, 0, trained)
    assert a == epoch_steps(lengths, plan, 7, 0, trained) and a != epoch_steps(lengths, plan, 7, 1, trained)
    assert len(a) == plan.steps_per_epoch and all(a)
    assert sorted(i for step in a for i in step) == list(range(60))
    sums = [sum(trained[i] for i in s) for s in a]
    assert max(sums) - min(sums) <= 2 * max(trained)  # within a row or two of the same work per step
    # steps of long rows hold fewer rows than steps of short rows
    assert len({len(s) for s in a}) > 1
    # a row whose answer alone exceeds the budget still makes a step, and no step is empty
    big = make_plan(3, TrainConfig(tokens_per_step=10, epochs=1), trained_tokens=100 + 2 + 2)
    steps = epoch_steps([110, 5, 5], big, 0, 0, [100, 2, 2])
    assert len(steps) == big.steps_per_epoch == 3 and all(steps)
    with pytest.raises(ValueError):
        epoch_steps(lengths, plan, 7, 0)  # the token counts are needed


def test_micro_batches_split_by_tokens_keep_order_and_rows():
    lengths = [50, 60, 70, 300, 10]
    assert split_by_tokens([0, 1, 2, 3, 4], lengths, None) == [[0, 1, 2, 3, 4]]
    assert split_by_tokens([0, 1, 2, 3, 4], lengths, 130) == [[0, 1], [2], [3], [4]]
    assert split_by_tokens([0, 4], lengths, 130) == [[0, 4]]
    assert split_by_tokens([], lengths, 130) == [[]]  # a process without rows still runs one part


def test_max_steps_overrides_epochs():
    plan = make_plan(10, TrainConfig(batch_size=4, max_steps=7, epochs=1))
    assert (plan.steps_per_epoch, plan.total_steps, plan.epochs) == (3, 7, 3)


def test_logit_modes_give_the_same_loss(tiny_model_dir):
    import torch

    from tailorkit.data.example import Example
    from tailorkit.models import load_model, load_tokenizer
    from tailorkit.train.collate import collate
    from tailorkit.train.loss import logits_mode, token_loss_sum
    from tailorkit.train.tokenize import encode_example

    tok = load_tokenizer(str(tiny_model_dir))
    model = load_model(str(tiny_model_dir), device="cpu", tokenizer=tok).eval()
    rows = [encode_example(Example.simple(u, a), tok, 128) for u, a in
            [("a fox", "a quick brown fox, 8k"), ("a viking warrior with an amulet", "matte painting --ar 16:9")]]
    batch = collate(rows, tok.pad_token_id)
    assert logits_mode(model, batch) == "mask"
    with torch.no_grad():
        losses = {m: token_loss_sum(model, batch, mode=m) for m in ("mask", "positions", "full")}
    assert {n for _, n in losses.values()} == {sum(1 for r in rows for x in r["labels"][1:] if x != -100)}
    assert losses["mask"][0].item() == pytest.approx(losses["full"][0].item(), rel=1e-5)
    assert losses["positions"][0].item() == pytest.approx(losses["full"][0].item(), rel=1e-5)


def test_full_fine_tuning_gets_a_small_default_learning_rate(tmp_path):
    from tailorkit.config import build_config
    from tailorkit.train.trainer import resolve_train_defaults

    lora = build_config({}, root=tmp_path)
    full = build_config({"train": {"method": "full"}}, root=tmp_path)
    chosen = build_config({"train": {"method": "full", "learning_rate": 1e-4}}, root=tmp_path)
    assert resolve_train_defaults(lora).train.learning_rate == 1e-3
    assert resolve_train_defaults(full).train.learning_rate == 2e-5 and full.train.learning_rate == 1e-3
    assert resolve_train_defaults(chosen).train.learning_rate == 1e-4
    # Adapters: the small-model default below 500M parameters, the usual 2e-4 from there on.
    assert resolve_train_defaults(lora, n_params=135_000_000).train.learning_rate == 1e-3
    assert resolve_train_defaults(lora, n_params=7_000_000_000).train.learning_rate == 2e-4
    assert resolve_train_defaults(full, n_params=7_000_000_000).train.learning_rate == 2e-5
    assert resolve_train_defaults(full, n_params=135_000_000).train.learning_rate == 1e-4
    set_lr = build_config({"train": {"learning_rate": 5e-4}}, root=tmp_path)
    assert resolve_train_defaults(set_lr, n_params=7_000_000_000).train.learning_rate == 5e-4


def test_base_parameter_count_leaves_out_the_adapter(tiny_model_dir):
    from peft import LoraConfig, get_peft_model

    from tailorkit.models import load_model
    from tailorkit.train.trainer import base_parameter_count

    model = load_model(str(tiny_model_dir), device="cpu")
    n = sum(p.numel() for p in model.parameters())
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    assert base_parameter_count(peft_model) == n < sum(p.numel() for p in peft_model.parameters())


def test_token_steps_train_and_resume_to_the_same_result(tiny_model_dir, tmp_path):
    import shutil

    from tailorkit.config import load_config
    from tailorkit.train.trainer import train
    from test_train_run import make_project

    cfg_path = make_project(tmp_path, tiny_model_dir, tokens_per_step=60, epochs=2, save_every_steps=1)
    reference = train(load_config(cfg_path))
    state = json.loads((reference.checkpoint / "state.json").read_text())
    assert state["plan"]["tokens_per_step"] == 60 and reference.steps == state["plan"]["total_steps"] > 2
    # Drop the newest checkpoint and the adapter: resuming from the one before must end identically.
    shutil.rmtree(reference.checkpoint)
    shutil.rmtree(reference.adapter_dir)
    resumed = train(load_config(cfg_path), resume=True)
    assert resumed.steps == reference.steps
    assert resumed.final_val_loss == pytest.approx(reference.final_val_loss, rel=1e-5)
