"""The schedulers without HTTP: the batcher batches what arrives together and drops what expired;
the serialized queue (llama.cpp and other engines) streams through `engine.stream`."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
from serve_fixtures import LONG, one_thread  # noqa: F401  (fixture)

from tailorkit.config.generation import GenerationConfig
from tailorkit.infer.hf import HFEngine
from tailorkit.infer.hf_batch import RowSpec
from tailorkit.infer.hf_generate import render_prompt
from tailorkit.models import load_model, load_tokenizer
from tailorkit.serve.batcher import BatchScheduler, Job, SerialScheduler

pytestmark = pytest.mark.usefixtures("one_thread")
CONV = [{"role": "user", "content": "a castle"}]
GEN = GenerationConfig(**LONG)


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    tok = load_tokenizer(str(tiny_model_dir))
    return HFEngine(load_model(str(tiny_model_dir), device="cpu", tokenizer=tok).eval(), tok, label="tiny")


async def _answers(scheduler, jobs_args):
    loop = asyncio.get_running_loop()
    jobs = [Job(loop, spec, time.monotonic() + timeout, **kw) for spec, timeout, kw in jobs_args]
    for job in jobs:
        scheduler.submit(job)
    out = []
    for job in jobs:
        parts = []
        while True:
            event = await asyncio.wait_for(job.events.get(), 60)
            if event[0] == "delta":
                parts.append(event[1])
            else:
                out.append((event[0], "".join(parts), event[1:]))
                break
    return out


def test_batcher_batches_arrivals_and_drops_expired_jobs(engine):
    stop = threading.Event()
    sched = BatchScheduler(engine, GEN, stop, label="t", max_batch=4, wait_s=0.2)
    ids = render_prompt(engine.tokenizer, CONV, 0)
    try:
        out = asyncio.run(_answers(sched, [(RowSpec(5, 1.0, 1.0, i), 30, {"prompt_ids": ids}) for i in range(3)]
                                   + [(RowSpec(5), -1, {"prompt_ids": ids})]))  # already past its deadline
    finally:
        stop.set()
        sched.thread.join(5)
    assert [o[0] for o in out] == ["done", "done", "done", "error"]
    assert out[3][2][0].status == 504
    assert sched.stats.batches == 1 and sched.stats.largest_batch == 3 and sched.stats.timed_out == 1


def test_serial_queue_streams_through_the_engine_interface(engine):
    stop = threading.Event()
    sched = SerialScheduler(engine, GEN, stop, label="t")
    try:
        out = asyncio.run(_answers(sched, [(RowSpec(6, 0.0), 30, {"conversation": CONV, "prompt_tokens": 5}),
                                           (RowSpec(4, 0.0), 30, {"conversation": CONV, "prompt_tokens": 5})]))
    finally:
        stop.set()
        sched.thread.join(5)
    alone = engine.generate([CONV], GEN.model_copy(update={"max_new_tokens": 6}), show_progress=False)[0]
    assert out[0][0] == "done" and out[0][1] == alone.text and out[0][2] == (alone.finish_reason, alone.n_tokens)
    assert out[1][2][1] <= 4 and sched.stats.batches == 2
