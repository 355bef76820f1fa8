"""The pairwise judge: would a strong model prefer the tuned answer or the base answer?

Every test row is judged twice, with the answers in both positions (A = base, B = tuned, then
swapped), because judges favour a position (MT-Bench: GPT-4 kept its verdict after a swap only
65% of the time). The request and the reference answer are shown as guidance. The judge replies
in JSON, {"winner": "A" | "B" | "tie", "reason": "..."}; a reply that does not parse is a parse
failure, counted and shown, and the row is left out of the win rate (never scored as a loss).
A row whose two orders disagree is a tie. Win rate, its bootstrap interval and the
length-controlled win rate are computed in winrate.py.

Requests go through the synth bulk runner (tailorkit.synth.runner): cache (a rerun sends nothing),
retries with backoff, rate limits, budget. A killed run resumes from the cache: every answered
request is stored before its row finishes. With no `compare.judge.base_url` the bundled local
model judges, which is far too weak to trust; a warning says so.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import TailorConfig
from ..config.judge import JudgeConfig
from ..errors import ConfigError, TeacherError
from . import winrate as W

SYSTEM = (
    "You are an impartial judge. You compare two answers, A and B, to the same user request. "
    "A reference answer written by the user shows what a good answer looks like: prefer the answer "
    "that better does what the request and the reference call for (content, format, style), not the "
    "longer one, and ignore the order in which the answers appear. "
    'Reply with JSON only: {"winner": "A" or "B" or "tie", "reason": "<one short sentence>"}.'
)
USER = ("[Request]\n{request}\n[End of request]\n\n[Reference answer]\n{reference}\n[End of reference answer]\n\n"
        "[Answer A]\n{a}\n[End of answer A]\n\n[Answer B]\n{b}\n[End of answer B]\n\n"
        "Which answer is better? Reply with the JSON object only.")
VERDICT_SCHEMA = {"type": "json_schema", "json_schema": {"name": "verdict", "strict": True, "schema": {
    "type": "object", "additionalProperties": False, "required": ["winner", "reason"],
    "properties": {"winner": {"type": "string", "enum": ["A", "B", "tie"]}, "reason": {"type": "string"}}}}}
LOCAL_WARNING = ("compare.judge has no base_url, so the bundled local model judges: a 135M model is not a "
                 "reliable judge; set compare.judge.base_url to a strong OpenAI-compatible model for verdicts "
                 "worth trusting")


@dataclass
class JudgeRow:
    request: str
    reference: str
    base: str
    tuned: str


@dataclass
class JudgeResult:
    """Aggregates over the judged rows, and one verdict dict per input row (in input order)."""

    judge: str
    n_rows: int
    wins: int
    losses: int
    ties: int
    inconsistent: int  # ties that came from two orders disagreeing
    parse_failures: int  # rows left out: a reply in either order had no valid verdict
    errors: int  # rows left out: the judge request failed after all retries (or the budget ran out)
    win_rate: float | None
    interval: tuple[float, float] | None
    length_controlled: float | None
    verdict: str
    requests_sent: int
    cache_hits: int
    local: bool
    rows: list[dict[str, Any]] = field(repr=False, default_factory=list)

    @property
    def judged(self) -> int:
        return self.wins + self.losses + self.ties

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("judge", "n_rows", "wins", "losses", "ties", "inconsistent",
                                           "parse_failures", "errors", "win_rate", "length_controlled",
                                           "verdict", "requests_sent", "cache_hits", "local")}
        d.update(enabled=True, judged=self.judged, interval=list(self.interval) if self.interval else None,
                 warning=LOCAL_WARNING if self.local else None)
        return d

    def summary(self) -> str:
        if self.win_rate is None:
            return f"judge {self.judge}: no row could be judged ({self.parse_failures} parse failures)"
        lo, hi = self.interval
        return (f"judge {self.judge}: tuned win rate {100 * self.win_rate:.0f}% (95% CI {100 * lo:.0f}-{100 * hi:.0f}%, "
                f"length-controlled {100 * self.length_controlled:.0f}%) on {self.judged} rows: {self.verdict}")


def parse_verdict(text: str) -> tuple[str, str] | None:
    """("A" | "B" | "tie", reason) from a JSON reply (fenced or inside prose), or None."""
    from ..synth.parse import extract_json

    value = extract_json(text)
    if not isinstance(value, dict):
        return None
    winner = value.get("winner")
    if not isinstance(winner, str):
        return None
    winner = winner.strip()
    if winner.upper() in ("A", "B"):
        winner = winner.upper()
    elif winner.lower() == "tie":
        winner = "tie"
    else:
        return None
    return winner, " ".join(str(value.get("reason") or "").split())[:400]


def _judge_cfg(cfg: TailorConfig) -> JudgeConfig:
    if cfg.compare.judge is None:
        raise ConfigError("the judge is off", where="compare.judge",
                          fix="set compare.judge.base_url (or pass --judge URL)")
    return cfg.compare.judge


def make_judge(cfg: TailorConfig):
    """The judge as a teacher (OpenAI-compatible endpoint, or the local model with a warning)."""
    from ..synth.teacher import make_teacher

    jc = _judge_cfg(cfg)
    if not jc.base_url:
        warnings.warn(LOCAL_WARNING, stacklevel=2)
    try:
        return make_teacher(jc)
    except TeacherError as exc:
        raise _as_judge_error(exc) from None


def _as_judge_error(exc: TeacherError) -> TeacherError:
    what = exc.what.replace("the teacher", "the judge").replace("teacher.", "compare.judge.")
    return TeacherError(what, where="compare.judge.base_url",
                        fix="start the judge server, or correct compare.judge.base_url (tailor compare --judge URL)")


def probe_judge(cfg: TailorConfig) -> None:
    """Raise a one-line TeacherError now when the judge endpoint refuses connections or the key."""
    import asyncio

    jc = _judge_cfg(cfg)
    if not jc.base_url or not jc.probe:
        return
    judge = make_judge(cfg)

    async def go() -> None:
        try:
            await judge.probe()
        finally:
            await judge.aclose()

    try:
        asyncio.run(go())
    except TeacherError as exc:
        raise _as_judge_error(exc) from None


def _orders(row: JudgeRow) -> list[tuple[str, str, dict[str, str]]]:
    """(answer A, answer B, position -> model) for both orders."""
    return [(row.base, row.tuned, {"A": "base", "B": "tuned"}),
            (row.tuned, row.base, {"A": "tuned", "B": "base"})]


@dataclass
class _Item:
    id: str
    ref: dict[str, Any]
    row: JudgeRow


def judge_pairs(cfg: TailorConfig, rows: list[JudgeRow], *, cache_path: Path | None = None) -> JudgeResult:
    """Judge each row in both orders through the bulk runner; aggregate into win rates."""
    from ..synth.cache import Cache
    from ..synth.journal import Journal
    from ..synth.limits import Ledger
    from ..synth.runner import Outcome, Runner

    jc = _judge_cfg(cfg)
    judge = make_judge(cfg)
    price = jc.prices.get(judge.model) if not judge.is_local else None
    if jc.budget_usd is not None and price is None and not judge.is_local:
        raise ConfigError(f"compare.judge.budget_usd needs the price of '{judge.model}'",
                          where="compare.judge.prices",
                          fix=f"add compare.judge.prices.{judge.model}: {{input: <USD per 1M>, output: <USD per 1M>}}")
    params: dict[str, Any] = {"temperature": jc.temperature, "max_tokens": jc.max_tokens}
    if jc.structured_output != "off" and not judge.is_local:
        params["response_format"] = VERDICT_SCHEMA
    found: dict[str, list[dict[str, Any]]] = {}

    async def process(item: _Item, ctx) -> Outcome:
        sides = []
        for a, b, names in _orders(item.row):
            msgs = [{"role": "system", "content": SYSTEM},
                    {"role": "user", "content": USER.format(request=item.row.request, reference=item.row.reference,
                                                            a=a, b=b)}]
            reply = await ctx.ask(msgs, params)
            parsed = parse_verdict(reply.text)
            sides.append({"raw": reply.text[:600], "winner": names.get(parsed[0], "tie") if parsed else None,
                          "reason": parsed[1] if parsed else None})
        found[item.id] = sides
        return Outcome("kept")

    items = [_Item(hashlib.sha256(json.dumps([r.request, r.reference, r.base, r.tuned]).encode()).hexdigest()[:16]
                   + f"-{i}", {"index": i}, r) for i, r in enumerate(rows)]
    cache = Cache(cache_path or cfg.path(jc.cache))
    # The journal is per call (a temporary file): resuming a killed run is the cache's job, and the
    # verdicts must be rebuilt from the replies anyway.
    with tempfile.TemporaryDirectory(prefix="tailor-judge-") as tmp:
        journal = Journal(Path(tmp) / "judge.journal", "judge")
        runner = Runner(judge, cache, journal, jc, Ledger(price, jc.budget_usd), description="judging")
        try:
            stats = runner.run(items, process)
        except TeacherError as exc:
            raise _as_judge_error(exc) from None
        finally:
            journal.close()
            cache.close()
        failed = {rid: rec.get("reason") for rid, rec in journal.records.items() if rec.get("status") == "error"}
    label = f"{judge.host}/{judge.model}" if not judge.is_local else f"local/{judge.model}"
    return _aggregate(label, jc, rows, items, found, failed, stats, judge.is_local)


def _aggregate(label: str, jc: JudgeConfig, rows: list[JudgeRow], items: list[_Item],
               found: dict[str, list[dict]], failed: dict[str, str | None], stats, local: bool) -> JudgeResult:
    per_row: list[dict[str, Any]] = []
    scores: list[float] = []
    diffs: list[float] = []
    counts = {"tuned": 0, "base": 0, "tie": 0}
    inconsistent = parse_failures = errors = 0
    for item, row in zip(items, rows):
        sides = found.get(item.id)
        if sides is None:
            errors += 1
            per_row.append({"outcome": "error", "reason": failed.get(item.id) or "not judged (budget or stop)"})
            continue
        winners = [s["winner"] for s in sides]
        reasons = [s["reason"] for s in sides]
        if None in winners:
            parse_failures += 1
            bad = next(s["raw"] for s in sides if s["winner"] is None)
            per_row.append({"outcome": "parse_failure", "orders": winners, "reasons": reasons, "raw": bad})
            continue
        outcome = winners[0] if winners[0] == winners[1] else "tie"
        if winners[0] != winners[1]:
            inconsistent += 1
        counts[outcome] += 1
        scores.append({"tuned": 1.0, "base": 0.0, "tie": 0.5}[outcome])
        diffs.append(len(row.tuned.split()) - len(row.base.split()))
        per_row.append({"outcome": outcome, "orders": winners, "reasons": reasons,
                        "consistent": winners[0] == winners[1]})
    interval = W.bootstrap_interval(scores, jc.bootstrap, jc.seed)
    return JudgeResult(judge=label, n_rows=len(rows), wins=counts["tuned"], losses=counts["base"], ties=counts["tie"],
                       inconsistent=inconsistent, parse_failures=parse_failures, errors=errors,
                       win_rate=W.win_rate(scores), interval=interval,
                       length_controlled=W.length_controlled(scores, diffs), verdict=W.verdict(interval),
                       requests_sent=stats.requests_sent, cache_hits=stats.cache_hits, local=local, rows=per_row)
