"""Token-length statistics with the model's own chat template, and the rows max_length would cut.

Each Example is rendered twice: the prompt (every turn before the last answer, plus the
generation prompt) and the whole conversation. Answer tokens = whole - prompt, so they include the
template's terminator (e.g. `<|im_end|>`), which training must keep. A row whose prompt alone
reaches max_length would have its answer truncated to nothing: `prepare` refuses it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError
from .example import Example
from .load import location


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


def load_data_tokenizer(cfg):
    """The tokenizer + chat template the model will be trained with (cfg: TailorConfig)."""
    from ..models import load_tokenizer

    return load_tokenizer(cfg.model.base, cfg.model.chat_template, cfg.model.revision)


def token_lengths(examples: list[Example], tokenizer, max_length: int) -> LengthReport:
    """Count prompt, answer (with terminator) and total tokens of every Example."""
    prompts, wholes = [], []
    for ex in examples:
        prompts.append(tokenizer.apply_chat_template(ex.prompt_messages(), tokenize=False, add_generation_prompt=True))
        wholes.append(tokenizer.apply_chat_template(ex.messages, tokenize=False))
    n_prompt = _count(tokenizer, prompts)
    n_whole = _count(tokenizer, wholes)
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


def _count(tokenizer, texts: list[str]) -> list[int]:
    if not texts:
        return []
    # The rendered template already holds its special tokens; adding BOS again would over-count.
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
