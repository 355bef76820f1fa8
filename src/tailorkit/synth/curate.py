"""Curation: the teacher scores each Example 1-5 with a short reason, as structured output.

The request carries a JSON schema (response_format) where the endpoint supports it; replies are
parsed robustly either way (fenced JSON, JSON in prose, "Score: 4", a bare digit). Rows scoring
below the threshold are set aside, not deleted; score and reason go into meta. Rows that fail the
common filters (empty, refusal, length, duplicates) are set aside before any request is paid for.
"""
from __future__ import annotations

from typing import Any

from ..config import TailorConfig
from ..data.example import Example
from .backtranslate import ask_parsed
from .filters import check_text, duplicate_flags, example_text
from .parse import parse_score
from .prompts import CURATE_SYSTEM, CURATE_USER, SCORE_SCHEMA, chat, fill, instructions_block, template_hash
from .runner import Outcome, RowContext
from .sources import SourceRow
from .teacher import Teacher, estimate_tokens

SCORE_TOKENS = 160


def request_text(ex: Example) -> str:
    """The request side of an Example; earlier turns are shown with their roles."""
    turns = ex.prompt_messages()
    if len(turns) == 1 or all(m["role"] != "assistant" for m in turns):
        return "\n".join(m["content"] for m in turns if m["role"] == "user")
    return "\n".join(f"{m['role']}: {m['content']}" for m in turns)


def prefilter(rows: list[SourceRow], cfg: TailorConfig) -> None:
    """Mark rows to set aside without asking the teacher: bad answers and duplicates."""
    for row in rows:
        row.skip = check_text(row.example.assistant, "stop", cfg.synth)
    live = [r for r in rows if r.skip is None]
    for row, flag in zip(live, duplicate_flags([example_text(r.example.messages) for r in live],
                                               cfg.synth.near_duplicate_threshold)):
        row.skip = flag


class Curate:
    name = "curate"

    def __init__(self, cfg: TailorConfig, teacher: Teacher) -> None:
        self.cfg, self.teacher, self.s = cfg, teacher, cfg.synth
        self.threshold = self.s.curate_threshold
        self.structured = cfg.teacher.structured_output != "off" and not teacher.is_local
        self.instructions = instructions_block(self.s.instructions)
        self.template_hash = template_hash(CURATE_SYSTEM, CURATE_USER, self.instructions)

    def settings(self) -> dict[str, Any]:
        s = self.s
        return {"threshold": self.threshold, "min_chars": s.min_chars, "max_chars": s.max_chars,
                "refusals": len(s.refusal_markers), "structured": self.structured}

    def _messages(self, ex: Example) -> list[dict]:
        return chat(CURATE_SYSTEM, fill(CURATE_USER, instructions=self.instructions, user=request_text(ex),
                                        assistant=ex.assistant))

    def estimate(self, row: SourceRow) -> list[tuple[int, int]]:
        return [(estimate_tokens(CURATE_SYSTEM + request_text(row.example) + row.example.assistant) + 20, 30)]

    def _meta(self, ex: Example, score: int | None, reason: str) -> Example:
        from datetime import datetime, timezone

        out = Example(messages=[dict(m) for m in ex.messages], meta=dict(ex.meta))
        out.meta.update(score=score, reason=reason, curated={
            "teacher": {"host": self.teacher.host, "model": self.teacher.model}, "template": self.template_hash,
            "threshold": self.threshold, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        return out

    async def process(self, row: SourceRow, ctx: RowContext) -> Outcome:
        params: dict[str, Any] = {"temperature": 0.0, "max_tokens": SCORE_TOKENS}
        if self.structured:
            params["response_format"] = SCORE_SCHEMA
        parsed, reply = await ask_parsed(ctx, self._messages(row.example), params, parse_score)
        if parsed is None:
            snippet = " ".join(reply.text.split())[:120]
            why = "truncated" if reply.finish_reason == "length" else "unparseable"
            return Outcome("dropped", self._meta(row.example, None, f"no score in the reply: '{snippet}'"), why)
        score, reason = parsed
        ex = self._meta(row.example, score, reason)
        if score < self.threshold:
            return Outcome("dropped", ex, "low_score")
        return Outcome("kept", ex)

    def set_aside(self, row: SourceRow) -> Example:
        return self._meta(row.example, None, "")

    def extra_flags(self, kept: list[Example]) -> list[str | None]:
        return [None] * len(kept)

    def close(self) -> None:
        pass
