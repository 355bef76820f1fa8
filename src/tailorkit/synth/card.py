"""The data card: a short markdown file next to the output saying what was made, how, and at what cost."""
from __future__ import annotations

import os
from datetime import datetime, timezone

from ..config import TailorConfig

TERMS = ("The teacher's terms of use govern training on its outputs: check that they allow using its "
         "answers to train another model before you train on or publish this dataset.")


def _money(value: float | None) -> str:
    return f"${value:.4f}" if value is not None else "unknown (no price for this model in teacher.prices)"


def render_card(result, cfg: TailorConfig, recipe) -> str:
    r = result
    lines = [
        f"# Data card: {r.output.name}",
        "",
        f"Made by `tailor synth {r.recipe}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        f"- teacher: `{r.teacher}`" + (" (local, in-process)" if r.teacher.startswith("local/") else ""),
        f"- prompt templates: `{recipe.template_hash}`",
        f"- settings: {', '.join(f'{k}={v}' for k, v in recipe.settings().items())}",
        "",
        "## Rows",
        "",
        "| | rows |",
        "|---|---:|",
        f"| input rows | {r.rows_in} |",
        f"| kept (`{r.output.name}`) | {r.kept} |",
    ]
    for reason, count in r.dropped.items():
        lines.append(f"| set aside: {reason} (`{r.aside.name}`) | {count} |")
    lines.append(f"| failed after retries (`{r.errors.name}`) | {r.failed} |")
    if r.not_processed:
        lines.append(f"| not processed yet (rerun the command to continue) | {r.not_processed} |")
    lines += [
        "",
        "## Cost",
        "",
        f"- teacher tokens behind this dataset: {r.prompt_tokens:,} prompt + {r.completion_tokens:,} completion",
        f"- their cost at the configured prices: {_money(r.cost_usd)}",
        f"- this run: {r.requests_sent} requests sent ({r.retries} retries), {r.cache_hits} answered from the "
        f"cache, spent {_money(r.spent_usd)}" + (" — stopped by the budget" if r.stopped_by_budget else ""),
        "",
        "## Terms of use",
        "",
        TERMS,
        "",
    ]
    return "\n".join(lines)


def write_card(result, cfg: TailorConfig, recipe) -> None:
    tmp = result.card.with_name(f".{result.card.name}.tmp{os.getpid()}")
    tmp.write_text(render_card(result, cfg, recipe), encoding="utf-8")
    tmp.replace(result.card)
