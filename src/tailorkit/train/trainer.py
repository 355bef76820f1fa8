"""`train(cfg)`: a plain PyTorch loop driven by accelerate (one CPU, one GPU, or many through
`accelerate launch`, with no code change).

Each optimizer step sums token losses over its micro-batches and divides by the number of trained
tokens of the whole step across gradient accumulation and processes, so every trained token weighs
the same. Validation loss is computed at each epoch end; the best weights are kept and early stopping
ends a run that stops improving. An optimizer step holds batch_size x grad_accum rows, or, with
train.tokens_per_step, about that many trained tokens; its micro-batches are packed (padding-free, see
packing.py) when the model isolates packed rows, and cut further by train.micro_batch_tokens. Checkpoints (every epoch and every train.save_every_steps) carry
everything needed to continue exactly; SIGINT/SIGTERM finish the current step, write one and return.
"""
from __future__ import annotations

import hashlib
import math
import os
import signal
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import TailorConfig, write_resolved
from ..data.example import read_examples
from ..data.trained import write_trained_record
from ..errors import TrainError
from ..models import load_tokenizer, resolve_model
from . import checkpoint as ckpt
from .collate import collate, count_trained
from .load import save_tuned, template_hash
from .loss import evaluate_loss, logits_mode, perplexity, token_loss_sum
from .metrics import MetricsLog, plot_loss
from .modeling import build_model, check_method, mixed_precision, trainable_state
from .packing import count_tokens, pack, packing_isolates, varlen_attention
from .plan import Plan, build_scheduler, epoch_steps, make_plan, split_by_tokens, step_rows
from .tokenize import IGNORE, encode_examples, trained_token_count

RESUME_HINT = "resume with tailor train --resume"
# Learning rates when train.learning_rate is unset, by method and model size. Small-model values were
# measured on the bundled 135M (benchmarks/bench_train_midjourney.py: LoRA best at 1e-3; full
# fine-tuning 2e-5 -> test ppl 68.4, 1e-4 -> 45.3, 2e-4 -> 43.9 but overfitting by epoch 3); models
# of LARGE_MODEL_PARAMS or more get the values usual for 1B+ models.
LARGE_MODEL_PARAMS = 500_000_000
SMALL_MODEL_ADAPTER_LR, LARGE_MODEL_ADAPTER_LR = 1e-3, 2e-4
SMALL_MODEL_FULL_LR, FULL_FINE_TUNING_LR = 1e-4, 2e-5
# train.micro_batch_tokens when unset on CPU. Activations kept for backward in SmolLM2-135M LoRA
# training are about 15k floats per token per layer (norm inputs/outputs, q/k/v after RoPE, attention
# output, the MLP's gate/up/silu/product), ~1.8 MB per token over 30 layers; 512 tokens per forward
# pass (~0.9 GB, plus trained-position logits) keep `tailor train` under 3 GB. With no cap, 400 rows of
# two joined Midjourney prompts were OOM-killed at 7.3 GB (benchmarks/bench_train_speed.py --memory).
# GPUs run whole micro-batches.
CPU_MICRO_BATCH_TOKENS = 512


@dataclass
class TrainResult:
    """What a training run did and where its outputs are."""

    run_dir: Path
    adapter_dir: Path | None       # None when interrupted
    steps: int                     # optimizer steps done
    total_steps: int               # steps planned
    epochs: int                    # epochs completed
    stopped: str                   # completed | early_stopping | max_steps | interrupted
    best_val_loss: float | None
    best_val_perplexity: float | None
    best_step: int | None
    final_val_loss: float | None
    train_loss: float | None       # mean train loss of the last logged window
    train_rows: int
    val_rows: int
    truncated_rows: int
    seconds: float
    tokens_per_s: float
    checkpoint: Path | None
    metrics_path: Path
    loss_plot: Path | None
    packed: bool = False           # micro-batches were packed (padding-free) rather than padded

    @property
    def interrupted(self) -> bool:
        return self.stopped == "interrupted"


class _StopOnSignal:
    """First SIGINT/SIGTERM asks the loop to stop after the current step; a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "_StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _load_split(path: Path, tok, max_length: int, required: bool) -> list[dict]:
    if not path.exists():
        if required:
            raise TrainError(f"no prepared {path.stem} split at {path}", where=str(path),
                             fix="run `tailor data prepare` first")
        return []
    return encode_examples(read_examples(path), tok, max_length)


def _make_accelerator(cfg: TailorConfig):
    import torch
    from accelerate import Accelerator

    on_gpu = torch.cuda.is_available() and not os.environ.get("ACCELERATE_USE_CPU")
    mp = mixed_precision(cfg.train.precision, "cuda" if on_gpu else "cpu")
    return Accelerator(cpu=not on_gpu, mixed_precision=mp), mp


def _weights_hash(model) -> str:
    h = hashlib.sha256()
    for name, t in sorted(trainable_state(model).items()):
        h.update(name.encode())
        h.update(t.float().cpu().numpy().tobytes())
    return h.hexdigest()


def _progress_bar(enabled: bool):
    from rich.progress import TextColumn

    from ..progress import progress

    if not enabled:
        return nullcontext(None)
    return progress(TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[tps]} tok/s"))


def resolve_train_defaults(cfg: TailorConfig, n_params: int | None = None) -> TailorConfig:
    """A copy of cfg whose learning rate, when the user set none, suits the method and the model size
    (n_params: the base parameter count once the model is loaded; before that, None gives adapters
    the config default and full fine-tuning the cautious large-model value)."""
    if "learning_rate" in cfg.train.model_fields_set:
        return cfg
    small = n_params is not None and n_params < LARGE_MODEL_PARAMS
    if cfg.train.method == "full":
        lr = SMALL_MODEL_FULL_LR if small else FULL_FINE_TUNING_LR
    else:
        lr = SMALL_MODEL_ADAPTER_LR if small or n_params is None else LARGE_MODEL_ADAPTER_LR
    if lr == cfg.train.learning_rate:
        return cfg
    cfg = cfg.model_copy(deep=True)
    cfg.train.learning_rate = lr
    return cfg


def base_parameter_count(model) -> int:
    """Parameters of the base model, adapters excluded (a 4-bit weight packs two values per element)."""
    return sum(p.numel() * (2 if type(p).__name__ == "Params4bit" else 1)
               for name, p in model.named_parameters() if "lora_" not in name)


def _use_packing(setting: str, model, rows: list[dict], pad_id: int) -> bool:
    """Whether to pack micro-batches: train.packing, checked against what the model really does."""
    if setting == "off":
        return False
    if packing_isolates(model, rows, pad_id):
        return True
    if setting == "on":
        raise TrainError("this model does not keep packed rows apart (its attention ignores position_ids "
                         "restarting per row)", where="train.packing",
                         fix="set train.packing to auto or off (padded batches), or use a newer transformers")
    return False


def train(cfg: TailorConfig, resume: bool = False) -> TrainResult:
    """Fine-tune cfg.model.base on run_dir/data/train.jsonl (validated on val.jsonl); see module doc."""
    import torch
    from accelerate.utils import gather_object, set_seed

    tcfg, run_dir = cfg.train, cfg.run_dir
    data_dir = run_dir / "data"
    if not (data_dir / "train.jsonl").exists():
        raise TrainError(f"no prepared data in {data_dir}", where=str(data_dir / "train.jsonl"),
                         fix="run `tailor data prepare` first")
    resume_from = ckpt.latest_checkpoint(run_dir) if resume else None
    if resume and resume_from is None:
        raise TrainError(f"nothing to resume: no checkpoint in {ckpt.checkpoints_dir(run_dir)}",
                         fix="run `tailor train` without --resume to start a new run")
    check_method(cfg)
    accelerator, mp = _make_accelerator(cfg)
    main, rank, world = accelerator.is_main_process, accelerator.process_index, accelerator.num_processes
    set_seed(tcfg.seed)

    tok = load_tokenizer(resolve_model(cfg.model.base, cfg.model.revision), cfg.model.chat_template, cfg.model.revision)
    train_rows = _load_split(data_dir / "train.jsonl", tok, cfg.data.max_length, required=True)
    val_rows = _load_split(data_dir / "val.jsonl", tok, cfg.data.max_length, required=True)
    if not train_rows:
        raise TrainError("the train split is empty", where=str(data_dir / "train.jsonl"),
                         fix="add rows to the data source and run `tailor data prepare` again")
    truncated = sum(r["truncated"] for r in train_rows + val_rows)
    lengths = [len(r["input_ids"]) for r in train_rows]
    trained = [trained_token_count(r["labels"]) for r in train_rows]

    plan = make_plan(len(train_rows), tcfg, world, trained_tokens=sum(trained))
    model = build_model(cfg, tok, accelerator.device, mp)
    cfg = resolve_train_defaults(cfg, base_parameter_count(model))
    tcfg = cfg.train
    # after the defaults are resolved: a resume from runs/<name>/config.yaml (which records the learning
    # rate chosen by model size) is the same run as the one started with the rate unset
    fingerprint = ckpt.run_fingerprint(cfg, world=world, precision=mp, train_file=data_dir / "train.jsonl",
                                       template_sha=template_hash(tok))
    state = ckpt.LoopState(plan=plan.to_dict(), fingerprint=fingerprint)
    if resume_from is not None:  # refused when anything that shapes the run changed; names the fields
        # continue to the same final step whatever the config says now
        plan = Plan(**ckpt.check_resume(resume_from, fingerprint, plan.n_rows, world))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=tcfg.learning_rate, weight_decay=tcfg.weight_decay)
    scheduler = build_scheduler(optimizer, tcfg, plan.total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    mode = logits_mode(model, collate(train_rows[:1], tok.pad_token_id))
    packed = _use_packing(tcfg.packing, model, train_rows, tok.pad_token_id)
    pack_len = cfg.data.max_length if varlen_attention(model) else None  # see packing.py
    micro_tokens = tcfg.micro_batch_tokens
    if micro_tokens is None:
        micro_tokens = CPU_MICRO_BATCH_TOKENS if accelerator.device.type == "cpu" else 0

    metrics = MetricsLog(run_dir / "metrics.jsonl", enabled=main)
    if resume_from is not None:
        state = ckpt.load_checkpoint(resume_from, model, optimizer, scheduler, accelerator)
        metrics.truncate_after(state.global_step)
    elif main:
        import shutil

        # A fresh run replaces the outputs of an earlier one under the same run name.
        shutil.rmtree(ckpt.checkpoints_dir(run_dir), ignore_errors=True)
        metrics.reset()
    if main:
        write_resolved(cfg, run_dir)
        # compare checks the test split against it; prepare refuses to change a trained run's splits
        write_trained_record(run_dir, read_examples(data_dir / "train.jsonl"))
    accelerator.wait_for_everyone()

    pad_id = tok.pad_token_id
    device = accelerator.device
    window: list[float] = []
    window_tokens, window_time = 0, 0.0
    last_train_loss = None
    started = time.perf_counter()
    seconds_before = state.train_seconds
    last_ckpt = resume_from

    def run_validation() -> None:
        if not val_rows:
            return
        loss, _ = evaluate_loss(accelerator.unwrap_model(model), val_rows, pad_id, tcfg.batch_size,
                                accelerator=accelerator, mode=mode)
        state.last_val_loss = loss
        metrics.write(kind="val", step=state.global_step, epoch=state.epoch + 1, val_loss=loss,
                      val_perplexity=perplexity(loss))
        if state.best_val_loss is None or loss < state.best_val_loss:
            state.best_val_loss, state.best_step, state.bad_epochs = loss, state.global_step, 0
            ckpt.save_best(run_dir, model, state, accelerator)
        else:
            state.bad_epochs += 1
            if tcfg.early_stopping_patience and state.bad_epochs >= tcfg.early_stopping_patience:
                state.stopped = "early_stopping"

    model.train()
    with _StopOnSignal() as stop, _progress_bar(main) as bar:
        task = bar.add_task("train", total=plan.total_steps, completed=state.global_step, loss="-", tps="-") if bar else None
        interrupted = False
        while state.global_step < plan.total_steps and state.stopped is None and not interrupted:
            steps = epoch_steps(lengths, plan, tcfg.seed, state.epoch, trained)
            for s in range(state.step_in_epoch, plan.steps_per_epoch):
                t0 = time.perf_counter()
                batches = []
                for micro in step_rows(plan, steps[s], rank):
                    for rows in split_by_tokens(micro, lengths, micro_tokens):
                        # A process left without rows on a short last batch still joins the step, training nothing.
                        picked = [train_rows[i] for i in rows] or [{"input_ids": train_rows[0]["input_ids"],
                                                                    "labels": [IGNORE] * len(train_rows[0]["labels"])}]
                        batch = pack(picked, pad_id, pack_len) if packed else collate(picked, pad_id)
                        batches.append({k: v.to(device) for k, v in batch.items()})
                n_step = torch.tensor(float(sum(count_trained(b) for b in batches)), device=device)
                if world > 1:
                    n_step = accelerator.reduce(n_step, reduction="sum")
                loss_sum = torch.zeros((), dtype=torch.float64, device=device)
                for i, batch in enumerate(batches):
                    sync = i == len(batches) - 1
                    with nullcontext() if sync or world == 1 else accelerator.no_sync(model):
                        token_sum, _ = token_loss_sum(model, batch, mode=mode)
                        # DDP averages gradients over processes, hence the factor `world`.
                        accelerator.backward(token_sum * world / n_step)
                    loss_sum += token_sum.detach().double()
                if tcfg.max_grad_norm:
                    accelerator.clip_grad_norm_(params, tcfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                shared = torch.stack([loss_sum, torch.tensor(float(stop.requested), dtype=torch.float64, device=device)])
                if world > 1:
                    shared = accelerator.reduce(shared, reduction="sum")
                step_loss = shared[0].item() / n_step.item()
                tokens = sum(count_tokens(b) for b in batches) * world
                state.global_step += 1
                state.step_in_epoch = s + 1
                state.tokens_seen += tokens
                window.append(step_loss)
                window_tokens += tokens
                window_time += time.perf_counter() - t0
                if state.global_step % tcfg.log_every_steps == 0 or state.global_step == plan.total_steps:
                    last_train_loss = sum(window) / len(window)
                    metrics.write(kind="train", step=state.global_step, epoch=round(state.epoch + (s + 1) / plan.steps_per_epoch, 4),
                                  loss=last_train_loss, lr=scheduler.get_last_lr()[0],
                                  tokens_per_s=round(window_tokens / max(window_time, 1e-9), 1))
                    if bar:
                        bar.update(task, loss=f"{last_train_loss:.3f}", tps=f"{window_tokens / max(window_time, 1e-9):.0f}")
                    window, window_tokens, window_time = [], 0, 0.0
                if bar:
                    bar.update(task, completed=state.global_step)
                state.train_seconds = seconds_before + time.perf_counter() - started
                epoch_done = state.step_in_epoch == plan.steps_per_epoch or state.global_step == plan.total_steps
                if epoch_done:
                    run_validation()
                    if state.global_step >= plan.total_steps and state.stopped is None:
                        state.stopped = "max_steps" if tcfg.max_steps else "completed"
                    if state.step_in_epoch == plan.steps_per_epoch:
                        state.epoch, state.step_in_epoch = state.epoch + 1, 0
                    last_ckpt = ckpt.save_checkpoint(run_dir, model, optimizer, scheduler, state, accelerator)
                elif shared[1].item() > 0 or (tcfg.save_every_steps and state.global_step % tcfg.save_every_steps == 0):
                    last_ckpt = ckpt.save_checkpoint(run_dir, model, optimizer, scheduler, state, accelerator)
                if shared[1].item() > 0:
                    interrupted = True
                if interrupted or epoch_done:
                    break

    plot = plot_loss(metrics.path, run_dir / "loss.png") if main else None
    adapter_dir = None
    if not interrupted:
        if val_rows:
            accelerator.wait_for_everyone()
            ckpt.load_best(run_dir, accelerator.unwrap_model(model))
        hashes = gather_object([_weights_hash(accelerator.unwrap_model(model))])
        if len(set(hashes)) > 1:
            raise TrainError("the processes ended with different weights", fix="check that every process "
                             "runs the same tailorkit version and data, then train again")
        if main:
            adapter_dir = save_tuned(accelerator.unwrap_model(model), tok, run_dir / "adapter", cfg, info={
                "steps": state.global_step, "best_val_loss": state.best_val_loss, "best_step": state.best_step,
                "process_weight_hashes": hashes, "chat_template_sha256": template_hash(tok)})
        else:
            adapter_dir = run_dir / "adapter"
        accelerator.wait_for_everyone()
    seconds = state.train_seconds
    return TrainResult(
        run_dir=run_dir, adapter_dir=adapter_dir, steps=state.global_step, total_steps=plan.total_steps,
        epochs=state.epoch, stopped="interrupted" if interrupted else (state.stopped or "completed"),
        best_val_loss=state.best_val_loss,
        best_val_perplexity=perplexity(state.best_val_loss) if state.best_val_loss is not None else None,
        best_step=state.best_step, final_val_loss=state.last_val_loss, train_loss=last_train_loss,
        train_rows=len(train_rows), val_rows=len(val_rows), truncated_rows=truncated, seconds=seconds,
        tokens_per_s=state.tokens_seen / seconds if seconds > 0 else math.nan, checkpoint=last_ckpt,
        metrics_path=metrics.path, loss_plot=plot, packed=packed)


def result_dict(result: TrainResult) -> dict:
    """A JSON-ready view of a TrainResult."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(result).items()}
