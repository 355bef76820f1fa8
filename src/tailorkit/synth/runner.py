"""The bulk runner shared by every recipe: asyncio workers, cache, limiter, retries, budget, journal.

A recipe gives rows (each with an `id`) and an async `process(row, ctx) -> Outcome`; inside it asks
the teacher through `await ctx.ask(messages, params)`. For every request the runner
1. answers from the cache when it can (free, no network),
2. reserves the worst-case cost against the budget (BudgetExhausted stops the run cleanly),
3. waits for the rate limiter and a concurrency slot,
4. retries 429/5xx/timeouts/malformed replies with exponential backoff and jitter, honouring
   Retry-After; a request refused as such, or still failing after all retries, fails its row,
5. writes the completion to the cache before the row can finish.
Each finished row is journaled at once, so a killed run loses nothing and repeats nothing.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from rich.progress import TextColumn

from ..config.synth import TeacherConfig
from ..data.example import Example
from ..errors import TeacherError
from ..progress import progress
from .cache import Cache, request_key
from .journal import Journal
from .limits import Ledger, RateLimiter, backoff_delay
from .teacher import Completion, ConnectionFailed, RejectedRequest, RetryableError, Teacher, estimate_tokens


class Row(Protocol):
    id: str
    ref: dict[str, Any]


@dataclass
class Outcome:
    """How a row ended: kept (an Example), dropped by a filter (with the reason), or error."""

    status: Literal["kept", "dropped", "error"]
    example: Example | None = None
    reason: str | None = None


class RowFailed(Exception):
    """A request of this row failed for good; the row goes to the errors file with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BudgetExhausted(Exception):
    """The next request could pass the budget: the row is left for a later run."""


@dataclass
class RunStats:
    rows_total: int = 0
    rows_resumed: int = 0        # finished by an earlier run, skipped
    rows_finished: int = 0       # finished now (kept or dropped)
    rows_failed: int = 0         # ended in the errors file now
    rows_unprocessed: int = 0    # left for a rerun (budget)
    requests_sent: int = 0       # attempts that reached the network, retries included
    retries: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0       # billed tokens of this invocation
    completion_tokens: int = 0
    spent_usd: float = 0.0
    stopped_by_budget: bool = False
    wall_s: float = 0.0


@dataclass
class RowContext:
    """Handed to a recipe's process(): asks the teacher and tallies the row's token use."""

    runner: "Runner"
    row: Any
    usage: dict[str, float] = field(default_factory=lambda: {"requests": 0, "prompt_tokens": 0,
                                                             "completion_tokens": 0})

    async def ask(self, messages: list[dict], params: dict[str, Any]) -> Completion:
        return await self.runner.ask(self, messages, params)


Process = Callable[[Any, RowContext], Awaitable[Outcome]]


class Runner:
    def __init__(self, teacher: Teacher, cache: Cache, journal: Journal, cfg: TeacherConfig, ledger: Ledger,
                 *, description: str = "synth") -> None:
        self.teacher, self.cache, self.journal, self.cfg, self.ledger = teacher, cache, journal, cfg, ledger
        self.description = description
        self.stats = RunStats()
        self.limiter = RateLimiter(cfg.requests_per_minute, cfg.tokens_per_minute)
        # The local teacher batches what is waiting, grouped by decoding settings: keep several full
        # batches queued so each generate() call gets batch_size prompts.
        self.concurrency = max(cfg.concurrency, 4 * cfg.batch_size) if teacher.is_local else cfg.concurrency
        self._sem = asyncio.Semaphore(self.concurrency)  # bound to the loop on first use (Python >= 3.10)

    def run(self, rows: Sequence[Row], process: Process) -> RunStats:
        """Process every row not finished in the journal; returns this invocation's figures."""
        started = time.monotonic()
        try:
            asyncio.run(self._main(rows, process))
        finally:
            self.journal.close()
            self.stats.wall_s = time.monotonic() - started
            self.stats.spent_usd = self.ledger.spent
            self.stats.stopped_by_budget = self.ledger.exhausted
        return self.stats

    async def _main(self, rows: Sequence[Row], process: Process) -> None:
        done = self.journal.done
        pending = [r for r in rows if r.id not in done]
        self.stats.rows_total = len(rows)
        self.stats.rows_resumed = len(rows) - len(pending)
        try:
            if pending and (self.cfg.probe or self.teacher.is_local):
                await self.teacher.probe()
            with progress(TextColumn("{task.fields[info]}")) as bar:
                task = bar.add_task(self.description, total=len(rows), completed=self.stats.rows_resumed,
                                    info="")
                queue = iter(pending)

                async def worker() -> None:
                    for row in queue:  # a shared iterator: each row goes to exactly one worker
                        if self.ledger.exhausted:
                            return
                        if await self._one(row, process):
                            bar.update(task, advance=1, info=self._info(started))

                started = time.monotonic()
                # Rows may need several requests each; twice the slots keeps the request pipe full.
                workers = [asyncio.create_task(worker()) for _ in range(min(len(pending), 2 * self.concurrency))]
                try:
                    await asyncio.gather(*workers)
                except BaseException:
                    for w in workers:
                        w.cancel()
                    await asyncio.gather(*workers, return_exceptions=True)
                    raise
        finally:
            self.journal.sync()
            await self.teacher.aclose()
        finished = self.stats.rows_finished + self.stats.rows_failed
        self.stats.rows_unprocessed = len(pending) - finished

    async def _one(self, row: Row, process: Process) -> bool:
        ctx = RowContext(self, row)
        try:
            outcome = await process(row, ctx)
        except RowFailed as exc:
            outcome = Outcome("error", None, exc.reason)
        except BudgetExhausted:
            return False
        record = {"id": row.id, "status": outcome.status, "reason": outcome.reason,
                  "example": outcome.example.to_dict() if outcome.example is not None else None,
                  "usage": ctx.usage, "t": time.time()}
        self.journal.append(record)
        if outcome.status == "error":
            self.stats.rows_failed += 1
        else:
            self.stats.rows_finished += 1
        return True

    def _info(self, started: float) -> str:
        s = self.stats
        elapsed = max(time.monotonic() - started, 1e-9)
        rate = (s.rows_finished + s.rows_failed) / elapsed
        spend = f"${self.ledger.spent:.4f}" if self.ledger.price is not None else "$?"
        return f"{rate:.1f} rows/s · {spend} · {s.rows_failed} errors · {s.cache_hits} cached"

    async def ask(self, ctx: RowContext, messages: list[dict], params: dict[str, Any]) -> Completion:
        key = request_key(self.teacher.ident, self.teacher.model, messages, params)
        hit = self.cache.get(key)
        if hit is not None:
            self.stats.cache_hits += 1
            self._tally(ctx, hit)
            return hit
        est_in = estimate_tokens(json.dumps(messages, ensure_ascii=False))
        est_out = int(params.get("max_tokens") or self.cfg.max_tokens)
        reservation = self.ledger.reserve(est_in, est_out)
        if reservation is None:
            raise BudgetExhausted()
        try:
            completion = await self._send(messages, params, est_in + est_out)
        finally:
            self.ledger.release(reservation)
        self.cache.put(key, completion)
        self.ledger.charge(completion.usage.prompt_tokens, completion.usage.completion_tokens)
        self.stats.prompt_tokens += completion.usage.prompt_tokens
        self.stats.completion_tokens += completion.usage.completion_tokens
        self._tally(ctx, completion)
        return completion

    @staticmethod
    def _tally(ctx: RowContext, completion: Completion) -> None:
        ctx.usage["requests"] += 1
        ctx.usage["prompt_tokens"] += completion.usage.prompt_tokens
        ctx.usage["completion_tokens"] += completion.usage.completion_tokens

    async def _send(self, messages: list[dict], params: dict[str, Any], est_tokens: int) -> Completion:
        attempts = self.cfg.max_retries + 1
        for attempt in range(attempts):
            await self.limiter.acquire(est_tokens)
            async with self._sem:
                self.stats.requests_sent += 1
                try:
                    completion = await self.teacher.complete(messages, params)
                except RejectedRequest as exc:
                    raise RowFailed(f"the teacher refused the request: {exc.reason}") from None
                except RetryableError as exc:
                    error = exc
                else:
                    total = completion.usage.prompt_tokens + completion.usage.completion_tokens
                    self.limiter.settle(est_tokens, total)
                    return completion
            if attempt + 1 == attempts:
                break
            self.stats.retries += 1
            if error.retry_after is not None:
                self.limiter.pause(error.retry_after)
            await asyncio.sleep(backoff_delay(attempt, self.cfg.retry_base_s, self.cfg.retry_max_s, error.retry_after))
        if isinstance(error, ConnectionFailed):
            # Not this row's fault: stop the run (the journal keeps what finished) instead of
            # filling the errors file with every remaining row.
            raise TeacherError(f"the teacher at {self.teacher.ident} stopped accepting connections "
                               f"({error.reason}, after {attempts} attempts)",
                               fix="check that the server is up, then rerun the same command to continue")
        raise RowFailed(f"{error.reason} (after {attempts} attempts)")
