"""Expansion (self-instruct): from seed Examples the teacher writes new (request, answer) pairs.

Each new row shows the teacher a few seeds, chosen by a seeded generator from the row number alone,
so a rerun sends byte-identical requests (the cache answers them). New pairs are filtered like every
recipe's output, and a request too close to any earlier one (ROUGE-L over words against the seeds and
the rows kept before it) is set aside as a near-duplicate of the pool.
"""
from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from ..config import TailorConfig
from ..data.example import Example
from .backtranslate import ask_parsed
from .driver import provenance
from .filters import check_text, rouge_l
from .parse import parse_pair
from .prompts import EXPAND_SYSTEM, EXPAND_USER, PAIR_SCHEMA, chat, fill, instructions_block, template_hash
from .runner import Outcome, RowContext
from .sources import SourceRow
from .teacher import Teacher, estimate_tokens


def _format_demos(demos: list[Example]) -> str:
    parts = []
    for i, ex in enumerate(demos, 1):
        parts.append(f"### Example {i}\nRequest:\n{ex.user}\n\nAnswer:\n{ex.assistant}")
    return "\n\n".join(parts)


def plan_expand(seeds: list[SourceRow], count: int, k: int, seed: int) -> list[SourceRow]:
    """One row per requested new Example, each with its own deterministic choice of demonstrations."""
    pool = [r for r in seeds if r.example is not None]
    fingerprint = hashlib.sha1(json.dumps([r.id for r in pool]).encode()).hexdigest()[:8]
    rows = []
    for i in range(count):
        rng = random.Random(f"{seed}:{i}")
        picks = sorted(rng.sample(range(len(pool)), min(k, len(pool))))
        rows.append(SourceRow(id=f"expand-{i}:{fingerprint}", index=i, text="",
                              ref={"source": pool[0].ref.get("source"), "expand": i},
                              extra={"demos": [pool[j].example for j in picks]}))
    return rows


class Expand:
    name = "expand"

    def __init__(self, cfg: TailorConfig, teacher: Teacher, seeds: list[SourceRow]) -> None:
        self.cfg, self.teacher, self.s = cfg, teacher, cfg.synth
        self.seed_requests = [r.example.user for r in seeds if r.example is not None]
        self.temperature = cfg.teacher.temperature
        self.structured = cfg.teacher.structured_output != "off" and not teacher.is_local
        self.instructions = instructions_block(self.s.instructions)
        self.template_hash = template_hash(EXPAND_SYSTEM, EXPAND_USER, self.instructions)

    def settings(self) -> dict[str, Any]:
        s = self.s
        return {"demos": s.expand_demos, "temperature": self.temperature, "max_tokens": self.cfg.teacher.max_tokens,
                "min_chars": s.min_chars, "max_chars": s.max_chars, "refusals": len(s.refusal_markers),
                "system_prompt": s.system_prompt, "seed": s.seed}

    def _messages(self, row: SourceRow) -> list[dict]:
        return chat(EXPAND_SYSTEM, fill(EXPAND_USER, instructions=self.instructions,
                                        examples=_format_demos(row.extra["demos"])))

    def estimate(self, row: SourceRow) -> list[tuple[int, int]]:
        demos = row.extra["demos"]
        answer = sum(estimate_tokens(d.user + d.assistant) for d in demos) // max(1, len(demos))
        return [(estimate_tokens(json.dumps(self._messages(row))), min(answer + 10, self.cfg.teacher.max_tokens))]

    async def process(self, row: SourceRow, ctx: RowContext) -> Outcome:
        params: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.cfg.teacher.max_tokens,
                                  "seed": self.s.seed + row.index}
        if self.structured:
            params["response_format"] = PAIR_SCHEMA
        pair, reply = await ask_parsed(ctx, self._messages(row), params, parse_pair)
        request, answer = pair if pair is not None else ("", reply.text)
        if reply.finish_reason == "length":
            reason: str | None = "truncated"
        elif pair is None:
            reason = "unparseable"
        else:
            reason = check_text(request, "stop", self.s) or check_text(answer, "stop", self.s)
        meta = provenance(self, self.teacher, self.temperature, row.ref)
        ex = Example.simple(request, answer, system=self.s.system_prompt, **meta)
        return Outcome("dropped", ex, reason) if reason else Outcome("kept", ex)

    def set_aside(self, row: SourceRow) -> Example:
        return Example.simple("", "", **provenance(self, self.teacher, None, row.ref))

    def extra_flags(self, kept: list[Example]) -> list[str | None]:
        """near_duplicate_pool when a request's ROUGE-L with a seed or an earlier kept request is too high."""
        pool = list(self.seed_requests)
        flags: list[str | None] = []
        for ex in kept:
            if any(rouge_l(ex.user, other) >= self.s.expand_rouge_threshold for other in pool):
                flags.append("near_duplicate_pool")
            else:
                pool.append(ex.user)
                flags.append(None)
        return flags

    def close(self) -> None:
        pass
