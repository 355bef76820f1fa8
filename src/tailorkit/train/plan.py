"""How many epochs and steps a run takes, and which rows each process sees at each step.

The data order is a pure function of (seed, epoch), so a run resumed mid-epoch skips exactly the
batches it had consumed, and every process of a distributed run derives the same order by itself.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..config.train import TrainConfig

# Default epochs, in the spirit of OpenAI's fine-tuning rule: 3 passes, more for small sets so that
# the model sees at least MIN_SEEN rows in total (about 40 optimizer steps at batch 8), capped at
# MAX_EPOCHS; early stopping on the validation loss ends runs that start to overfit.
# Tuned on the Midjourney data with SmolLM2-135M (benchmarks/bench_train_midjourney.py, 130 train
# rows): at lr 1e-3 the validation loss is lowest after 3 epochs (3.48) and rises from the 4th;
# 5 epochs at 5e-4 reach the same test perplexity (48.8 vs 48.6) in 5/3 of the time.
BASE_EPOCHS = 3
MIN_SEEN = 300
MAX_EPOCHS = 10


def auto_epochs(n_rows: int) -> int:
    """Default number of passes for a train split of n_rows."""
    if n_rows <= 0:
        return BASE_EPOCHS
    return max(BASE_EPOCHS, min(MAX_EPOCHS, math.ceil(MIN_SEEN / n_rows)))


# Rows of similar length are batched together (less padding, which is most of the waste on CPU):
# the shuffled rows are cut into windows of BUCKET_STEPS optimizer steps, each window is sorted by
# length and cut into steps, and the steps of the epoch are shuffled again.
BUCKET_STEPS = 8


@dataclass(frozen=True)
class Plan:
    """The shape of a run: rows per optimizer step, steps per epoch and in total."""

    n_rows: int
    batch_size: int
    world: int
    grad_accum: int
    steps_per_epoch: int
    epochs: int
    total_steps: int

    @property
    def rows_per_step(self) -> int:
        return self.batch_size * self.world * self.grad_accum

    def to_dict(self) -> dict:
        return asdict(self)


def make_plan(n_rows: int, tcfg: TrainConfig, world: int = 1) -> Plan:
    steps_per_epoch = math.ceil(n_rows / (tcfg.batch_size * world * tcfg.grad_accum))
    if tcfg.max_steps:
        total = tcfg.max_steps
        epochs = math.ceil(total / steps_per_epoch)
    else:
        epochs = tcfg.epochs or auto_epochs(n_rows)
        total = epochs * steps_per_epoch
    return Plan(n_rows, tcfg.batch_size, world, tcfg.grad_accum, steps_per_epoch, epochs, total)


def epoch_steps(lengths: list[int], plan: Plan, seed: int, epoch: int) -> list[list[int]]:
    """Row indices of every optimizer step of one epoch (all processes together), from (seed, epoch)
    and the row lengths alone. A step holds the same rows whatever the split into processes and
    accumulated micro-batches, so those choices do not change what is learnt."""
    import numpy as np

    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths)).tolist()
    per_step, steps = plan.rows_per_step, []
    window = per_step * BUCKET_STEPS
    for w in range(0, len(order), window):
        chunk = sorted(order[w:w + window], key=lambda i: (-lengths[i], i))
        steps.extend(chunk[k:k + per_step] for k in range(0, len(chunk), per_step))
    # Only the last step can be short; keep it last so full steps are not interleaved with it.
    full, tail = (steps[:-1], steps[-1:]) if len(steps[-1]) < per_step else (steps, [])
    return [full[i] for i in rng.permutation(len(full)).tolist()] + tail


def step_rows(plan: Plan, rows: list[int], rank: int) -> list[list[int]]:
    """This process's micro-batches of one step (a list may be empty on a short last step when there
    are fewer rows than processes)."""
    per_micro = plan.batch_size * plan.world
    return [rows[m:m + per_micro][rank::plan.world] for m in range(0, len(rows), per_micro)]


def build_scheduler(optimizer, tcfg: TrainConfig, total_steps: int):
    """Linear warm-up, then cosine, linear or constant; a LambdaLR whose state resumes exactly."""
    from transformers import get_scheduler

    warmup = int(round(tcfg.warmup_ratio * total_steps))
    name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}[tcfg.scheduler]
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)
