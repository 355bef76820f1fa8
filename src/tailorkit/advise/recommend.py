"""The pilot's recommendation in plain words, with the numbers it rests on.

The deciding figure is, in order of preference: the share of answers passing every task check
(when compare.checks are configured: the user's own definition of "does the job"), the judge's win
rate against the base model (when a judge is configured), else the embedding similarity to the
reference answers. Routes within a tolerance of the best one count as equally good, and the
simplest of those is recommended: base, then retrieval (no training, but prompt tokens on every
request), then fine-tuning (a training run, no extra tokens), then both.
"""
from __future__ import annotations

from typing import Any

from .routes import LABELS, ROUTES

SIMPLICITY = {"base": 0, "base+retrieval": 1, "tuned": 2, "tuned+retrieval": 3}
ADVICE = {"base": "no change: the base model already does as well as any route piloted",
          "base+retrieval": "retrieval (a knowledge base / few-shot examples, no training)",
          "tuned": "fine-tune", "tuned+retrieval": "both: fine-tune and retrieve"}


def deciding_metric(routes: dict[str, dict[str, Any]]) -> tuple[str, str, float]:
    """(key, label, tolerance) of the figure that decides."""
    first = routes[ROUTES[0]]
    if "checks_all" in first:
        return "checks_all", "all task checks passed", 0.05
    if routes.get("tuned", {}).get("judge_win_rate") is not None:
        return "judge_win_rate", "judge win rate vs base", 0.05
    return "similarity", "similarity to the references", 0.02


def _fmt(key: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.0f}%" if key in ("checks_all", "judge_win_rate") else f"{value:.3f}"


def _tol(key: str, tol: float) -> str:
    return f"{tol:.2f}" if key == "similarity" else f"{100 * tol:.0f} points"


def recommend(routes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """{"route", "headline", "reason", "metric"} from the measured routes."""
    key, label, tol = deciding_metric(routes)
    value = {r: routes[r].get(key) if key != "judge_win_rate" or r != "base" else 0.5 for r in routes}
    best = max(routes, key=lambda r: (value[r] if value[r] is not None else -1.0, -SIMPLICITY[r]))
    top = value[best]
    good = [r for r in routes if value[r] is not None and value[r] >= top - tol]
    pick = min(good, key=lambda r: SIMPLICITY[r])
    # Compare with the best route that is not as good (the alternative the advice rules out).
    worse = [r for r in routes if r not in good] or [r for r in routes if r != pick]
    runner = max(worse, key=lambda r: (value[r] if value[r] is not None else -1.0, SIMPLICITY[r]))
    extra = routes[pick]["prompt_tokens"] - routes["base"]["prompt_tokens"]
    headline = (f"{ADVICE[pick]}: {label} {_fmt(key, value[pick])} vs {_fmt(key, value[runner])} for "
                f"{LABELS[runner]}; cost {extra:+.0f} prompt tokens per request")
    def details(r: str) -> str:
        sim = "" if key == "similarity" else f"similarity {routes[r]['similarity']:.3f}, "
        return (f"{LABELS[r]} {_fmt(key, value[r])} ({sim}reference NLL {routes[r]['nll']:.2f}, "
                f"{routes[r]['prompt_tokens']:.0f} prompt tokens, {routes[r]['latency_s']:.2f} s per answer)")

    figures = "; ".join(details(r) for r in ROUTES)
    reason = f"Decided on {label}, the figure that matters most here: {figures}. "
    ties = [r for r in good if r != pick]
    if ties and pick == best:
        reason += (f"{', '.join(LABELS[r] for r in ties).capitalize()} scored within {_tol(key, tol)} of it but "
                   f"{'are' if len(ties) > 1 else 'is'} more work to run, so the simpler route is recommended. ")
    if pick != best:
        reason += (f"{LABELS[best]} scored highest ({_fmt(key, top)}), but {LABELS[pick]} is within "
                   f"{_tol(key, tol)} of it and simpler to run, so it is "
                   "recommended. ")
    if pick in ("base+retrieval", "tuned+retrieval"):
        reason += f"Retrieval adds {extra:.0f} prompt tokens to every request. "
    if pick in ("tuned", "tuned+retrieval"):
        reason += "The pilot's LoRA was short: a full `tailor train` usually does better still. "
    return {"route": pick, "best_scoring": best, "metric": key, "metric_label": label, "headline": headline,
            "reason": reason.strip()}
