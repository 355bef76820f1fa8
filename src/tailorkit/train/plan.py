"""How many epochs and steps a run takes, and which rows each process sees at each step.

The data order is a pure function of (seed, epoch), so a run resumed mid-epoch skips exactly the
batches it had consumed, and every process of a distributed run derives the same order by itself.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..config.train import TrainConfig

# Default epochs, in the spirit of OpenAI's fine-tuning rule: 3 passes, more for small sets so that
# the model sees at least MIN_SEEN rows in total, capped at MAX_EPOCHS; early stopping on the
# validation loss ends runs that start to overfit. Tuned on the Midjourney data (see
# benchmarks/bench_train_midjourney.py).
BASE_EPOCHS = 3
MIN_SEEN = 1000
MAX_EPOCHS = 10


def auto_epochs(n_rows: int) -> int:
    """Default number of passes for a train split of n_rows."""
    if n_rows <= 0:
        return BASE_EPOCHS
    return max(BASE_EPOCHS, min(MAX_EPOCHS, math.ceil(MIN_SEEN / n_rows)))


@dataclass(frozen=True)
class Plan:
    """The shape of a run: micro-batches per epoch, optimizer steps per epoch and in total."""

    n_rows: int
    batch_size: int
    world: int
    grad_accum: int
    micro_per_epoch: int
    steps_per_epoch: int
    epochs: int
    total_steps: int

    def to_dict(self) -> dict:
        return asdict(self)


def make_plan(n_rows: int, tcfg: TrainConfig, world: int = 1) -> Plan:
    micro = math.ceil(n_rows / (tcfg.batch_size * world))
    steps_per_epoch = math.ceil(micro / tcfg.grad_accum)
    if tcfg.max_steps:
        total = tcfg.max_steps
        epochs = math.ceil(total / steps_per_epoch)
    else:
        epochs = tcfg.epochs or auto_epochs(n_rows)
        total = epochs * steps_per_epoch
    return Plan(n_rows, tcfg.batch_size, world, tcfg.grad_accum, micro, steps_per_epoch, epochs, total)


def epoch_order(n_rows: int, seed: int, epoch: int) -> list[int]:
    """The shuffled row order of one epoch, from (seed, epoch) alone."""
    import numpy as np

    return np.random.default_rng([seed, epoch]).permutation(n_rows).tolist()


def step_rows(plan: Plan, order: list[int], step_in_epoch: int, rank: int) -> list[list[int]]:
    """Row indices of each micro-batch this process runs in one optimizer step (a list may be empty
    on the last, short micro-batch of an epoch when there are fewer rows than processes)."""
    per_micro = plan.batch_size * plan.world
    first = step_in_epoch * plan.grad_accum
    last = min(first + plan.grad_accum, plan.micro_per_epoch)
    out = []
    for m in range(first, last):
        chunk = order[m * per_micro:(m + 1) * per_micro]
        out.append(chunk[rank::plan.world])
    return out


def build_scheduler(optimizer, tcfg: TrainConfig, total_steps: int):
    """Linear warm-up, then cosine, linear or constant; a LambdaLR whose state resumes exactly."""
    from transformers import get_scheduler

    warmup = int(round(tcfg.warmup_ratio * total_steps))
    name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}[tcfg.scheduler]
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)
