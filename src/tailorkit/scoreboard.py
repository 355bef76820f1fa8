"""The headline metrics of `tailor compare`: keys, labels, which direction is better, and how each is
printed. evaluate/ computes them; export's model card and the CLI quote them. It lives below both
so that `train/` (export) never imports `evaluate/`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    better: str  # "higher" | "lower" | "closer" (closer to the reference's value)


METRICS = [
    Metric("nll", "mean NLL of reference (per token)", "lower"),
    Metric("perplexity", "perplexity of reference", "lower"),
    Metric("rouge_l", "ROUGE-L F1", "higher"),
    Metric("chrf", "chrF (0-100)", "higher"),
    Metric("embed_sim", "embedding similarity", "higher"),
    Metric("preamble_rate", "chatty preamble rate", "lower"),
    Metric("never_stops_rate", "never-stops rate", "lower"),
    Metric("median_words", "median length (words)", "closer"),
]


def fmt(key: str, value: float | None) -> str:
    """A metric value as the report, the model card and the CLI print it ("–" when missing)."""
    if value is None:
        return "–"
    if key.endswith("_rate"):
        return f"{100 * value:.1f}%"
    if key in ("chrf", "median_words", "median_tokens"):
        return f"{value:.1f}"
    if key == "perplexity":
        return f"{value:.2f}" if value < 1e4 else f"{value:.3g}"
    return f"{value:.3f}"


def better(metric: Metric, base: float, tuned: float, reference: float | None = None) -> str | None:
    """'tuned', 'base' or 'tie' by the metric's direction; None when it has no direction."""
    if metric.better == "closer":
        if reference is None:
            return None
        base, tuned = -abs(base - reference), -abs(tuned - reference)
    elif metric.better == "lower":
        base, tuned = -base, -tuned
    if math.isclose(base, tuned, rel_tol=1e-9, abs_tol=1e-12):
        return "tie"
    return "tuned" if tuned > base else "base"
