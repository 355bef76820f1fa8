"""Continuous batching on llama.cpp and on HF (serve/batcher.py SlotScheduler over each engine's batch
decoder): requests join the running batch as they arrive, each answer is the one the engine gives alone, a cancelled request frees its slot, and a
real server on loopback serves chat and raw-text completions (streaming too) through the openai client."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
from serve_fixtures import running

from tailorkit.config.generation import GenerationConfig
from tailorkit.infer.hf_batch import RowSpec
from tailorkit.infer.hf_generate import render_prompt
from tailorkit.serve.batcher import Job, SlotScheduler
from test_evaluate_support import PAIRS, load_tiny, make_run
from test_evaluate_support import one_thread  # noqa: F401  (fixture)

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.usefixtures("one_thread")
GEN = GenerationConfig(max_new_tokens=80, repetition_penalty=1.0, no_repeat_ngram_size=0)  # runs to its cap
REQUESTS = ["a castle", "midjourney prompt for a viking warrior", "steampunk owl, copper", "a red fox at dawn",
            "neon city"]


@pytest.fixture(scope="module")
def engine(tiny_model_dir, tmp_path_factory):
    from tailorkit.infer.gguf_files import write_merged_gguf
    from tailorkit.infer.llamacpp import LlamaCppEngine

    model, tok = load_tiny(tiny_model_dir)
    path = tmp_path_factory.mktemp("slots") / "tiny.gguf"
    write_merged_gguf(model.eval(), tok, path, quant="f32", name="tiny", show_progress=False)
    eng = LlamaCppEngine(path, tok, n_threads=1)
    yield eng
    eng.close()


@pytest.fixture(params=["llamacpp", "hf"])
def any_engine(request, engine, tiny_model_dir):
    """The llama.cpp engine, or the HF engine on the same tiny model (infer/hf_slots.py)."""
    if request.param == "llamacpp":
        return engine
    from tailorkit.infer.hf import HFEngine

    return HFEngine(*load_tiny(tiny_model_dir))


def _conv(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


async def _collect(job: Job, arrivals: list) -> tuple:
    parts = []
    while True:
        event = await asyncio.wait_for(job.events.get(), 60)
        if event[0] == "delta":
            parts.append(event[1])
            continue
        arrivals.append(job)
        return event[0], "".join(parts), event[1:]


async def _generating(sched) -> None:
    """Until the scheduler has decoded a few steps (the random tiny model's tokens decode to no text, so
    there are no deltas to wait for)."""
    deadline = time.monotonic() + 60
    while sched.stats.batches < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.002)


def _job(loop, engine, text: str, max_tokens: int, **spec) -> Job:
    ids = render_prompt(engine.tokenizer, _conv(text), 0)
    return Job(loop, RowSpec(max_tokens, **spec), time.monotonic() + 60, prompt_ids=ids, prompt_tokens=len(ids))


def test_requests_join_the_running_batch_and_answer_as_alone(any_engine):
    engine = any_engine
    stop = threading.Event()
    sched = SlotScheduler(engine, GEN, stop, label="t", slots=2, per_slot=engine.context_length)

    async def scenario():
        loop, order = asyncio.get_running_loop(), []
        long = _job(loop, engine, REQUESTS[0], 80)
        sched.submit(long)
        await _generating(sched)  # the long request is generating ...
        late = [_job(loop, engine, text, 4 + i) for i, text in enumerate(REQUESTS[1:])]
        seeded = _job(loop, engine, REQUESTS[1], 12, temperature=0.9, seed=5)
        for job in late + [seeded]:
            sched.submit(job)  # ... and these arrive while it runs
        tasks = [asyncio.create_task(_collect(j, order)) for j in late + [seeded]]
        rest = await _collect(long, order)
        return (rest[1], rest[2]), await asyncio.gather(*tasks), order.index(long), order

    try:
        long_answer, late_answers, long_done_at, _ = asyncio.run(scenario())
    finally:
        stop.set()
        sched.thread.join(10)
    # the short late requests took the free slot and finished while the long one was still running
    assert long_done_at == len(REQUESTS)
    alone = [engine.generate([_conv(t)], GEN.model_copy(update={"max_new_tokens": n}), show_progress=False)[0]
             for t, n in [(REQUESTS[0], 80)] + [(t, 4 + i) for i, t in enumerate(REQUESTS[1:])]]
    got = [long_answer] + [(text, rest) for _, text, rest in late_answers[:-1]]
    assert [(text, rest) for text, rest in got] == [(a.text, (a.finish_reason, a.n_tokens)) for a in alone]
    if engine.name == "llamacpp":  # the HF engine's own generate samples with torch's RNG, the decoder with numpy's
        seeded_alone = engine.generate([_conv(REQUESTS[1])], GEN.model_copy(update={
            "max_new_tokens": 12, "temperature": 0.9, "seed": 5}), show_progress=False)[0]
        assert late_answers[-1][1:] == (seeded_alone.text, (seeded_alone.finish_reason, seeded_alone.n_tokens))
    assert sched.stats.completed == len(REQUESTS) + 1 and sched.stats.largest_batch == 2


def test_a_cancelled_request_frees_its_slot_and_expired_ones_are_dropped(any_engine):
    engine = any_engine
    stop = threading.Event()
    sched = SlotScheduler(engine, GEN, stop, label="t", slots=1, per_slot=engine.context_length)

    async def scenario():
        loop = asyncio.get_running_loop()
        gone = _job(loop, engine, REQUESTS[0], 40)
        sched.submit(gone)
        await _generating(sched)
        expired = _job(loop, engine, REQUESTS[2], 5)
        expired.deadline = time.monotonic() - 1
        after = _job(loop, engine, REQUESTS[1], 5)
        sched.submit(expired)
        sched.submit(after)
        gone.cancel()  # the client went away: the one slot must come free for `after`
        return await _collect(expired, []), await _collect(after, [])

    try:
        expired, after = asyncio.run(scenario())
    finally:
        stop.set()
        sched.thread.join(10)
    assert expired[0] == "error" and expired[2][0].status == 504
    assert after[0] == "done" and after[2][1] <= 5
    assert sched.stats.cancelled == 1 and sched.stats.timed_out == 1 and sched.stats.completed == 1


def test_a_request_longer_than_a_slot_runs_alone_in_its_turn(engine):
    stop = threading.Event()
    sched = SlotScheduler(engine, GEN, stop, label="t", slots=2, context=256)  # 128 tokens per slot
    assert sched.slot_tokens == 128

    async def scenario():
        loop, order = asyncio.get_running_loop(), []
        jobs = [_job(loop, engine, REQUESTS[0], 30), _job(loop, engine, REQUESTS[1], 150),
                _job(loop, engine, REQUESTS[2], 20)]
        for job in jobs:
            sched.submit(job)
        results = await asyncio.gather(*[_collect(j, order) for j in jobs])
        return results, [jobs.index(j) for j in order]

    try:
        results, order = asyncio.run(scenario())
    finally:
        stop.set()
        sched.thread.join(10)
    assert order == [0, 1, 2]  # first come, first served: the long one waits, then the one behind it
    for (text, n), (kind, got, rest) in zip([(REQUESTS[0], 30), (REQUESTS[1], 150), (REQUESTS[2], 20)], results):
        alone = engine.generate([_conv(text)], GEN.model_copy(update={"max_new_tokens": n}), show_progress=False)[0]
        assert kind == "done" and (got, rest) == (alone.text, (alone.finish_reason, alone.n_tokens))
    assert results[1][2] == ("length", 150)  # ran to its max_tokens on the full context


def test_server_on_llamacpp_streams_chat_and_completions(tiny_model_dir, tmp_path, monkeypatch):
    """The overfit tiny run (real text answers) behind a real server: concurrent streaming chat requests
    answer as the engine does alone; raw-text completions run on llama.cpp too."""
    from openai import OpenAI

    monkeypatch.setenv("TAILOR_CACHE", str(tmp_path / "cache"))
    cfg = make_run(tmp_path / "proj", tiny_model_dir, serve={"llamacpp_slots": 3})
    cfg = cfg.model_copy(update={"generation": cfg.generation.model_copy(update={"engine": "llamacpp"})})
    asks = [user for user, _ in PAIRS] * 2
    with running(cfg) as (url, srv):
        client = OpenAI(base_url=url, api_key="none", max_retries=0)
        results: dict[int, str] = {}

        def ask(i: int) -> None:
            stream = client.chat.completions.create(model="tuned", messages=_conv(asks[i]), max_tokens=30,
                                                    stream=True)
            results[i] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(asks))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        served = srv.pool.get("tuned")
        assert served.engine.name == "llamacpp" and served.batched
        alone = served.engine.generate([_conv(a) for a in asks], cfg.generation.model_copy(update={
            "max_new_tokens": 30}), batch_size=1, show_progress=False)
        assert [results[i] for i in range(len(asks))] == [a.text for a in alone]
        assert results[0] == PAIRS[0][1]  # the overfit answer, streamed token by token
        raw = client.completions.create(model="tuned", prompt="a castle on a hill", max_tokens=5)
        assert raw.usage.completion_tokens <= 5 and raw.choices[0].finish_reason in ("stop", "length")
        stats = srv.pool.stats()["tuned"]
        assert stats["completed"] == len(asks) + 1 and 1 <= stats["largest_batch"] <= 3 and stats["errors"] == 0
        shared = len(served.engine.tokenizer("<|im_start|>user\nmidjourney prompt for a", add_special_tokens=False)
                     ["input_ids"])
        assert stats["prefix_tokens_reused"] >= shared * (len(asks) - 1)  # the requests' common start, evaluated once
