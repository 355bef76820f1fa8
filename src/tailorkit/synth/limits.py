"""Pacing and money: the requests/tokens-per-minute limiter, retry backoff, and the budget ledger.

The budget reserves each request's worst case (estimated prompt + max_tokens completion) before it is
sent and settles the real usage after, so the spend can never pass the budget even with many
requests in flight.
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from ..config.synth import Price


class RateLimiter:
    """Requests/min paced evenly; tokens/min as a bucket holding one minute's worth; a shared pause.

    A 429 with Retry-After pauses every worker, not just the one that got it: the server's limit is
    shared, and the others would only collect 429s of their own.
    """

    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None) -> None:
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.tpm = tokens_per_minute
        self._next_slot = 0.0
        self._tokens = float(tokens_per_minute or 0)
        self._stamp = time.monotonic()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self, tokens: int = 0) -> None:
        if not (self.interval or self.tpm or self._paused_until > time.monotonic()):
            return
        async with self._lock:  # one waiter at a time keeps the pacing fair and the bucket exact
            while True:
                now = time.monotonic()
                wait = self._paused_until - now
                if self.interval:
                    wait = max(wait, self._next_slot - now)
                if self.tpm:
                    self._tokens = min(self.tpm, self._tokens + (now - self._stamp) * self.tpm / 60.0)
                    self._stamp = now
                    need = min(tokens, self.tpm)  # a request bigger than a minute's worth waits for a full bucket
                    if self._tokens < need:
                        wait = max(wait, (need - self._tokens) * 60.0 / self.tpm)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            if self.interval:
                self._next_slot = max(self._next_slot, time.monotonic()) + self.interval
            if self.tpm:
                self._tokens -= min(tokens, self.tpm)

    def settle(self, estimated: int, actual: int) -> None:
        """Give back (or take) the difference between the reserved and the real token count."""
        if self.tpm:
            self._tokens = min(self.tpm, self._tokens + estimated - actual)


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff; a server's Retry-After wins when it asks for longer."""
    delay = random.uniform(0, min(cap, base * (2 ** attempt)))
    if retry_after is not None:
        delay = max(delay, retry_after + random.uniform(0, 0.1 * max(retry_after, 0.1)))
    return delay


def cost_usd(price: Price | None, prompt_tokens: int, completion_tokens: int) -> float:
    if price is None:
        return 0.0
    return (prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000


@dataclass
class Ledger:
    """Money spent by this invocation, with reservations for requests in flight."""

    price: Price | None
    budget: float | None = None
    spent: float = 0.0
    reserved: float = 0.0
    exhausted: bool = False

    def reserve(self, prompt_tokens: int, max_completion_tokens: int) -> float | None:
        """Reserve a request's worst case; None (and `exhausted`) when it could pass the budget."""
        worst = cost_usd(self.price, prompt_tokens, max_completion_tokens)
        if self.exhausted or (self.budget is not None and self.spent + self.reserved + worst > self.budget):
            self.exhausted = True
            return None
        self.reserved += worst
        return worst

    def release(self, reservation: float) -> None:
        self.reserved = max(0.0, self.reserved - reservation)

    def charge(self, prompt_tokens: int, completion_tokens: int) -> float:
        amount = cost_usd(self.price, prompt_tokens, completion_tokens)
        self.spent += amount
        return amount
