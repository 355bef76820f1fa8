"""Next-token choice shared by the backends that decode token by token themselves (the llama.cpp engine,
its batch decoder, and the HF slot decoder): the penalties by HF's formulas, then greedy or a seeded draw.

Hand-written in numpy rather than HF's logits processors because llama.cpp's logits arrive as numpy
arrays one row at a time; tests check that the answers equal HF generate's.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..config.generation import GenerationConfig


def penalize(logits: np.ndarray, generated: list[int], prompt: Sequence[int], gen: GenerationConfig) -> np.ndarray:
    """HF's RepetitionPenaltyLogitsProcessor and NoRepeatNGramLogitsProcessor, over the generated tokens
    (plus the prompt when gen.penalize_prompt), in that order; modifies and returns `logits`."""
    seq = list(prompt) + generated if gen.penalize_prompt else generated
    if gen.repetition_penalty != 1.0 and seq:
        ids = np.unique(np.asarray(seq, dtype=np.int64))
        picked = logits[ids]
        logits[ids] = np.where(picked < 0, picked * gen.repetition_penalty, picked / gen.repetition_penalty)
    n = gen.no_repeat_ngram_size
    if n > 0 and len(seq) + 1 >= n:
        tail = tuple(seq[len(seq) - n + 1:]) if n > 1 else ()
        banned = {seq[i + n - 1] for i in range(len(seq) - n + 1) if tuple(seq[i:i + n - 1]) == tail}
        if banned:
            logits[list(banned)] = -np.inf
    return logits


def pick(logits: np.ndarray, gen: GenerationConfig, rng: np.random.Generator) -> int:
    """Greedy at temperature 0 (first maximum, as torch.argmax); else temperature, then top-p, then a draw."""
    if gen.temperature <= 0:
        return int(np.argmax(logits))
    scores = logits.astype(np.float64) / gen.temperature
    if gen.top_p < 1.0:  # HF TopPLogitsWarper: drop the low tail whose mass is <= 1 - top_p, keep >= 1
        order = np.argsort(scores)
        probs = np.exp(scores[order] - scores[order].max())
        cum = np.cumsum(probs / probs.sum())
        drop = cum <= (1 - gen.top_p)
        drop[-1] = False
        scores[order[drop]] = -np.inf
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    return int(rng.choice(len(probs), p=probs))
