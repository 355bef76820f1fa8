"""`tailor serve`: an OpenAI-compatible chat-completions API over the base model, the tuned run and the KB.

Model names: `base` (cfg.model.base), `tuned` (the run's adapter), `kb` (grounded answers with citations).
Any OpenAI client works against it (`base_url=http://127.0.0.1:8000/v1`), so the tuned model can act as
a teacher for `tailor synth`, or be dropped into an existing app. Models load lazily, once; one lock
per model because a torch model is not re-entrant on CPU.
"""
from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from ..config import TailorConfig
from ..errors import TailorError

MODEL_NAMES = ("base", "tuned", "kb")


class ModelPool:
    """Loads `base` and `tuned` on first use and serialises generation per model."""

    def __init__(self, cfg: TailorConfig) -> None:
        self.cfg = cfg
        self._models: dict[str, tuple[Any, Any]] = {}
        self._locks = {name: threading.Lock() for name in MODEL_NAMES}
        self._load_lock = threading.Lock()

    def available(self) -> list[str]:
        names = ["base"]
        if (self.cfg.run_dir / "adapter").exists():
            names.append("tuned")
        names.append("kb")
        return names

    def get(self, name: str):
        with self._load_lock:
            if name not in self._models:
                if name == "tuned":
                    from ..infer.loading import load_tuned

                    self._models[name] = load_tuned(self.cfg.run_dir / "adapter")
                else:
                    from ..models import load_model_and_tokenizer

                    self._models[name] = load_model_and_tokenizer(self.cfg.model)
            return self._models[name]

    def lock(self, name: str) -> threading.Lock:
        return self._locks[name]


def _error(status: int, message: str, code: str):
    return JSONResponse(status_code=status, content={"error": {"message": message, "type": "invalid_request_error",
                                                               "code": code}})


def _completion(model: str, content: str, finish: str, prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def _stream(body: dict):
    """Server-sent events: the whole answer as one delta (generation itself is not incremental)."""
    import json

    choice = body["choices"][0]
    head = {k: body[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    yield f"data: {json.dumps(head | {'choices': [{'index': 0, 'delta': {'role': 'assistant', 'content': choice['message']['content']}, 'finish_reason': None}]})}\n\n"
    yield f"data: {json.dumps(head | {'choices': [{'index': 0, 'delta': {}, 'finish_reason': choice['finish_reason']}]})}\n\n"
    yield "data: [DONE]\n\n"


def create_app(cfg: TailorConfig, pool: ModelPool | None = None):
    pool = pool or ModelPool(cfg)
    app = FastAPI(title="tailorkit", version="0.1.0")
    api_key = os.environ.get(cfg.serve.api_key_env) if cfg.serve.api_key_env else None

    def authorised(request: Request) -> bool:
        return api_key is None or request.headers.get("authorization", "") == f"Bearer {api_key}"

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/v1/models")
    def models(request: Request):
        if not authorised(request):
            return _error(401, "invalid or missing API key", "invalid_api_key")
        return {"object": "list", "data": [{"id": n, "object": "model", "owned_by": "tailorkit"} for n in pool.available()]}

    @app.post("/v1/chat/completions")
    def chat(request: Request, payload: dict):
        if not authorised(request):
            return _error(401, "invalid or missing API key", "invalid_api_key")
        name = payload.get("model", "base")
        messages = payload.get("messages")
        if name not in pool.available():
            return _error(404, f"model '{name}' is not served here; available: {', '.join(pool.available())}",
                          "model_not_found")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") in ("system", "user", "assistant")
                for m in messages):
            return _error(400, "'messages' must be a non-empty list of {role, content} objects", "invalid_messages")
        try:
            body = _answer_kb(cfg, name, messages) if name == "kb" else _generate(cfg, pool, name, messages, payload)
        except TailorError as exc:
            return _error(400, exc.one_line(), "tailor_error")
        if payload.get("stream"):
            return StreamingResponse(_stream(body), media_type="text/event-stream")
        return body

    return app


def _generate(cfg: TailorConfig, pool: ModelPool, name: str, messages: list[dict], payload: dict) -> dict:
    from ..infer.hf_generate import generate

    updates: dict[str, Any] = {}
    if payload.get("max_tokens") or payload.get("max_completion_tokens"):
        updates["max_new_tokens"] = int(payload.get("max_completion_tokens") or payload["max_tokens"])
    for key in ("temperature", "top_p", "seed"):
        if payload.get(key) is not None:
            updates[key] = payload[key]
    gen_cfg = cfg.generation.model_copy(update=updates)
    model, tok = pool.get(name)
    clean = [{"role": m["role"], "content": m["content"]} for m in messages]
    prompt_tokens = len(tok.apply_chat_template(clean, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])
    with pool.lock(name):
        out = generate(model, tok, [clean], gen_cfg)[0]
    return _completion(name, out.text, out.finish_reason, prompt_tokens, out.n_tokens)


def _answer_kb(cfg: TailorConfig, name: str, messages: list[dict]) -> dict:
    from ..kb.answer import ask

    question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    answer = ask(cfg, question)
    sources = "\n".join(f"[{c.n}] {c.location}" for c in answer.citations) if answer.citations else ""
    content = answer.text + (f"\n\nSources:\n{sources}" if sources else "")
    return _completion(name, content, "stop", len(question.split()), len(answer.text.split()))


def serve(cfg: TailorConfig, host: str | None = None, port: int | None = None) -> None:
    """Run the server until interrupted (blocking)."""
    import uvicorn

    uvicorn.run(create_app(cfg), host=host or cfg.serve.host, port=port or cfg.serve.port, log_level="info")
