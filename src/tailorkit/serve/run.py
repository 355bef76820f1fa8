"""Run the server: uvicorn on 127.0.0.1 by default, stopped promptly by SIGTERM or Ctrl-C.

uvicorn's graceful shutdown waits for open connections, and a streaming generation keeps its
connection open until it finishes. So the server's signal handler first sets the pool's stop flag
(every generation thread checks it once per token and ends its stream with a "shutting down" error),
then lets uvicorn shut down; serve.shutdown_timeout_s caps the wait for whatever is still open.
"""
from __future__ import annotations

from ..config import TailorConfig
from ..errors import ConfigError
from .app import api_key, create_app
from .pool import ModelPool


def server(cfg: TailorConfig, host: str | None = None, port: int | None = None, *, engine: str | None = None,
           log_level: str = "info"):
    """A configured uvicorn.Server (not started) whose exit signal stops every generation first."""
    import uvicorn

    api_key(cfg)  # refuse to start on an unset api_key_env before loading anything
    if (engine or cfg.serve.engine) == "vllm":
        raise ConfigError("engine vllm runs vLLM's own server, not this one", where="serve.engine",
                          fix="call serve() (or `tailor serve --engine vllm`), or pick hf, llamacpp or auto")
    pool = ModelPool(cfg, engine=engine)
    app = create_app(cfg, pool)

    class _Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            pool.stop()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=host or cfg.serve.host, port=port or cfg.serve.port, log_level=log_level,
                            timeout_graceful_shutdown=cfg.serve.shutdown_timeout_s)
    srv = _Server(config)
    srv.pool = pool
    return srv


def serve(cfg: TailorConfig, host: str | None = None, port: int | None = None, *, engine: str | None = None) -> None:
    """Run the server until SIGTERM/Ctrl-C (blocking). engine vllm hands over to vLLM's own server."""
    choice = engine or cfg.serve.engine
    if choice == "vllm":
        from .vllm import run_vllm

        run_vllm(cfg, host=host, port=port)
        return
    server(cfg, host, port, engine=choice).run()
