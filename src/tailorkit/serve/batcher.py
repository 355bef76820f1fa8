"""Per-model schedulers: a request becomes a `Job`; one thread per model turns jobs into tokens.

- `SlotScheduler` on the HF engine (`serve.hf_batching: continuous`, the default): the same continuous
  batching over `HFEngine.batch_decoder` (infer/hf_slots.py, one growing KV cache for the batch, up to
  `serve.max_batch_size` rows, each up to the model's context). Models with sliding-window attention,
  and `hf_batching: waves`, use:
- `BatchScheduler` (HF engine, dynamic batching in waves): the thread takes the first waiting job, collects
  the jobs that keep arriving (each within `serve.batch_wait_ms` of the last, up to 5x that in all and
  `serve.max_batch_size` jobs), and runs them as
  one batched `generate` (`HFEngine.generate_rows`) that streams each row to its own client. Jobs that
  arrive while a batch runs form the next batch (batches are not joined mid-generation).
- `SlotScheduler` (llama.cpp engine, continuous batching): one llama.cpp context with
  `serve.llamacpp_slots` sequences (`LlamaCppEngine.batch_decoder`) sharing `serve.llamacpp_context` KV
  cells equally; every token step decodes one token of every running request together, and a request
  that arrives takes a free slot before the next step instead of waiting for the running ones to finish.
  A finished or cancelled request frees its slot at once. A request longer than a slot (prompt +
  max_tokens) waits for the running ones to finish and runs alone on the engine's own full context;
  requests behind it wait (first come, first served).
- `SerialScheduler` (any other engine): a serialized queue, one `engine.stream` at a time.

A job stops early when its client goes away (`Job.cancel`), when it runs past serve.request_timeout_s,
or when the server stops (the shared stop event): generation checks these once per token.
Events reach the request's asyncio task through `loop.call_soon_threadsafe`.
"""
from __future__ import annotations

import asyncio
import queue
import threading
import time
from dataclasses import dataclass

from ..config.generation import GenerationConfig
from ..config.project import SLOT_MIN_TOKENS
from ..infer.hf_batch import RowSpec
from ..infer.text import IncrementalText
from .schemas import APIError

BURST_WAITS = 5  # a batch waits at most this many batch_wait_ms for a burst of arrivals


@dataclass
class Stats:
    """Counters for /health, tests and the load benchmark."""

    requests: int = 0
    completed: int = 0
    cancelled: int = 0
    timed_out: int = 0
    batches: int = 0
    largest_batch: int = 0
    tokens: int = 0
    errors: int = 0
    prefix_tokens_reused: int = 0  # llama.cpp: prompt tokens whose KV cells were copied, not evaluated


class Job:
    """One generation request. Created in the event loop; fed from the scheduler thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, spec: RowSpec, deadline: float, *,
                 prompt_ids: list[int] | None = None, conversation: list[dict] | None = None,
                 prompt_tokens: int = 0) -> None:
        self.loop = loop
        self.events: asyncio.Queue = asyncio.Queue()
        self.spec = spec
        self.deadline = deadline
        self.prompt_ids = prompt_ids
        self.conversation = conversation
        self.prompt_tokens = prompt_tokens
        self.gone = threading.Event()
        self.timed_out = False

    def cancel(self) -> None:
        """The client went away: stop generating for it at the next token."""
        self.gone.set()

    def emit(self, *event) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            pass

    def should_stop(self, stopping: threading.Event) -> bool:
        if not self.timed_out and time.monotonic() > self.deadline:
            self.timed_out = True
        return self.gone.is_set() or self.timed_out or stopping.is_set()


class Scheduler:
    """A queue of jobs and the one thread that serves them."""

    def __init__(self, engine, gen_cfg: GenerationConfig, stopping: threading.Event, *, label: str) -> None:
        self.engine = engine
        self.gen_cfg = gen_cfg
        self.stopping = stopping
        self.stats = Stats()
        self.queue: queue.Queue[Job] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name=f"serve-{label}", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> None:
        if self.stopping.is_set():
            raise APIError(503, "the server is shutting down", code="shutting_down")
        self.stats.requests += 1
        self.queue.put(job)

    def _next(self, timeout: float) -> Job | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _loop(self) -> None:
        while not self.stopping.is_set():
            first = self._next(0.2)
            if first is None:
                continue
            jobs = [j for j in self._collect(first) if not self._drop(j)]
            if not jobs:
                continue
            try:
                self._run(jobs)
            except Exception as exc:  # a failed batch fails its requests, never the server
                self._fail(jobs, exc)
        while (job := self._next(0)) is not None:  # answer whatever is still queued
            self._finish(job, "length", 0)

    def _fail(self, jobs, exc: Exception) -> None:
        self.stats.errors += len(jobs)
        for job in jobs:
            job.emit("error", APIError(500, f"generation failed ({type(exc).__name__}: {exc})",
                                       code="generation_failed"))

    def _gen(self, spec: RowSpec) -> GenerationConfig:
        """The server's generation settings with this request's own (validated again)."""
        return GenerationConfig.model_validate(self.gen_cfg.model_dump() | {
            "max_new_tokens": spec.max_new_tokens, "temperature": spec.temperature, "top_p": spec.top_p,
            "seed": spec.seed})

    def _collect(self, first: Job) -> list[Job]:
        return [first]

    def _drop(self, job: Job) -> bool:
        """A job whose client left or whose time ran out while it waited is answered without generating."""
        if job.should_stop(self.stopping):
            self._finish(job, "length", 0)
            return True
        return False

    def _finish(self, job: Job, finish_reason: str, n_tokens: int) -> None:
        self.stats.tokens += n_tokens
        if job.gone.is_set():
            self.stats.cancelled += 1
        elif job.timed_out:
            self.stats.timed_out += 1
            job.emit("error", APIError(504, "the request ran past serve.request_timeout_s and was stopped",
                                       code="timeout"))
        elif self.stopping.is_set():
            job.emit("error", APIError(503, "the server is shutting down; the generation was stopped",
                                       code="shutting_down"))
        else:
            self.stats.completed += 1
            job.emit("done", finish_reason, n_tokens)

    def _run(self, jobs: list[Job]) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class BatchScheduler(Scheduler):
    """Dynamic batching over `HFEngine.generate_rows`."""

    def __init__(self, engine, gen_cfg: GenerationConfig, stopping: threading.Event, *, label: str,
                 max_batch: int, wait_s: float) -> None:
        self.max_batch = max_batch
        self.wait_s = wait_s
        super().__init__(engine, gen_cfg, stopping, label=label)

    def _collect(self, first: Job) -> list[Job]:
        """The first job and whatever arrives while requests keep coming: each arrival extends the wait by
        `wait_s` (a burst of clients lands in one batch), never past BURST_WAITS * wait_s in all."""
        jobs = [first]
        now = time.monotonic()
        cap = now + BURST_WAITS * self.wait_s
        until = now + self.wait_s
        while len(jobs) < self.max_batch:
            job = self._next(max(0.0, min(until, cap) - time.monotonic()))
            if job is None:
                break
            jobs.append(job)
            until = time.monotonic() + self.wait_s
        return jobs

    def _run(self, jobs: list[Job]) -> None:
        self.stats.batches += 1
        self.stats.largest_batch = max(self.stats.largest_batch, len(jobs))
        texts = [IncrementalText(self.engine.tokenizer) for _ in jobs]

        def on_token(row: int, token_id: int) -> None:
            piece = texts[row].add(token_id)
            if piece:
                jobs[row].emit("delta", piece)

        results = self.engine.generate_rows([j.prompt_ids for j in jobs], [j.spec for j in jobs], self.gen_cfg,
                                            on_token=on_token,
                                            cancelled=lambda row: jobs[row].should_stop(self.stopping))
        for job, text, res in zip(jobs, texts, results):
            tail = text.finish()
            if tail:
                job.emit("delta", tail)
            self._finish(job, "stop" if res.stopped else "length", len(res.ids))


class SerialScheduler(Scheduler):
    """One `engine.stream` at a time (llama.cpp and any other non-HF engine)."""

    def _run(self, jobs: list[Job]) -> None:
        (job,) = jobs
        gen = self._gen(job.spec)
        self.stats.batches += 1
        self.stats.largest_batch = max(self.stats.largest_batch, 1)
        stream = self.engine.stream(job.conversation, gen)
        finish, n_tokens = "length", 0
        try:
            for delta in stream:
                if delta.text:
                    job.emit("delta", delta.text)
                n_tokens = delta.n_tokens or n_tokens
                if delta.finish_reason is not None:
                    finish = delta.finish_reason
                    break
                if job.should_stop(self.stopping):
                    break
        finally:
            stream.close()
        self._finish(job, finish, n_tokens)


class SlotScheduler(Scheduler):
    """Continuous batching on an engine's batch decoder (llama.cpp's `BatchDecoder`, HF's `HFSlotDecoder`;
    see the module docstring). `Stats.batches` counts decode steps; `largest_batch` the most requests decoded
    together. `per_slot` (default: `context` shared out, as for llama.cpp) bounds prompt + answer per row."""

    def __init__(self, engine, gen_cfg: GenerationConfig, stopping: threading.Event, *, label: str,
                 slots: int, context: int | None = None, per_slot: int | None = None) -> None:
        self.slots = slots
        model = engine.context_length
        if per_slot is None:
            per_slot = context // slots if context else min(model, max(SLOT_MIN_TOKENS, model // slots))
        # made here: a context that cannot be made fails the model's load; prompt prefixes are shared
        self._decoder = engine.batch_decoder(slots, per_slot=per_slot, shared=engine.prefix_cache)
        self.slot_tokens = self._decoder.limit
        super().__init__(engine, gen_cfg, stopping, label=label)

    def _alone(self, job: Job) -> None:
        """A request longer than a slot, on the engine's own full context (nothing else runs meanwhile)."""
        self.stats.batches += 1
        self.stats.largest_batch = max(self.stats.largest_batch, 1)
        text, stops, stopped = IncrementalText(self.engine.tokenizer), set(self.engine.stop_ids), False
        stream = self.engine.stream_ids(job.prompt_ids, self._gen(job.spec))
        try:
            for token in stream:
                if token in stops:
                    stopped = True
                    break
                piece = text.add(token)
                if piece:
                    job.emit("delta", piece)
                if job.should_stop(self.stopping):
                    break
        finally:
            stream.close()
        tail = text.finish()
        if tail:
            job.emit("delta", tail)
        self._finish(job, "stop" if stopped else "length", len(text.ids))

    def _loop(self) -> None:
        decoder, stops = self._decoder, set(self.engine.stop_ids)
        running: dict[Job, IncrementalText] = {}
        long: Job | None = None  # a request longer than a slot, waiting for the slots to drain
        try:
            while not self.stopping.is_set():
                while long is None and decoder.has_room():  # admit: block only when nothing runs
                    job = self._next(0 if running else 0.2)
                    if job is None:
                        break
                    if self._drop(job):
                        continue
                    if len(job.prompt_ids) + job.spec.max_new_tokens > self.slot_tokens:
                        long = job
                        break
                    try:
                        decoder.admit(job, job.prompt_ids, self._gen(job.spec))
                    except Exception as exc:  # this request fails, the others go on
                        self._fail([job], exc)
                        continue
                    running[job] = IncrementalText(self.engine.tokenizer)
                    self.stats.prefix_tokens_reused = decoder.prefix_reused
                for job in [j for j in running if j.should_stop(self.stopping)]:
                    decoder.drop(job)
                    self._finish(job, "length", len(running.pop(job).ids))
                if not running:
                    if long is not None:
                        job, long = long, None
                        if not self._drop(job):
                            try:
                                self._alone(job)
                            except Exception as exc:
                                self._fail([job], exc)
                    continue
                self.stats.batches += 1
                self.stats.largest_batch = max(self.stats.largest_batch, decoder.active)
                try:
                    events = decoder.step()
                except Exception as exc:  # a failed step fails the requests in it, never the server
                    for job in running:
                        decoder.drop(job)
                    self._fail(list(running), exc)
                    running.clear()
                    continue
                for job, token, finished in events:
                    text = running[job]
                    stopped = token in stops
                    if not stopped:
                        piece = text.add(token)
                        if piece:
                            job.emit("delta", piece)
                    if finished:
                        tail = text.finish()
                        if tail:
                            job.emit("delta", tail)
                        del running[job]
                        self._finish(job, "stop" if stopped else "length", len(text.ids))
        finally:
            for job, text in running.items():
                self._finish(job, "length", len(text.ids))
            if long is not None:
                self._finish(long, "length", 0)
            decoder.close()
            while (job := self._next(0)) is not None:  # answer whatever is still queued
                self._finish(job, "length", 0)
