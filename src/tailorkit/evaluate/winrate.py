"""Win-rate statistics for the pairwise judge: bootstrap interval and length-controlled win rate.

Scores per row are 1 (tuned won in both orders), 0 (base won in both) or 0.5 (a tie, including
two orders that disagree). Win rate = mean score = (wins + ties/2) / n.

Length control follows AlpacaEval's idea (arXiv 2404.04475): regress the verdict on the length
difference and predict at zero difference, i.e. "how often would tuned win if both answers were
equally long". The fit is a two-parameter logistic regression with fractional outcomes (ties are
0.5) on x = tanh(d / sd(d)), d = tuned words - base words, solved by Newton/IRLS with a small ridge
penalty. It is hand-written because scikit-learn and statsmodels are not dependencies and the
model has two parameters: twenty lines of numpy beat a heavy import. The ridge keeps the slope
finite under perfect separation (a judge that always picks the longer answer), where the
unpenalised maximum-likelihood slope is infinite.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def win_rate(scores: Sequence[float]) -> float | None:
    return float(np.mean(scores)) if len(scores) else None


def bootstrap_interval(scores: Sequence[float], n_resamples: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean score (rows resampled with replacement)."""
    if not len(scores):
        return None
    arr = np.asarray(scores, dtype=float)
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, len(arr), size=(n_resamples, len(arr)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def logistic_fit(x: np.ndarray, y: np.ndarray, ridge: float = 0.1, iters: int = 50) -> np.ndarray:
    """(intercept, slope) maximising the penalised Bernoulli log-likelihood of fractional y in [0, 1]
    (the penalty `ridge` * slope^2 / 2 applies to the slope only)."""
    X = np.column_stack([np.ones_like(x), x])
    beta = np.zeros(2)
    penalty = np.diag([0.0, ridge])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(X @ beta)))
        w = np.clip(p * (1 - p), 1e-9, None)
        grad = X.T @ (y - p) - penalty @ beta
        hess = X.T @ (X * w[:, None]) + penalty + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def length_controlled(scores: Sequence[float], length_diff: Sequence[float]) -> float | None:
    """The win rate predicted at zero length difference; the plain win rate when lengths never differ."""
    if not len(scores):
        return None
    y = np.asarray(scores, dtype=float)
    d = np.asarray(length_diff, dtype=float)
    sd = float(d.std())
    if sd == 0.0:
        return float(y.mean())
    b0, _ = logistic_fit(np.tanh(d / sd), y)
    return float(1 / (1 + np.exp(-b0)))


def verdict(interval: tuple[float, float] | None) -> str:
    """'tuned better' / 'base better' when the 95% interval excludes 50%, else 'insufficient evidence'."""
    if interval is None:
        return "insufficient evidence"
    lo, hi = interval
    if lo > 0.5:
        return "tuned better"
    if hi < 0.5:
        return "base better"
    return "insufficient evidence"
