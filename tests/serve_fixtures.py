"""A real tailor server on a free loopback port for tests: the app's own uvicorn.Server (the one
`tailor serve` runs) in a background thread, over a project with the tiny model."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from local_http import free_port

from tailorkit.config import build_config


def tiny_config(tiny_model_dir, root, **serve):
    return build_config({"model": {"base": str(tiny_model_dir)}, "generation": {"max_new_tokens": 8},
                         "serve": serve}, root=root)


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
