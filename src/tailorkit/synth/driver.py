"""Run one recipe end to end: plan rows, estimate or run them, then write the final files.

Files next to the output (`data/synth.jsonl` here):
- `synth.jsonl`          kept Examples (what `tailor data prepare` reads),
- `synth.aside.jsonl`    Examples set aside, each with `meta.dropped` = the reason (never deleted),
- `synth.errors.jsonl`   rows that failed after all retries, with the reason,
- `synth.card.md`        the data card,
- `.synth.jsonl.journal` the crash-safe journal a rerun resumes from.
The final files are rebuilt from the journal and written atomically at the end of every run.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ..config import TailorConfig
from ..data.example import Example, write_examples
from ..errors import ConfigError
from .cache import Cache
from .filters import duplicate_flags, example_text
from .journal import Journal, journal_path, read_journal
from .limits import Ledger, cost_usd
from .runner import Outcome, RowContext, Runner
from .sources import SourceRow
from .teacher import Teacher


class Recipe(Protocol):
    name: str
    template_hash: str

    def settings(self) -> dict[str, Any]: ...
    async def process(self, row: SourceRow, ctx: RowContext) -> Outcome: ...
    def estimate(self, row: SourceRow) -> list[tuple[int, int]]: ...
    def set_aside(self, row: SourceRow) -> Example: ...
    def extra_flags(self, kept: list[Example]) -> list[str | None]: ...
    def close(self) -> None: ...


@dataclass
class Estimate:
    """A dry run's forecast for the rows not yet finished (token counts from text lengths)."""

    rows: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # None when the teacher's model has no price in teacher.prices


@dataclass
class SynthResult:
    recipe: str
    teacher: str
    output: Path
    aside: Path
    errors: Path
    card: Path
    rows_in: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    not_processed: int = 0
    resumed: int = 0
    requests_sent: int = 0
    cache_hits: int = 0
    retries: int = 0
    prompt_tokens: int = 0          # all teacher tokens behind this dataset (cached ones included)
    completion_tokens: int = 0
    cost_usd: float | None = None   # what those tokens cost at teacher.prices (None: no price known)
    spent_usd: float | None = None  # what this invocation spent
    stopped_by_budget: bool = False
    wall_s: float = 0.0
    dry_run: bool = False
    estimate: Estimate | None = None

    def summary(self) -> str:
        dropped = sum(self.dropped.values())
        cost = f"${self.cost_usd:.4f}" if self.cost_usd is not None else "cost unknown"
        return (f"{self.kept}/{self.rows_in} kept, {dropped} set aside, {self.failed} failed; teacher "
                f"{self.teacher}; {self.requests_sent} requests sent, {self.cache_hits} cached; {cost}; "
                f"{self.wall_s:.1f}s")


def outputs_for(out: Path) -> tuple[Path, Path, Path]:
    stem = out.name[: -len(".jsonl")] if out.name.endswith(".jsonl") else out.stem
    return (out.with_name(f"{stem}.aside.jsonl"), out.with_name(f"{stem}.errors.jsonl"),
            out.with_name(f"{stem}.card.md"))


def teacher_label(teacher: Teacher) -> str:
    return f"{teacher.host}/{teacher.model}" if not teacher.is_local else f"local/{teacher.model}"


def provenance(recipe: Recipe, teacher: Teacher, temperature: float | None, ref: dict[str, Any],
               score: Any = None, **extra: Any) -> dict[str, Any]:
    """The meta every synthetic row carries."""
    return {"recipe": recipe.name, "teacher": {"host": teacher.host, "model": teacher.model},
            "temperature": temperature, "template": recipe.template_hash, **ref, "score": score, **extra,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def check_price(cfg: TailorConfig, teacher: Teacher, budget: float | None):
    price = cfg.teacher.prices.get(teacher.model)
    if teacher.is_local:
        from ..config.synth import Price

        return Price(input=0.0, output=0.0)  # a local model costs no money
    if budget is not None and price is None:
        raise ConfigError(f"--budget needs the price of '{teacher.model}', and teacher.prices has none",
                          where="teacher.prices",
                          fix=f"add teacher.prices.{teacher.model}: {{input: <USD per 1M>, output: <USD per 1M>}}")
    return price


def run_recipe(cfg: TailorConfig, recipe: Recipe, teacher: Teacher, rows: list[SourceRow], out: Path, *,
               dry_run: bool = False, budget: float | None = None) -> SynthResult:
    """Run (or with dry_run, only estimate) `recipe` over `rows` into `out` and its sibling files."""
    price = check_price(cfg, teacher, budget)
    aside, errors, card = outputs_for(out)
    result = SynthResult(recipe=recipe.name, teacher=teacher_label(teacher), output=out, aside=aside,
                         errors=errors, card=card, rows_in=len(rows), dry_run=dry_run)
    signature = _signature(recipe, teacher)
    jpath = journal_path(out)
    try:
        if dry_run:
            records = read_journal(jpath, signature)
            result.estimate = _estimate(recipe, rows, records, price)
            return result
        cache = Cache(cfg.path(cfg.synth.cache))
        journal = Journal(jpath, signature)
        runner = Runner(teacher, cache, journal, cfg.teacher, Ledger(price, budget),
                        description=f"synth {recipe.name}")
        try:
            stats = runner.run([r for r in rows if r.skip is None], recipe.process)
        finally:
            cache.close()
    finally:
        recipe.close()
    result.resumed, result.requests_sent = stats.rows_resumed, stats.requests_sent
    result.cache_hits, result.retries = stats.cache_hits, stats.retries
    result.spent_usd = stats.spent_usd if price is not None else None
    result.stopped_by_budget, result.wall_s = stats.stopped_by_budget, stats.wall_s
    _finalize(cfg, recipe, rows, journal.records, result, price)
    from .card import write_card

    write_card(result, cfg, recipe)
    return result


def _signature(recipe: Recipe, teacher: Teacher) -> str:
    blob = json.dumps({"recipe": recipe.name, "templates": recipe.template_hash, "teacher": teacher.ident,
                       "model": teacher.model, "settings": recipe.settings()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _estimate(recipe: Recipe, rows: list[SourceRow], records: dict[str, dict], price) -> Estimate:
    todo = [r for r in rows if r.skip is None and records.get(r.id, {}).get("status") not in ("kept", "dropped")]
    calls = [call for r in todo for call in recipe.estimate(r)]
    p_tok, c_tok = sum(c[0] for c in calls), sum(c[1] for c in calls)
    return Estimate(rows=len(todo), requests=len(calls), prompt_tokens=p_tok, completion_tokens=c_tok,
                    cost_usd=cost_usd(price, p_tok, c_tok) if price is not None else None)


def _finalize(cfg: TailorConfig, recipe: Recipe, rows: list[SourceRow], records: dict[str, dict],
              result: SynthResult, price) -> None:
    """Rebuild the output, aside and errors files from the journal, in source order, atomically."""
    kept: list[Example] = []
    aside: list[Example] = []
    failed: list[dict[str, Any]] = []
    reasons: Counter[str] = Counter()
    for row in rows:
        if row.skip is not None:
            ex = recipe.set_aside(row)
            ex.meta["dropped"] = row.skip
            aside.append(ex)
            reasons[row.skip] += 1
            continue
        rec = records.get(row.id)
        if rec is None:
            result.not_processed += 1
            continue
        usage = rec.get("usage") or {}
        result.prompt_tokens += int(usage.get("prompt_tokens", 0))
        result.completion_tokens += int(usage.get("completion_tokens", 0))
        if rec["status"] == "error":
            failed.append({"id": row.id, **row.ref, "reason": rec.get("reason"), "input": row.text[:500]})
            continue
        ex = (Example.from_dict(rec["example"], where=f"journal:{row.id}") if rec.get("example")
              else recipe.set_aside(row))
        if rec["status"] == "dropped":
            ex.meta["dropped"] = rec.get("reason") or "dropped"
            aside.append(ex)
            reasons[ex.meta["dropped"]] += 1
        else:
            kept.append(ex)
    flags = duplicate_flags([example_text(ex.messages) for ex in kept], cfg.synth.near_duplicate_threshold)
    extra = recipe.extra_flags(kept)
    final: list[Example] = []
    for ex, flag, more in zip(kept, flags, extra):
        reason = flag or more
        if reason:
            ex.meta["dropped"] = reason
            aside.append(ex)
            reasons[reason] += 1
        else:
            final.append(ex)
    write_examples(result.output, final)
    write_examples(result.aside, aside)
    _write_jsonl(result.errors, failed)
    result.kept, result.failed, result.dropped = len(final), len(failed), dict(reasons.most_common())
    if price is not None:
        result.cost_usd = cost_usd(price, result.prompt_tokens, result.completion_tokens)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
