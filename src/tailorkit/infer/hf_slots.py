"""Continuous batching on a transformers model: rows join and leave a running batch between token steps,
with the admit / step / drop interface of the llama.cpp batch decoder (engine.SlotDecoder), so the server
drives both alike (serve/batcher.py SlotScheduler); `HFEngine.generate` runs greedy batches on it.

The batch is one left-padded `DynamicCache` and a 2-D attention mask. A step first prefills the rows
admitted since the last step (together, left-padded, in a cache of their own) and appends them to the
batch (both caches left-padded to the longer one, then concatenated along the batch); then it picks the
next token of every row from its last logits (penalties over the generated tokens and greedy or a
seeded draw, infer/sampling.py, the same choice as the llama.cpp engine) and runs one forward pass of
all rows that go on. Positions come from the mask (cumulative sum - 1), as `generate` computes them for
left-padded batches, so a row answers as it would in a batch of its own up to the float rounding of
batched matrix products. A finished or dropped row leaves the cache at once (`batch_select_indices`),
and columns no remaining row attends to are cut from the left.

Hand-written because transformers' own continuous batching (`generate_batch`, paged attention) ran at
43 tok/s on this CPU where `generate` at batch 16 ran 107, and does not take PEFT models. Models with
sliding-window attention keep the wave batching (`supported` is False): their cache layers roll.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..config.generation import GenerationConfig
from ..errors import ModelError
from .engine import SlotDecoder
from .sampling import penalize, pick


@dataclass
class _Row:
    key: Hashable
    prompt: list[int]
    gen: GenerationConfig
    rng: np.random.Generator
    room: int
    generated: list[int] = field(default_factory=list)
    logits: np.ndarray | None = None


def supported(model) -> bool:
    """Whether the decoder can batch this model (no sliding-window or hybrid cache layers)."""
    cfg = getattr(model, "config", None)
    cfg = getattr(cfg, "get_text_config", lambda: cfg)()
    window = getattr(cfg, "sliding_window", None) if getattr(cfg, "use_sliding_window", True) else None
    layer_types = set(getattr(cfg, "layer_types", None) or ["full_attention"])
    return not window and layer_types == {"full_attention"}


def _cache_argument(model) -> str:
    """The forward argument (and output field) that carries the KV cache: `cache` from transformers 5.2x,
    `past_key_values` before (a PEFT model's own forward takes **kwargs: its base model's is read)."""
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(inner.forward).parameters else "past_key_values"


class HFSlotDecoder(SlotDecoder):
    """Up to `slots` rows decoded together; `limit` bounds prompt + answer tokens per row."""

    def __init__(self, model, tokenizer, *, slots: int, limit: int, stops: set[int]):
        import torch

        self.model, self.slots, self.limit, self._stops = model, slots, limit, stops
        self._pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._device = next(model.parameters()).device
        self._torch = torch
        self._rows: list[_Row] = []  # in cache order
        self._pending: list[_Row] = []
        self._cache = None
        self._mask = None  # (rows, columns) long
        self.prefix_reused = 0  # no prompt-prefix sharing here; the scheduler reads it
        self._cache_arg = _cache_argument(model)
        model.eval()

    @property
    def active(self) -> int:
        return len(self._rows) + len(self._pending)

    def admit(self, row: Hashable, prompt: Sequence[int], gen: GenerationConfig) -> None:
        """Queue `row`; its prompt is evaluated with the other new rows at the next `step`."""
        prompt = list(prompt)
        if not prompt or len(prompt) >= self.limit:
            raise ModelError(f"a prompt of {len(prompt)} tokens does not fit the context of {self.limit}",
                             fix="shorten the conversation")
        self._pending.append(_Row(row, prompt, gen, np.random.default_rng(gen.seed),
                                  min(gen.max_new_tokens, self.limit - len(prompt))))

    def drop(self, row: Hashable) -> None:
        """Stop generating for `row`; its place is free for the next admit."""
        self._pending = [r for r in self._pending if r.key != row]
        self._keep([i for i, r in enumerate(self._rows) if r.key != row])

    def _keep(self, indices: list[int]) -> None:
        """Keep only these rows (cache order) and cut the columns none of them attends to."""
        if len(indices) == len(self._rows):
            return
        self._rows = [self._rows[i] for i in indices]
        if not self._rows:
            self._cache = self._mask = None
            return
        torch = self._torch
        index = torch.tensor(indices, device=self._device)
        self._cache.batch_select_indices(index)
        self._mask = self._mask[index]
        first = int(self._mask.any(dim=0).nonzero()[0])
        if first:
            self._cache = self._rebuild(self._cache, lambda t: t[:, :, first:])
            self._mask = self._mask[:, first:]

    def _rebuild(self, cache, change):
        """A DynamicCache of `change(tensor)` for every layer's keys and values."""
        from transformers import DynamicCache

        return DynamicCache(ddp_cache_data=[(change(layer.keys), change(layer.values)) for layer in cache.layers],
                            config=self.model.config)

    def _forward(self, ids, mask, cache):
        torch = self._torch
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1]:]
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                             **{self._cache_arg: cache})
        return getattr(out, self._cache_arg), out.logits[:, -1, :].float().cpu().numpy()

    def _prefill(self) -> None:
        """Evaluate the pending prompts together and append them to the running batch."""
        from transformers import DynamicCache

        from .hf_generate import _left_pad

        torch, new, self._pending = self._torch, self._pending, []
        ids, mask = _left_pad([r.prompt for r in new], self._pad)
        ids, mask = ids.to(self._device), mask.to(self._device)
        cache, logits = self._forward(ids, mask, DynamicCache(config=self.model.config))
        for r, row_logits in zip(new, logits):
            r.logits = row_logits
        if self._cache is None:
            self._cache, self._mask, self._rows = cache, mask, new
            return
        width = max(self._mask.shape[1], mask.shape[1])

        def left(t, n):  # pad dimension -2 (cache) or -1 (mask) on the left up to n
            if t.dim() == 2:
                return torch.nn.functional.pad(t, (n - t.shape[1], 0))
            return torch.nn.functional.pad(t, (0, 0, n - t.shape[2], 0))

        merged = [(torch.cat([left(a.keys, width), left(b.keys, width)]),
                   torch.cat([left(a.values, width), left(b.values, width)]))
                  for a, b in zip(self._cache.layers, cache.layers)]
        self._cache = DynamicCache(ddp_cache_data=merged, config=self.model.config)
        self._mask = torch.cat([left(self._mask, width), left(mask, width)])
        self._rows += new

    def step(self) -> list[tuple[Hashable, int, bool]]:
        """Prefill the rows admitted since the last step, pick every row's next token, and evaluate the
        tokens of the rows that go on in one forward pass. Returns (row, token, finished) per row:
        finished when the token is an end token or the row's room is used up."""
        if self._pending:
            self._prefill()
        events, keep, tokens = [], [], []
        for i, r in enumerate(self._rows):
            token = pick(penalize(r.logits, r.generated, r.prompt, r.gen), r.gen, r.rng)
            finished = token in self._stops or len(r.generated) + 1 >= r.room
            events.append((r.key, token, finished))
            if not finished:
                r.generated.append(token)
                keep.append(i)
                tokens.append(token)
        self._keep(keep)
        if self._rows:
            torch = self._torch
            mask = torch.cat([self._mask, self._mask.new_ones((len(self._rows), 1))], dim=1)
            ids = torch.tensor([[t] for t in tokens], device=self._device)
            self._cache, logits = self._forward(ids, mask, self._cache)
            self._mask = mask
            for r, row_logits in zip(self._rows, logits):
                r.logits = row_logits
        return events

    def close(self) -> None:
        self._rows, self._pending, self._cache, self._mask = [], [], None, None
