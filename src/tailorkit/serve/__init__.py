"""The OpenAI-compatible server: `serve.run.serve(cfg)` runs it (uvicorn), `serve.app.create_app(cfg)` is the
ASGI app, `serve.vllm.vllm_command(cfg)` the vLLM alternative for GPUs."""
