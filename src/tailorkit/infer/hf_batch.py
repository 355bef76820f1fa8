"""Batched streaming generation with transformers: many rows in one `generate`, each with its own
token budget, sampling settings, RNG and cancel flag, every token handed to a callback as it is made.

This is what the server's dynamic batcher runs (serve/batcher.py). Differences from `hf_generate.generate`:

- rows arrive as token ids (the server has tokenized them already to check them against the context);
- each row has its own `max_new_tokens`, `temperature`, `top_p` and seed: sampling is done per row by a
  logits processor with a `torch.Generator` per row (the process-wide torch RNG is never touched, so
  concurrent requests and models cannot disturb each other's seeds); generate itself runs greedy and
  picks the token the processor chose;
- a row stops on its own terminator, at its own budget, or when `cancelled(row)` turns true (a client
  that went away, a time limit, shutdown): a per-row stopping criterion marks it finished and the
  batch goes on without it; when every row is finished, generate returns at the next step.

Repetition penalty and no-repeat n-gram are shared by the batch (the `GenerationConfig` passed in).
A sampled row's tokens depend on its seed only, not on its batch neighbours, up to the float rounding
of batched matrix products (which can flip a near-tie between two tokens).

Hand-written rather than transformers' continuous batching (`generate_batch`/`ContinuousBatchingManager`):
that needs paged attention and is not checked on CPU or with PEFT adapters; this uses plain `generate`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..config.generation import GenerationConfig
from .hf_generate import _hf_generation_config, _left_pad, _penalties, terminator_ids


@dataclass
class RowSpec:
    """One row's own decoding settings."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0


@dataclass
class RowResult:
    ids: list[int]  # generated ids, without the terminator
    stopped: bool  # True: the model produced a terminator; False: budget or cancel


def _row_sampler(specs: Sequence[RowSpec], device):
    """A logits processor that samples each sampling row with its own generator and leaves only the
    chosen token finite, so greedy decoding picks it; greedy rows pass through untouched."""
    import torch
    from transformers import LogitsProcessor

    gens = {}
    for r, spec in enumerate(specs):
        if spec.temperature > 0:
            g = torch.Generator(device=device)
            g.manual_seed(int(spec.seed))
            gens[r] = g

    class _Sampler(LogitsProcessor):
        def __call__(self, input_ids, scores):
            for r, g in gens.items():
                spec = specs[r]
                probs = torch.softmax(scores[r].float() / spec.temperature, dim=-1)
                if spec.top_p < 1.0:
                    sorted_p, order = torch.sort(probs, descending=True)
                    drop = torch.cumsum(sorted_p, dim=-1) - sorted_p > spec.top_p
                    sorted_p[drop] = 0.0
                    probs = torch.zeros_like(probs).scatter(0, order, sorted_p)
                tok = torch.multinomial(probs, 1, generator=g)
                row = torch.full_like(scores[r], float("-inf"))
                row[tok] = 0.0
                scores[r] = row
            return scores

    return _Sampler() if gens else None


class _RowStreamer:
    """transformers' streamer protocol for a batch: tracks each row's ids, terminator and budget, and
    calls `on_token(row, token_id)` for each live row's new token."""

    def __init__(self, specs, eos_ids: set[int], on_token, cancelled) -> None:
        self.specs = specs
        self.eos = eos_ids
        self.on_token = on_token
        self.cancelled = cancelled
        self.ids: list[list[int]] = [[] for _ in specs]
        self.done = [False] * len(specs)
        self.stopped = [False] * len(specs)
        self.prompt_seen = False

    def put(self, value) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompt
            self.prompt_seen = True
            return
        for r, tid in enumerate(value.reshape(-1).tolist()):
            if self.done[r]:
                continue
            if tid in self.eos:
                self.done[r] = self.stopped[r] = True
                continue
            if self.cancelled(r):
                self.done[r] = True
                continue
            self.ids[r].append(int(tid))
            if self.on_token is not None:
                self.on_token(r, int(tid))
            if len(self.ids[r]) >= self.specs[r].max_new_tokens:
                self.done[r] = True

    def end(self) -> None:
        pass


def generate_rows(model, tokenizer, prompts: Sequence[list[int]], specs: Sequence[RowSpec],
                  gen_cfg: GenerationConfig, *, on_token: Callable[[int, int], None] | None = None,
                  cancelled: Callable[[int], bool] | None = None) -> list[RowResult]:
    """Generate for every row of `prompts` (token ids) in one batch; see the module docstring.

    `on_token(row, token_id)` is called from this thread for each generated token of a live row;
    `cancelled(row)` is polled once per step and row.
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    if len(prompts) != len(specs):
        raise ValueError("one RowSpec per prompt")
    if not prompts:
        return []
    cancelled = cancelled or (lambda r: False)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos_ids = terminator_ids(model, tokenizer)
    budget = max(s.max_new_tokens for s in specs)
    hf_cfg = _hf_generation_config(gen_cfg.model_copy(update={"temperature": 0.0, "max_new_tokens": budget}),
                                   eos_ids, pad_id)
    input_ids, mask = _left_pad(list(prompts), pad_id)
    width = input_ids.shape[1]
    streamer = _RowStreamer(specs, set(eos_ids), on_token, cancelled)

    class _RowStop(StoppingCriteria):
        def __call__(self, ids, scores, **kwargs):
            n = ids.shape[1] - width  # this step's token is already appended; the streamer sees it next
            done = [d or n >= s.max_new_tokens or cancelled(r) for r, (d, s) in enumerate(zip(streamer.done, specs))]
            return torch.tensor(done, dtype=torch.bool, device=ids.device)

    device = next(model.parameters()).device
    procs = _penalties(gen_cfg, width)
    sampler = _row_sampler(specs, device)
    if sampler is not None:
        procs.append(sampler)  # after the penalties: it samples from the penalised scores
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model.generate(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                           generation_config=hf_cfg, logits_processor=procs, streamer=streamer,
                           stopping_criteria=StoppingCriteriaList([_RowStop()]))
    finally:
        model.train(was_training)
    return [RowResult(ids, stopped) for ids, stopped in zip(streamer.ids, streamer.stopped)]
