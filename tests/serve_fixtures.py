"""A real tailor server on a free loopback port for tests: the app's own uvicorn.Server (the one
`tailor serve` runs) in a background thread, over a project with the tiny model."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest
from local_http import free_port

from tailorkit.config import build_config


# no repetition controls: greedy on the random tiny model then runs to max_tokens without stopping,
# which the cancel, time-limit and SIGTERM tests need
# engine hf: these tests exercise HF's dynamic batching (llama.cpp's slots: test_serve_slots.py)
LONG = {"max_new_tokens": 8, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "engine": "hf"}


def tiny_config(tiny_model_dir, root, **serve):
    return build_config({"model": {"base": str(tiny_model_dir)}, "generation": LONG, "serve": serve}, root=root)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: one torch thread is ~10x faster than two fighting over
    busy cores (the server's generation threads inherit it). Restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@contextmanager
def running(cfg):
    """Yields (base_url, uvicorn server with .pool); stops it afterwards."""
    from tailorkit.serve.run import server

    port = free_port()
    srv = server(cfg, "127.0.0.1", port, log_level="error")
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1", srv
    finally:
        srv.pool.stop()
        srv.should_exit = True
        thread.join(timeout=15)
