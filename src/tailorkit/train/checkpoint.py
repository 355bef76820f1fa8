"""Checkpoints: trainable weights, optimizer, scheduler, RNG states and loop state, written atomically.

Layout under run_dir/checkpoints/: `step-00000040/` (the last KEEP_LAST are kept) and `best/` (the
weights with the lowest validation loss). A checkpoint is written into a temporary folder and renamed
into place, so a crash (SIGKILL included) leaves either the old set or the new one, never half of one.
Every process writes its own RNG state (dropout masks differ per process); the main process the rest,
including the fp16 GradScaler's state (its loss scale and growth tracker) when accelerate uses one.

Each checkpoint records a fingerprint of what determines the run (model, chat template, LoRA shape,
seed, max_length, batch shape, processes, precision, optimizer settings, and the sha256 of train.jsonl);
a resume whose fingerprint differs is refused, naming each changed field, because it would silently
reorder the data or load state into a differently shaped run.

Why not accelerate's save_state/load_state: it writes the whole model's state_dict (the frozen base
weights too, gigabytes per checkpoint for a LoRA run), and its RNG and sampler handling assumes
accelerate-prepared dataloaders, which this loop does not use. The parts here are few and explicit.
"""
from __future__ import annotations

import hashlib
import json
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TrainError
from .modeling import load_trainable_state, trainable_state

KEEP_LAST = 2
WEIGHTS = "trainable.safetensors"
SCALER = "scaler.pt"


@dataclass
class LoopState:
    """Where the loop is and what it has learnt so far; enough to continue exactly."""

    global_step: int = 0
    epoch: int = 0                 # current epoch (0-based)
    step_in_epoch: int = 0         # optimizer steps already done in `epoch`
    best_val_loss: float | None = None
    best_step: int | None = None
    bad_epochs: int = 0            # epochs since the validation loss last improved
    last_val_loss: float | None = None
    stopped: str | None = None     # completed | early_stopping | max_steps
    tokens_seen: int = 0
    train_seconds: float = 0.0
    plan: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)  # see run_fingerprint

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def checkpoints_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_fingerprint(cfg, *, world: int, precision: str, train_file: Path, template_sha: str) -> dict[str, Any]:
    """What a resumed run must share with the checkpoint, keyed by the config field (or what) it comes from."""
    t = cfg.train
    return {
        "model.base": cfg.model.base, "model.revision": cfg.model.revision, "chat template (sha256)": template_sha,
        "train.method": t.method, "train.lora_r": t.lora_r, "train.lora_alpha": t.lora_alpha,
        "train.lora_dropout": t.lora_dropout, "train.target_modules": t.target_modules,
        "train.seed": t.seed, "data.max_length": cfg.data.max_length,
        "train.batch_size": t.batch_size, "train.grad_accum": t.grad_accum, "processes": world,
        "train.tokens_per_step": t.tokens_per_step,
        "precision": precision,
        # the rate in use (resolve_train_defaults has picked it by model size when it was unset)
        "train.learning_rate": t.learning_rate,
        "train.weight_decay": t.weight_decay, "train.scheduler": t.scheduler, "train.warmup_ratio": t.warmup_ratio,
        "training rows (sha256 of train.jsonl)": file_sha256(train_file),
    }


def _short(value: Any) -> str:
    text = repr(value)
    return text[:14] + "…'" if len(text) > 24 and isinstance(value, str) and len(value) == 64 else text


def check_resume(path: Path, fingerprint: dict[str, Any], n_rows: int, world: int) -> dict[str, Any]:
    """The saved plan of the checkpoint at `path`, after checking that the run it continues is the same.

    Raises TrainError naming every field that differs. A checkpoint written before fingerprints existed
    is checked on its row count and process count only.
    """
    saved = json.loads((path / "state.json").read_text(encoding="utf-8"))
    plan, old = saved["plan"], saved.get("fingerprint") or {}
    if old:
        changed = [k for k in [*old, *(k for k in fingerprint if k not in old)] if old.get(k) != fingerprint.get(k)]
        if changed:
            diffs = "; ".join(f"{k}: {_short(old.get(k))} then, {_short(fingerprint.get(k))} now" for k in changed)
            raise TrainError(f"the run differs from its checkpoint ({diffs})", where=str(path),
                             fix="resume with the same settings and data, or train without --resume to start over")
    elif plan["n_rows"] != n_rows or plan["world"] != world:
        raise TrainError(f"the checkpoint was made with {plan['n_rows']} train rows on {plan['world']} "
                         f"process(es); now there are {n_rows} on {world}", where=str(path),
                         fix="resume with the same data and number of processes, or train without --resume")
    return plan


def _capture_rng() -> dict[str, Any]:
    import numpy as np
    import torch

    rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def _restore_rng(rng: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def _save_weights(model, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({n: t.contiguous().cpu() for n, t in trainable_state(model).items()}, str(path))


def _load_weights(model, path: Path) -> None:
    from safetensors.torch import load_file

    load_trainable_state(model, load_file(str(path)))


def publish_dir(tmp: Path, final: Path) -> None:
    """Rename a finished temporary folder into place (replacing an older folder of that name)."""
    if final.exists():
        old = final.with_name(final.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        final.replace(old)
        tmp.replace(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.replace(final)


def save_checkpoint(run_dir: Path, model, optimizer, scheduler, state: LoopState, accelerator) -> Path:
    """Write a full checkpoint for state.global_step; returns its folder. Call on every process."""
    import torch

    root = checkpoints_dir(run_dir)
    final = root / f"step-{state.global_step:08d}"
    tmp = root / f".tmp-step-{state.global_step:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    torch.save(_capture_rng(), tmp / f"rng-{accelerator.process_index}.pt")
    if accelerator.is_main_process:
        _save_weights(model, tmp / WEIGHTS)
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        scaler = getattr(accelerator, "scaler", None)  # fp16 only: the loss scale it has learnt
        if scaler is not None:
            torch.save(scaler.state_dict(), tmp / SCALER)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        # state.json last: its presence marks a complete checkpoint.
        (tmp / "state.json").write_text(json.dumps(state.to_dict(), indent=1), encoding="utf-8")
        publish_dir(tmp, final)
        _prune(root)
    accelerator.wait_for_everyone()
    return final


def _step_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if p.is_dir() and (p / "state.json").exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def _prune(root: Path) -> None:
    for old in _step_dirs(root)[:-KEEP_LAST]:
        shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder, or None."""
    dirs = _step_dirs(checkpoints_dir(run_dir))
    return dirs[-1] if dirs else None


def load_checkpoint(path: Path, model, optimizer, scheduler, accelerator) -> LoopState:
    """Restore weights, optimizer, scheduler and this process's RNG; return the loop state."""
    import torch

    try:
        state = LoopState(**json.loads((path / "state.json").read_text(encoding="utf-8")))
        _load_weights(model, path / WEIGHTS)
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=False))
        scheduler.load_state_dict(torch.load(path / "scheduler.pt", map_location="cpu", weights_only=False))
        scaler = getattr(accelerator, "scaler", None)
        if scaler is not None and (path / SCALER).exists():  # absent: a checkpoint made before this was saved
            scaler.load_state_dict(torch.load(path / SCALER, map_location="cpu", weights_only=False))
        rng_file = path / f"rng-{accelerator.process_index}.pt"
        if not rng_file.exists():
            raise FileNotFoundError(rng_file.name)
        _restore_rng(torch.load(rng_file, map_location="cpu", weights_only=False))
    except TrainError:
        raise
    except Exception as exc:
        raise TrainError(f"cannot resume from the checkpoint ({type(exc).__name__}: {exc})", where=str(path),
                         fix="delete that checkpoint folder to resume from an older one, or train without --resume "
                             "with the same number of processes") from None
    return state


def save_best(run_dir: Path, model, state: LoopState, accelerator) -> None:
    """Keep the weights of the best validation loss so far (main process)."""
    if accelerator.is_main_process:
        root = checkpoints_dir(run_dir)
        tmp = root / ".tmp-best"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _save_weights(model, tmp / WEIGHTS)
        (tmp / "state.json").write_text(json.dumps(state.to_dict(), indent=1), encoding="utf-8")
        publish_dir(tmp, root / "best")
    accelerator.wait_for_everyone()


def load_best(run_dir: Path, model) -> bool:
    """Load the best-validation weights into the model; False when there are none."""
    best = checkpoints_dir(run_dir) / "best" / WEIGHTS
    if not best.exists():
        return False
    _load_weights(model, best)
    return True
