"""How many epochs and steps a run takes, and which rows each process sees at each step.

The data order is a pure function of (seed, epoch), so a run resumed mid-epoch skips exactly the
batches it had consumed, and every process of a distributed run derives the same order by itself.
Steps hold a fixed number of rows, or (train.tokens_per_step) a fixed number of steps per epoch with
about the same number of trained tokens each; either way the plan depends on nothing else.
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
    """The shape of a run: rows (or trained tokens) per optimizer step, steps per epoch and in total."""

    n_rows: int
    batch_size: int
    world: int
    grad_accum: int
    steps_per_epoch: int
    epochs: int
    total_steps: int
    tokens_per_step: int | None = None  # set: steps are cut by trained tokens, not rows

    @property
    def rows_per_step(self) -> int:
        return self.batch_size * self.world * self.grad_accum

    def to_dict(self) -> dict:
        return asdict(self)


def make_plan(n_rows: int, tcfg: TrainConfig, world: int = 1, trained_tokens: int | None = None) -> Plan:
    """The plan for n_rows train rows; trained_tokens (their answer tokens in total) is needed when
    train.tokens_per_step is set, which makes steps_per_epoch ceil(trained_tokens / tokens_per_step)."""
    if tcfg.tokens_per_step:
        if trained_tokens is None:
            raise ValueError("make_plan needs trained_tokens when train.tokens_per_step is set")
        steps_per_epoch = max(1, min(n_rows, math.ceil(trained_tokens / tcfg.tokens_per_step)))
    else:
        steps_per_epoch = math.ceil(n_rows / (tcfg.batch_size * world * tcfg.grad_accum))
    if tcfg.max_steps:
        total = tcfg.max_steps
        epochs = math.ceil(total / steps_per_epoch)
    else:
        epochs = tcfg.epochs or auto_epochs(n_rows)
        total = epochs * steps_per_epoch
    return Plan(n_rows, tcfg.batch_size, world, tcfg.grad_accum, steps_per_epoch, epochs, total,
                tcfg.tokens_per_step or None)


def epoch_steps(lengths: list[int], plan: Plan, seed: int, epoch: int,
                trained: list[int] | None = None) -> list[list[int]]:
    """Row indices of every optimizer step of one epoch (all processes together), from (seed, epoch)
    and the row lengths alone (plus each row's trained tokens when the plan cuts steps by tokens).
    A step holds the same rows whatever the split into processes and accumulated micro-batches, so
    those choices do not change what is learnt."""
    import numpy as np

    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths)).tolist()
    if plan.tokens_per_step:
        if trained is None or len(trained) != len(lengths):
            raise ValueError("epoch_steps needs every row's trained tokens for a plan cut by tokens")
        return _token_steps(order, lengths, trained, plan.steps_per_epoch, rng)
    per_step, steps = plan.rows_per_step, []
    window = per_step * BUCKET_STEPS
    for w in range(0, len(order), window):
        chunk = sorted(order[w:w + window], key=lambda i: (-lengths[i], i))
        steps.extend(chunk[k:k + per_step] for k in range(0, len(chunk), per_step))
    # Only the last step can be short; keep it last so full steps are not interleaved with it.
    full, tail = (steps[:-1], steps[-1:]) if len(steps[-1]) < per_step else (steps, [])
    return [full[i] for i in rng.permutation(len(full)).tolist()] + tail


def _token_steps(order: list[int], lengths: list[int], trained: list[int], n_steps: int, rng) -> list[list[int]]:
    """Cut the shuffled rows into exactly n_steps steps of whole rows carrying about the same number of
    trained tokens: length-bucketed windows as for row steps, then boundaries where the running sum of
    trained tokens crosses each multiple of total / n_steps (a row goes to the step holding its middle
    token), nudged so that no step is empty."""
    import numpy as np

    n = len(order)
    window = max(1, round(n / n_steps * BUCKET_STEPS))
    seq: list[int] = []
    for w in range(0, n, window):
        seq.extend(sorted(order[w:w + window], key=lambda i: (-lengths[i], i)))
    weights = np.array([trained[i] for i in seq], dtype=np.float64)
    middles = np.cumsum(weights) - weights / 2
    targets = np.arange(1, n_steps) * (weights.sum() / n_steps)
    cuts = np.searchsorted(middles, targets).tolist()
    bounds, prev = [0], 0
    for k, c in enumerate(cuts, start=1):
        prev = min(max(c, prev + 1), n - (n_steps - k))
        bounds.append(prev)
    bounds.append(n)
    steps = [seq[a:b] for a, b in zip(bounds, bounds[1:])]
    return [steps[i] for i in rng.permutation(len(steps)).tolist()]


def step_rows(plan: Plan, rows: list[int], rank: int) -> list[list[int]]:
    """This process's micro-batches of one step (a list may be empty on a short last step when there
    are fewer rows than processes)."""
    per_micro = plan.batch_size * plan.world
    return [rows[m:m + per_micro][rank::plan.world] for m in range(0, len(rows), per_micro)]


def split_by_tokens(rows: list[int], lengths: list[int], budget: int | None) -> list[list[int]]:
    """A micro-batch's rows cut, in order, into runs of at most `budget` tokens (a longer row runs alone),
    so that activation memory is bounded by tokens rather than rows; None or 0: one run. The loss is
    normalised over the whole step, so the cut changes memory and time, not what is learnt."""
    if not budget or sum(lengths[i] for i in rows) <= budget:
        return [rows]
    runs: list[list[int]] = [[]]
    used = 0
    for i in rows:
        if runs[-1] and used + lengths[i] > budget:
            runs.append([])
            used = 0
        runs[-1].append(i)
        used += lengths[i]
    return runs


def build_scheduler(optimizer, tcfg: TrainConfig, total_steps: int):
    """Linear warm-up, then cosine, linear or constant; a LambdaLR whose state resumes exactly."""
    from transformers import get_scheduler

    warmup = int(round(tcfg.warmup_ratio * total_steps))
    name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}[tcfg.scheduler]
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)
