"""The bulk runner against a real local OpenAI-compatible server that injects faults.

Every input row must end as exactly one output row, one set-aside row or one errors-file row; a run
killed with SIGKILL and rerun must not re-send a request for a row that was already finished.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from openai_server import FakeOpenAI, make_cfg, phrases, read_jsonl

from tailorkit.synth.journal import journal_path
from tailorkit.synth.limits import Ledger, RateLimiter
from tailorkit.synth.recipes import backtranslate

@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(latency=0.01, slow_s=1.5, retry_after=0.3) as srv:
        yield srv


def bodies_mentioning(srv: FakeOpenAI, text: str, since: float = 0.0) -> list[dict]:
    return [r for r in list(srv.requests) if r["t"] >= since and text in json.dumps(r["body"].get("messages"))]


def test_every_row_ends_as_one_output_aside_or_error_row_under_faults(tmp_path, server):
    faults = ["", "[[fault:429:2]] ", "[[fault:500:2]] ", "[[fault:slow:1]] ", "[[fault:badjson:1]] ",
              "[[fault:length:all]] ", "[[fault:500:all]] ", "[[fault:refuse:all]] "]
    texts = [f + p for f, p in zip(faults * 3, phrases(24, seed=1))]
    src = tmp_path / "outputs.txt"
    src.write_text("\n".join(texts) + "\n", encoding="utf-8")
    cfg = make_cfg(tmp_path, server.url)
    result = backtranslate(cfg, src, out=tmp_path / "out.jsonl")

    kept, aside, errors = (read_jsonl(p) for p in (result.output, result.aside, result.errors))
    lines = [r["meta"]["line"] for r in kept] + [r["meta"]["line"] for r in aside] + [r["line"] for r in errors]
    assert sorted(lines) == list(range(1, 25)), "each input row exactly once across the three files"
    by_line = {r["meta"]["line"]: ("kept", r) for r in kept}
    by_line.update({r["meta"]["line"]: ("aside", r) for r in aside})
    by_line.update({r["line"]: ("error", r) for r in errors})
    for i, text in enumerate(texts, 1):
        where, row = by_line[i]
        if "length:all" in text:
            assert where == "aside" and row["meta"]["dropped"] == "truncated"
        elif "500:all" in text:
            assert where == "error" and "500" in row["reason"] and "after 4 attempts" in row["reason"]
        elif "refuse" in text:
            assert where == "aside" and row["meta"]["dropped"] == "refusal"
        else:  # transient faults were retried away
            assert where == "kept", (text, row)
            assert row["messages"][-1]["content"] == text and row["messages"][0]["content"]
            meta = row["meta"]
            assert meta["recipe"] == "backtranslate" and meta["teacher"]["model"] == "fake-teacher"
            assert meta["teacher"]["host"].startswith("127.0.0.1:") and meta["template"] and meta["created"]
            assert meta["selected_by"] == "judge" and len(meta["candidates"]) == 3
    assert not any(r["messages"][0]["content"] == "" for r in kept), "never an empty row in the output"
    # Retry-After was honoured: the retry of a 429 came no sooner than the server asked.
    sent = bodies_mentioning(server, texts[1])
    assert len(sent) >= 3 and sent[1]["t"] - sent[0]["t"] >= 0.3
    assert result.failed == 3 and result.kept == 15 and result.retries > 0
    card = result.card.read_text(encoding="utf-8")
    assert "terms of use" in card and "truncated" in card and "fake-teacher" in card

    # A rerun pays for nothing finished: only the failed rows are tried again.
    before = len(server.requests)
    again = backtranslate(cfg, src, out=tmp_path / "out.jsonl")
    resent = server.requests[before:]
    assert all("500:all" in json.dumps(r["body"]["messages"]) for r in resent)
    assert again.resumed == 21 and again.kept == 15 and read_jsonl(again.output) == kept


def test_identical_requests_are_answered_from_the_cache(tmp_path, server):
    src = tmp_path / "o.txt"
    src.write_text("\n".join(phrases(6, seed=2)) + "\n", encoding="utf-8")
    cfg = make_cfg(tmp_path, server.url)
    first = backtranslate(cfg, src, out=tmp_path / "a.jsonl")
    before = len(server.requests)
    second = backtranslate(cfg, src, out=tmp_path / "b.jsonl")  # another output, same requests
    assert len(server.requests) == before and second.requests_sent == 0
    assert second.cache_hits == first.requests_sent and second.kept == first.kept == 6
    assert [r["messages"] for r in read_jsonl(second.output)] == [r["messages"] for r in read_jsonl(first.output)]


def test_budget_stops_cleanly_before_passing_it_and_a_rerun_continues(tmp_path, server):
    src = tmp_path / "o.txt"
    src.write_text("\n".join(phrases(30, seed=3)) + "\n", encoding="utf-8")
    cfg = make_cfg(tmp_path, server.url, select="first")
    dry = backtranslate(cfg, src, out=tmp_path / "o.jsonl", dry_run=True)
    assert dry.estimate.rows == 30 and dry.estimate.requests == 30 and dry.estimate.cost_usd > 0
    assert not (tmp_path / "o.jsonl").exists(), "a dry run writes nothing"
    budget = 0.01
    result = backtranslate(cfg, src, out=tmp_path / "o.jsonl", budget=budget)
    assert result.stopped_by_budget and 0 < result.kept < 30 and result.not_processed == 30 - result.kept
    assert result.spent_usd <= budget
    assert "stopped by the budget" in result.card.read_text(encoding="utf-8")
    rest = backtranslate(cfg, src, out=tmp_path / "o.jsonl")
    assert rest.kept == 30 and rest.resumed == result.kept and not rest.stopped_by_budget


def test_rate_limiter_paces_requests_and_ledger_reserves_the_worst_case():
    async def go() -> float:
        limiter = RateLimiter(requests_per_minute=600)  # one request per 0.1 s
        t0 = time.monotonic()
        await asyncio.gather(*[limiter.acquire(10) for _ in range(6)])
        return time.monotonic() - t0

    assert 0.45 <= asyncio.run(go()) < 2.0

    async def tokens() -> float:
        limiter = RateLimiter(tokens_per_minute=600)  # 10 tokens/s, a bucket of one minute's worth
        await limiter.acquire(600)  # the full bucket goes at once
        t0 = time.monotonic()
        await limiter.acquire(5)  # then it refills at 10 tokens/s
        return time.monotonic() - t0

    assert 0.4 <= asyncio.run(tokens()) < 2.0
    from tailorkit.config.synth import Price

    ledger = Ledger(Price(input=1.0, output=1.0), budget=0.001)
    assert ledger.reserve(300, 300) is not None  # $0.0006 worst case
    assert ledger.reserve(300, 300) is None and ledger.exhausted  # a second one could pass the budget


def test_kill_9_midway_then_rerun_resends_nothing_finished_and_writes_each_row_once(tmp_path):
    n = 200
    texts = phrases(n, seed=4)
    src = tmp_path / "outputs.txt"
    src.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "synth.jsonl"
    (tmp_path / "tailor.yaml").write_text(
        "teacher:\n  base_url: {url}\n  model: fake-teacher\n  concurrency: 4\n  retry_base_s: 0.05\n"
        "synth:\n  n_candidates: 1\n  select: first\n", encoding="utf-8")
    with FakeOpenAI(latency=0.05) as srv:
        cfg_text = (tmp_path / "tailor.yaml").read_text().replace("{url}", srv.url)
        (tmp_path / "tailor.yaml").write_text(cfg_text, encoding="utf-8")
        cmd = [sys.executable, "-c", "import sys; from tailorkit.cli import main; sys.exit(main(sys.argv[1:]))",
               "synth", "backtranslate", str(src), "--out", str(out), "-c", str(tmp_path / "tailor.yaml")]
        env = {**os.environ, "TAILOR_QUIET": "1"}
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        journal = journal_path(out)
        deadline = time.time() + 60
        while time.time() < deadline:
            if journal.exists() and journal.read_bytes().count(b"\n") >= 1 + n // 3:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at = time.time()
        finished = {json.loads(line)["id"] for line in journal.read_text().splitlines()[1:] if line.endswith("}")}
        assert n // 3 <= len(finished) < n, "the kill must land midway"
        assert not out.exists(), "the final output is only written at the end"

        rerun = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        from tailorkit.synth.sources import read_outputs

        ids = {r.id: r.text for r in read_outputs(src)}
        for rid in finished:
            assert not bodies_mentioning(srv, ids[rid], since=killed_at), f"row {rid} was sent again"
        # Requests cut off by the kill may be re-sent (at most the ones in flight), nothing more.
        after = [r for r in srv.requests if r["t"] >= killed_at]
        assert len(after) <= n - len(finished) + 4
    rows = read_jsonl(out)
    assert len(rows) == n and sorted(r["meta"]["line"] for r in rows) == list(range(1, n + 1))
    assert [r["messages"][-1]["content"] for r in rows] == texts
