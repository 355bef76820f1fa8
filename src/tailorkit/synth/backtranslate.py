"""Backtranslation: for each output the user already has, the teacher writes the request behind it.

Per output: N diverse candidate requests (one call returning a JSON list, or N calls at spread
temperatures), each filtered (refusal, empty, truncated, length, leakage = copying the output's
word pairs), then the best survivor is chosen by a teacher judge, or offline by the student model's
likelihood of the output given the request, or simply the first.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..config import TailorConfig
from ..data.example import Example
from .driver import provenance
from .filters import check_text, is_refusal, overlap
from .parse import clean_line, parse_list, parse_pick
from .prompts import (BT_LIST_SYSTEM, BT_LIST_USER, BT_ONE_SYSTEM, BT_ONE_USER, DEFAULT_DEMOS, JUDGE_SYSTEM,
                      JUDGE_USER, backtranslate_one, chat, demos_block, fill, instructions_block, pick_schema,
                      template_hash)
from .runner import Outcome, RowContext
from .sources import SourceRow, read_example_rows
from .teacher import Teacher, estimate_tokens


async def ask_parsed(ctx: RowContext, messages: list[dict], params: dict[str, Any], parser):
    """Ask, and parse the reply; if it does not parse, ask once more at a nudged temperature.

    Returns (value or None, last reply). A truncated reply is not retried: it is dropped as truncated.
    """
    reply = await ctx.ask(messages, params)
    value = parser(reply.text)
    if value is None and reply.finish_reason != "length":
        retry = {**params, "temperature": round(float(params.get("temperature") or 0.0) + 0.1, 3)}
        reply = await ctx.ask(messages, retry)
        value = parser(reply.text)
    return value, reply


def first_request(text: str, finish_reason: str) -> tuple[str, str]:
    """The request in a small model's reply: its first line, or the line after a "Here it is:" preamble.

    A reply cut by max_tokens still holds a complete request when more lines follow it.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) > 1 and lines[0].rstrip().endswith(":"):
        lines = lines[1:]
    if not lines:
        return "", finish_reason
    return clean_line(lines[0]), finish_reason if len(lines) == 1 else "stop"


class Backtranslate:
    name = "backtranslate"

    def __init__(self, cfg: TailorConfig, teacher: Teacher) -> None:
        s = cfg.synth
        self.cfg, self.teacher, self.s = cfg, teacher, s
        self.n = s.n_candidates
        self.mode = s.candidates_mode if s.candidates_mode != "auto" else ("calls" if teacher.is_local else "list")
        self.select = s.select if s.select != "auto" else ("likelihood" if teacher.is_local else "judge")
        self.temperature = cfg.teacher.temperature
        self.structured = cfg.teacher.structured_output != "off" and not teacher.is_local
        self.instructions = instructions_block(s.instructions)
        self.template_hash = template_hash(BT_LIST_SYSTEM, BT_LIST_USER, BT_ONE_SYSTEM, BT_ONE_USER,
                                           JUDGE_SYSTEM, JUDGE_USER, self.instructions)
        self.demos = self._load_demos()
        self._scorer = None
        self._scorer_pool: ThreadPoolExecutor | None = None

    def _load_demos(self) -> list[tuple[str, str]]:
        """(request, output) pairs: the user's own (synth.demos), else built-in ones for the local mode."""
        if self.s.demos:
            rows = read_example_rows(self.cfg.path(self.s.demos), self.cfg.data)
            pairs = list(dict.fromkeys((r.example.user.strip(), r.example.assistant.strip()) for r in rows))
            return [(q, a) for q, a in pairs if q and a]
        return list(DEFAULT_DEMOS) if self.mode == "calls" else []

    def _demos_for(self, row: SourceRow) -> list[tuple[str, str]]:
        # Never show the row's own output as a demonstration: that would hand over the answer.
        return [(q, a) for q, a in self.demos if a != row.text][: self.s.n_demos]

    def settings(self) -> dict[str, Any]:
        s = self.s
        return {"n": self.n, "mode": self.mode, "select": self.select, "temperature": self.temperature,
                "max_overlap": s.max_overlap, "min_chars": s.min_chars, "max_chars": s.max_chars,
                "refusals": len(s.refusal_markers), "system_prompt": s.system_prompt, "seed": s.seed,
                "request_max_tokens": s.request_max_tokens,
                "student": self.cfg.model.base if self.select == "likelihood" else None,
                "demos": hashlib.sha1(repr(self.demos).encode()).hexdigest()[:12], "n_demos": s.n_demos}

    def _temperatures(self) -> list[float]:
        if self.n == 1:
            return [self.temperature]
        return [round(self.temperature * (0.75 + 0.5 * i / (self.n - 1)), 3) for i in range(self.n)]

    def _messages(self, row: SourceRow) -> list[dict]:
        if self.mode == "list":
            return chat(BT_LIST_SYSTEM, fill(BT_LIST_USER, instructions=self.instructions, output=row.text, n=self.n,
                                             demos=demos_block(self._demos_for(row))))
        return backtranslate_one(row.text, self.s.instructions or "", self._demos_for(row))

    def estimate(self, row: SourceRow) -> list[tuple[int, int]]:
        prompt = estimate_tokens(json.dumps(self._messages(row), ensure_ascii=False))
        calls = [(prompt, 25 * self.n)] if self.mode == "list" else [(prompt, 25)] * self.n
        if self.select == "judge" and self.n > 1:
            calls.append((estimate_tokens(JUDGE_SYSTEM + row.text) + 25 * self.n, 8))
        return calls

    async def _candidates(self, row: SourceRow, ctx: RowContext) -> list[tuple[str, str, float]]:
        """(text, finish_reason, temperature) for each candidate request."""
        if self.mode == "list":
            msgs = self._messages(row)
            params = {"temperature": self.temperature, "max_tokens": self.s.request_max_tokens * self.n,
                      "seed": self.s.seed}
            items, reply = await ask_parsed(ctx, msgs, params, parse_list)
            if reply.finish_reason == "length":
                return [(item, "length", self.temperature) for item in (items or [reply.text])][: self.n]
            if items is None and is_refusal(reply.text, self.s.refusal_markers):
                return [(reply.text, "stop", self.temperature)]  # dropped below as a refusal
            return [(item, "stop", self.temperature) for item in (items or [])[: self.n]]
        msgs = self._messages(row)
        temps = self._temperatures()
        replies = await asyncio.gather(*[
            ctx.ask(msgs, {"temperature": t, "max_tokens": self.s.request_max_tokens, "seed": self.s.seed + i})
            for i, t in enumerate(temps)])
        return [(*first_request(r.text, r.finish_reason), t) for r, t in zip(replies, temps)]

    async def process(self, row: SourceRow, ctx: RowContext) -> Outcome:
        cands = await self._candidates(row, ctx)
        judged: list[dict[str, Any]] = []
        seen: set[str] = set()
        for text, finish, temp in cands:
            reason = check_text(text, finish, self.s)
            if reason is None and overlap(text, row.text) > self.s.max_overlap:
                reason = "leakage"
            if reason is None and text.lower() in seen:
                reason = "duplicate_candidate"
            seen.add(text.lower())
            judged.append({"text": text, "temperature": temp, "dropped": reason})
        alive = [c for c in judged if c["dropped"] is None]
        if not alive:
            reason = Counter(c["dropped"] for c in judged).most_common(1)[0][0] if judged else "unparseable"
            ex = self._example(row, judged[0]["text"] if judged else "", judged, None, "none")
            return Outcome("dropped", ex, reason)
        best, how = alive[0], "only" if len(alive) == 1 else self.select
        if len(alive) > 1 and self.select == "judge":
            best, how = await self._judge(row, alive, ctx)
        elif len(alive) > 1 and self.select == "likelihood":
            scores = await self._likelihood(row, alive)
            for c, nll in zip(alive, scores):
                c["nll"] = round(nll, 4)
            best = min(alive, key=lambda c: c["nll"])
        return Outcome("kept", self._example(row, best["text"], judged, best["temperature"], how))

    async def _judge(self, row: SourceRow, alive: list[dict], ctx: RowContext) -> tuple[dict, str]:
        listing = "\n".join(f"{i}. {c['text']}" for i, c in enumerate(alive, 1))
        msgs = chat(JUDGE_SYSTEM, fill(JUDGE_USER, instructions=self.instructions, output=row.text, candidates=listing))
        params: dict[str, Any] = {"temperature": 0.0, "max_tokens": 64}
        if self.structured:
            params["response_format"] = pick_schema(len(alive))
        reply = await ctx.ask(msgs, params)
        k = parse_pick(reply.text, len(alive))
        return (alive[k], "judge") if k is not None else (alive[0], "first (judge reply unparseable)")

    async def _likelihood(self, row: SourceRow, alive: list[dict]) -> list[float]:
        if self._scorer is None:
            from .scorer import LikelihoodScorer

            self._scorer = LikelihoodScorer(self.cfg.model, device=self.cfg.teacher.device)
            self._scorer_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tailor-scorer")
        pairs = [(c["text"], row.text) for c in alive]
        return await asyncio.get_running_loop().run_in_executor(self._scorer_pool, self._scorer.nll, pairs,
                                                                self.s.system_prompt)

    def _example(self, row: SourceRow, request: str, cands: list[dict], temperature: float | None,
                 how: str) -> Example:
        meta = provenance(self, self.teacher, temperature, row.ref, selected_by=how, candidates=cands)
        return Example.simple(request, row.text, system=self.s.system_prompt, **meta)

    def set_aside(self, row: SourceRow) -> Example:
        return Example.simple("", row.text, system=self.s.system_prompt,
                              **provenance(self, self.teacher, None, row.ref))

    def extra_flags(self, kept: list[Example]) -> list[str | None]:
        return [None] * len(kept)

    def close(self) -> None:
        if self._scorer_pool is not None:
            self._scorer_pool.shutdown(wait=False)
