"""The pilot's recommendation in plain words, with the numbers it rests on.

The deciding figure is, in order of preference: the share of answers passing every task check
(when compare.checks are configured: the user's own definition of "does the job"), the judge's win
rate against the base model (when a judge is configured), else the reference answers' NLL per token
under each route (how likely the route makes the right answer), else the embedding similarity to the
references. NLL comes before similarity because similarity cannot tell facts apart: on the bundled
model's facts task a fine-tuned model that answered "The capital of Vellmora is <a wrong town>" scored
0.802 against 0.766 for retrieval quoting the right sentence, while the references' NLL was 0.85 for the
tuned model and 0.26 with retrieval. Routes within a tolerance of the best one count as equally good, and the
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
    if all(routes[r].get("nll") is not None for r in routes):
        return "nll", "reference NLL per token (lower is better)", 0.05
    return "similarity", "similarity to the references", 0.02


def _score(key: str, value: float | None) -> float | None:
    """Higher is better for every deciding figure (NLL is negated)."""
    return None if value is None else (-value if key == "nll" else value)


def _fmt(key: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.0f}%" if key in ("checks_all", "judge_win_rate") else f"{value:.3f}"


def _tol(key: str, tol: float) -> str:
    if key == "nll":
        return f"{tol:.2f} nats"
    return f"{tol:.2f}" if key == "similarity" else f"{100 * tol:.0f} points"


def recommend(routes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """{"route", "headline", "reason", "metric"} from the measured routes."""
    key, label, tol = deciding_metric(routes)
    value = {r: routes[r].get(key) if key != "judge_win_rate" or r != "base" else 0.5 for r in routes}
    score = {r: _score(key, value[r]) for r in routes}
    best = max(routes, key=lambda r: (score[r] if score[r] is not None else -1e9, -SIMPLICITY[r]))
    top = score[best]
    good = [r for r in routes if score[r] is not None and score[r] >= top - tol]
    pick = min(good, key=lambda r: SIMPLICITY[r])
    # Compare with the best route that is not as good (the alternative the advice rules out).
    worse = [r for r in routes if r not in good] or [r for r in routes if r != pick]
    runner = max(worse, key=lambda r: (score[r] if score[r] is not None else -1e9, SIMPLICITY[r]))
    extra = routes[pick]["prompt_tokens"] - routes["base"]["prompt_tokens"]
    headline = (f"{ADVICE[pick]}: {label} {_fmt(key, value[pick])} vs {_fmt(key, value[runner])} for "
                f"{LABELS[runner]}; cost {extra:+.0f} prompt tokens per request")
    def details(r: str) -> str:
        sim = "" if key == "similarity" else f"similarity {routes[r]['similarity']:.3f}, "
        nll = "" if key == "nll" else f"reference NLL {routes[r]['nll']:.2f}, "
        return (f"{LABELS[r]} {_fmt(key, value[r])} ({sim}{nll}"
                f"{routes[r]['prompt_tokens']:.0f} prompt tokens, {routes[r]['latency_s']:.2f} s per answer)")

    figures = "; ".join(details(r) for r in ROUTES)
    reason = f"Decided on {label}, the figure that matters most here: {figures}. "
    ties = [r for r in good if r != pick]
    if ties and pick == best:
        reason += (f"{', '.join(LABELS[r] for r in ties).capitalize()} scored within {_tol(key, tol)} of it but "
                   f"{'are' if len(ties) > 1 else 'is'} more work to run, so the simpler route is recommended. ")
    if pick != best:
        reason += (f"{LABELS[best]} scored best ({_fmt(key, value[best])}), but {LABELS[pick]} is within "
                   f"{_tol(key, tol)} of it and simpler to run, so it is "
                   "recommended. ")
    if pick in ("base+retrieval", "tuned+retrieval"):
        reason += f"Retrieval adds {extra:.0f} prompt tokens to every request. "
    if pick in ("tuned", "tuned+retrieval"):
        reason += "The pilot's LoRA was short: a full `tailor train` usually does better still. "
    return {"route": pick, "best_scoring": best, "metric": key, "metric_label": label, "headline": headline,
            "reason": reason.strip()}
