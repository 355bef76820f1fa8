"""Token-length statistics with the model's own chat template, and the rows max_length would cut.

Each Example is rendered twice: the prompt (every turn before the last answer, plus the
generation prompt) and the whole conversation. Answer tokens = whole - prompt, so they include the
template's terminator (e.g. `<|im_end|>`), which training must keep. A row whose prompt alone
reaches max_length would have its answer truncated to nothing: `prepare` refuses it.
`oversized_rows` finds, from characters alone, the rows far beyond max_length (a 5 MB cell) that
both report as problems: such a row is not worth tokenizing to learn it is too long.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..progress import subtask
from .example import Example
from .load import location
from .similar import MAX_FUZZY_CHARS
from .token_cache import TokenCountCache, conversation_key

HUGE_CHARS_PER_TOKEN = 32  # about 8x max_length at a typical 4 characters per token
_BATCH = 4096  # rows rendered and tokenized at a time


@dataclass
class RowLength:
    where: str
    prompt: int
    answer: int
    total: int
    answer_lost: int  # answer tokens beyond max_length


@dataclass
class Stats:
    min: int
    median: float
    p95: int
    max: int

    @classmethod
    def of(cls, values: list[int]) -> "Stats":
        if not values:
            return cls(0, 0.0, 0, 0)
        a = np.asarray(values)
        return cls(int(a.min()), float(np.median(a)), int(np.percentile(a, 95, method="higher")), int(a.max()))


@dataclass
class LengthReport:
    """Token counts over a set of Examples for one tokenizer and max_length."""

    max_length: int
    prompt: Stats
    answer: Stats
    total: Stats
    over: list[RowLength] = field(default_factory=list)  # total > max_length
    empty_after_truncation: list[RowLength] = field(default_factory=list)  # prompt >= max_length
    histogram: list[list[int]] = field(default_factory=list)  # [low, high, rows] bins of total tokens

    @property
    def answer_tokens_lost(self) -> int:
        return sum(r.answer_lost for r in self.over)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["answer_tokens_lost"] = self.answer_tokens_lost
        return d

    def raise_if_answer_lost(self) -> None:
        """The first row whose answer would be truncated to nothing -> DataError with the fix."""
        if not self.empty_after_truncation:
            return
        r = self.empty_after_truncation[0]
        more = len(self.empty_after_truncation) - 1
        others = f" ({more} more row{'s' if more != 1 else ''} like it)" if more else ""
        raise DataError(
            f"the request alone is {r.prompt} tokens, so with data.max_length={self.max_length} its answer "
            f"would be truncated to nothing{others}",
            where=r.where,
            fix=f"raise data.max_length to at least {r.total} (--max-length), or shorten that request",
        )


def oversized_rows(examples: list[Example], max_length: int) -> list[tuple[str, str]]:
    """(file:line, problem) for rows far beyond max_length, or too long for the near-duplicate check."""
    limit = HUGE_CHARS_PER_TOKEN * max_length
    out = []
    for ex in examples:
        total = sum(len(m["content"]) for m in ex.messages)
        if total <= min(limit, MAX_FUZZY_CHARS):
            continue
        biggest = max(ex.messages, key=lambda m: len(m["content"]))
        side = {"assistant": "answer", "user": "request"}.get(biggest["role"], f"{biggest['role']} prompt")
        what = f"{side} is {len(biggest['content']):,} characters"
        if total > limit:
            out.append((location(ex), f"{what}, far beyond data.max_length={max_length} tokens (about "
                                      f"{total / (4 * max_length):,.0f}x): training keeps only its first {max_length} "
                                      "tokens; shorten or drop the row"))
        else:
            out.append((location(ex), f"{what}: checked for exact duplicates only (the near-duplicate check "
                                      f"skips rows over {MAX_FUZZY_CHARS:,} characters)"))
    return out


def load_data_tokenizer(cfg):
    """The tokenizer + chat template the model will be trained with (cfg: TailorConfig)."""
    from ..models import load_tokenizer

    return load_tokenizer(cfg.model.base, cfg.model.chat_template, cfg.model.revision)


def token_cache_dir(cfg) -> Path:
    """Where a project keeps its token counts between inspect and prepare."""
    return cfg.path(".tailor/cache/token-counts")


def token_lengths(examples: list[Example], tokenizer, max_length: int, cache: Path | None = None) -> LengthReport:
    """Count prompt, answer (with terminator) and total tokens of every Example.

    A message longer than HUGE_CHARS_PER_TOKEN * max_length characters is counted on that many
    characters only (tokenizing a 5 MB cell takes half a minute to learn it is far too long): its
    counts are lower bounds, still far over max_length, and oversized_rows reports the row.
    `cache`: a folder where the counts are kept between calls (see token_cache.py); rows counted by
    an earlier call with the same tokenizer and template are not rendered again.
    """
    limit = HUGE_CHARS_PER_TOKEN * max_length
    convs = []
    for ex in examples:
        if any(len(m["content"]) > limit for m in ex.messages):
            ex = Example(messages=[{**m, "content": m["content"][:limit]} for m in ex.messages], meta=ex.meta)
        convs.append(ex)
    store = TokenCountCache(cache, tokenizer)
    keys = [conversation_key(ex.messages) for ex in convs] if store.path is not None else []
    n_prompt: list[int] = [0] * len(convs)
    n_whole: list[int] = [0] * len(convs)
    todo: list[int] = []
    for i in range(len(convs)):
        hit = store.get(keys[i]) if keys else None
        if hit is None:
            todo.append(i)
        else:
            n_prompt[i], n_whole[i] = hit
    with subtask("token lengths", total=len(convs)) as advance:
        advance(len(convs) - len(todo))
        for start in range(0, len(todo), _BATCH):  # bounded memory: one batch of rendered text at a time
            idx = todo[start:start + _BATCH]
            batch = [convs[i] for i in idx]
            prompt = _count(tokenizer, _render(tokenizer, [ex.prompt_messages() for ex in batch], True))
            whole = _count(tokenizer, _render(tokenizer, [ex.messages for ex in batch], False))
            for i, p, w in zip(idx, prompt, whole):
                n_prompt[i], n_whole[i] = p, w
            advance(len(batch))
    if keys and (todo or len(store.known) != len(keys)):
        store.save(keys, n_prompt, n_whole)
    rows: list[RowLength] = []
    for ex, p, w in zip(examples, n_prompt, n_whole):
        answer = max(w - p, 0)
        rows.append(RowLength(location(ex), p, answer, w, min(max(w - max_length, 0), answer)))
    return LengthReport(
        max_length=max_length,
        prompt=Stats.of([r.prompt for r in rows]),
        answer=Stats.of([r.answer for r in rows]),
        total=Stats.of([r.total for r in rows]),
        over=[r for r in rows if r.total > max_length],
        empty_after_truncation=[r for r in rows if r.prompt >= max_length],
        histogram=histogram([r.total for r in rows]),
    )


def histogram(values: list[int], bins: int = 20) -> list[list[int]]:
    """[low, high, count] for up to `bins` equal-width integer bins over the values."""
    if not values:
        return []
    lo, hi = min(values), max(values)
    width = max(1, -(-(hi - lo + 1) // bins))  # ceil
    counts, edges = np.histogram(values, bins=np.arange(lo, hi + width + 1, width))
    return [[int(edges[i]), int(edges[i + 1]) - 1, int(c)] for i, c in enumerate(counts)]


def _render(tokenizer, conversations: list[list[dict]], generation_prompt: bool) -> list[str]:
    if not conversations:
        return []
    # One call for the batch: the compiled template is reused (per-row calls cost a third more).
    return tokenizer.apply_chat_template(conversations, tokenize=False, add_generation_prompt=generation_prompt)


def _count(tokenizer, texts: list[str]) -> list[int]:
    if not texts:
        return []
    # The rendered template already holds its special tokens; adding BOS again would over-count.
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "encode_batch_fast"):
        # The same Rust tokenizer `tokenizer(texts)` calls, without building offsets and Python
        # encodings that only the lengths of are used: half the time at 100k rows.
        return [len(e.ids) for e in backend.encode_batch_fast(texts, add_special_tokens=False)]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
