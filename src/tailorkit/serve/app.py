"""`tailor serve`: an OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/embeddings,
/v1/models) over the base model, every trained run, the configured run (`tuned`) and the knowledge base.

Any OpenAI client works against it (`base_url=http://127.0.0.1:8000/v1`). Answers stream token by token
(SSE chunks in OpenAI's format, then `data: [DONE]`); a client that disconnects cancels its generation.
Requests to one model are batched as they arrive (serve/batcher.py). Every request is checked before
it costs anything: body size, JSON, fields (serve/schemas.py), prompt characters, then prompt tokens +
max_tokens against the model's context.
"""
from __future__ import annotations

import asyncio
import base64
import hmac
import json
import os
import time
import uuid
from contextlib import asynccontextmanager

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..config import TailorConfig
from ..errors import ConfigError, TailorError
from ..infer.hf_batch import RowSpec
from .batcher import Job
from .pool import ModelPool, Served
from .schemas import (APIError, ChatRequest, CompletionRequest, EmbeddingRequest, error_body, read_body)

CHARS_PER_TOKEN = 8  # default prompt bound in characters per context token (serve.max_prompt_chars unset)
KB_QUESTION_CHARS = 8192  # default bound on a kb question (it is embedded and put in the answer prompt)


def api_key(cfg: TailorConfig) -> str | None:
    """The key clients must send, or None; an api_key_env naming an unset variable is a ConfigError."""
    env = cfg.serve.api_key_env
    if not env:
        return None
    value = os.environ.get(env)
    if not value:
        raise ConfigError(f"serve.api_key_env names ${env}, which is not set (the server would accept everyone)",
                          where="serve.api_key_env", fix=f"export {env}=<a secret key>, or remove serve.api_key_env")
    return value


def create_app(cfg: TailorConfig, pool: ModelPool | None = None) -> FastAPI:
    key = api_key(cfg)
    pool = pool or ModelPool(cfg)

    @asynccontextmanager
    async def lifespan(app):
        yield
        await run_in_threadpool(pool.close)

    app = FastAPI(title="tailorkit", version="0.1.0", lifespan=lifespan)
    app.state.pool = pool

    @app.exception_handler(APIError)
    async def _api_error(request, exc: APIError):
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc: StarletteHTTPException):
        return JSONResponse(status_code=exc.status_code, content=error_body(str(exc.detail)))

    async def authorised(request: Request) -> None:
        if key is None:
            return
        sent = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(sent, f"Bearer {key}".encode()):
            raise APIError(401, "invalid or missing API key (send Authorization: Bearer <key>)",
                           code="invalid_api_key")

    @app.get("/health")
    def health() -> dict:
        return {"status": "stopping" if pool.stopping.is_set() else "ok", "models": pool.stats()}

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(authorised)])

    def card(name: str) -> dict:
        return {"id": name, "object": "model", "created": 0, "owned_by": "tailorkit"}

    @v1.get("/models")
    def models() -> dict:
        return {"object": "list", "data": [card(n) for n in pool.all_models()]}

    @v1.get("/models/{name}")
    def model(name: str) -> dict:
        _known(pool, name, pool.all_models())
        return card(name)

    @v1.post("/chat/completions")
    async def chat(request: Request):
        body = await read_body(request, ChatRequest, cfg.serve.max_body_bytes)
        messages = [m.plain() for m in body.messages]
        _known(pool, body.model, pool.chat_models())
        if body.model == "kb":
            return await _kb(pool, body, messages)
        served = await _load(pool, body.model)
        chars = sum(len(m["content"]) for m in messages)
        _check_chars(cfg, served, chars, "messages")
        if served.batched:
            ids = await run_in_threadpool(served.encode_chat, messages)
            n_prompt = len(ids)
        else:
            ids, n_prompt = None, await run_in_threadpool(served.engine.count_tokens, messages)
        job = _job(cfg, served, body, n_prompt, "messages", prompt_ids=ids, conversation=messages)
        return await _respond(request, served, job, body, chat=True)

    @v1.post("/completions")
    async def completions(request: Request):
        body = await read_body(request, CompletionRequest, cfg.serve.max_body_bytes)
        _known(pool, body.model, [n for n in pool.chat_models() if n != "kb"])
        served = await _load(pool, body.model)
        if not served.batched:
            raise APIError(400, f"/v1/completions (raw text) needs the HF or llama.cpp backend; model '{body.model}' runs on "
                                f"{served.engine.name}: use /v1/chat/completions", param="model")
        if body.echo:
            raise APIError(400, "echo is not supported", param="echo")
        _check_chars(cfg, served, len(body.prompt), "prompt")
        ids = await run_in_threadpool(served.encode_text, body.prompt)
        job = _job(cfg, served, body, len(ids), "prompt", prompt_ids=ids)
        return await _respond(request, served, job, body, chat=False)

    @v1.post("/embeddings")
    async def embeddings(request: Request):
        body = await read_body(request, EmbeddingRequest, cfg.serve.max_body_bytes)
        _known(pool, body.model, [pool.embedding_model])
        texts = [body.input] if isinstance(body.input, str) else body.input
        vecs = np.asarray(await run_in_threadpool(_embed, pool, texts), dtype=np.float32)
        n = await run_in_threadpool(pool.count_text_tokens, texts)
        data = [{"object": "embedding", "index": i,
                 "embedding": base64.b64encode(v.tobytes()).decode() if body.encoding_format == "base64"
                 else v.tolist()} for i, v in enumerate(vecs)]
        return {"object": "list", "data": data, "model": body.model,
                "usage": {"prompt_tokens": n, "total_tokens": n}}

    app.include_router(v1)
    return app


# --- checks --------------------------------------------------------------------------------

def _known(pool: ModelPool, name: str, allowed: list[str]) -> None:
    if name not in allowed:
        raise APIError(404, f"model '{name}' is not served here for this endpoint; available: {', '.join(allowed)}",
                       param="model", code="model_not_found")


async def _load(pool: ModelPool, name: str) -> Served:
    try:
        return await run_in_threadpool(pool.get, name)
    except TailorError as exc:
        raise APIError(500, f"model '{name}' cannot be loaded: {exc.one_line()}", code="model_load_failed") from None


def _embed(pool: ModelPool, texts: list[str]):
    try:
        return pool.embed(texts)
    except TailorError as exc:
        raise APIError(500, f"the embedder cannot run: {exc.one_line()}", code="embedder_failed") from None


def _check_chars(cfg: TailorConfig, served: Served, chars: int, param: str) -> None:
    limit = cfg.serve.max_prompt_chars or CHARS_PER_TOKEN * served.engine.context_length
    if chars > limit:
        raise APIError(400, f"the prompt is {chars} characters; the limit is {limit} (serve.max_prompt_chars; "
                            f"the model's context is {served.engine.context_length} tokens)",
                       param=param, code="context_length_exceeded")


def _job(cfg: TailorConfig, served: Served, body, n_prompt: int, param: str, **prompt) -> Job:
    """Bound prompt + max_tokens by the context and the server's limit, then queue the job."""
    context = served.engine.context_length
    room = context - n_prompt
    if room < 1:
        raise APIError(400, f"the prompt is {n_prompt} tokens; the model's context is {context}",
                       param=param, code="context_length_exceeded")
    asked = body.budget()
    if asked is not None and asked > cfg.serve.max_tokens_limit:
        raise APIError(400, f"max_tokens is {asked}; this server allows at most {cfg.serve.max_tokens_limit} "
                            "(serve.max_tokens_limit)", param="max_tokens", code="max_tokens_too_large")
    if asked is not None and asked > room:
        raise APIError(400, f"the prompt is {n_prompt} tokens and max_tokens is {asked}: {n_prompt + asked} is over "
                            f"the model's context of {context}; ask for at most {room}",
                       param="max_tokens", code="context_length_exceeded")
    gen = cfg.generation
    budget = asked if asked is not None else min(gen.max_new_tokens, room, cfg.serve.max_tokens_limit)
    temperature = gen.temperature if body.temperature is None else body.temperature
    spec = RowSpec(budget, temperature, gen.top_p if body.top_p is None else body.top_p,
                   gen.seed if body.seed is None else body.seed)
    job = Job(asyncio.get_running_loop(), spec, time.monotonic() + cfg.serve.request_timeout_s,
              prompt_tokens=n_prompt, **prompt)
    served.scheduler.submit(job)
    return job


# --- answers -------------------------------------------------------------------------------

def _usage(job: Job, n: int) -> dict:
    return {"prompt_tokens": job.prompt_tokens, "completion_tokens": n, "total_tokens": job.prompt_tokens + n}


async def _respond(request: Request, served: Served, job: Job, body, *, chat: bool):
    head = {"id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}", "created": int(time.time()),
            "model": body.model}
    if body.stream:
        usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(_sse(request, job, head, chat, usage), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    parts, finish, n = await _collect(request, job)
    text = "".join(parts)
    choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
              if chat else {"index": 0, "text": text, "finish_reason": finish, "logprobs": None})
    return head | {"object": "chat.completion" if chat else "text_completion", "choices": [choice],
                   "usage": _usage(job, n)}


async def _collect(request: Request, job: Job):
    """Wait for a whole answer; a client that disconnects meanwhile cancels it."""
    parts: list[str] = []
    try:
        while True:
            try:
                event = await asyncio.wait_for(job.events.get(), timeout=0.5)
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    job.cancel()
                    raise APIError(499, "client closed the request", code="client_closed") from None
                continue
            if event[0] == "delta":
                parts.append(event[1])
            elif event[0] == "done":
                return parts, event[1], event[2]
            else:
                raise event[1]
    finally:
        job.cancel()  # harmless once done; stops the generation when this task was cancelled


def _sse_line(obj) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


async def _sse(request: Request, job: Job, head: dict, chat: bool, include_usage: bool):
    kind = "chat.completion.chunk" if chat else "text_completion"

    def chunk(content: str | None, finish: str | None = None) -> str:
        if chat:
            delta = {} if content is None else {"content": content}
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": content or "", "finish_reason": finish, "logprobs": None}
        return _sse_line(head | {"object": kind, "choices": [choice]})

    try:
        if chat:
            yield _sse_line(head | {"object": kind, "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        while True:
            try:
                event = await asyncio.wait_for(job.events.get(), timeout=0.5)
            except asyncio.TimeoutError:  # nothing to send yet: notice a client that left without a write
                if await request.is_disconnected():
                    return
                continue
            if event[0] == "delta":
                yield chunk(event[1])
            elif event[0] == "done":
                yield chunk(None, event[1])
                if include_usage:
                    yield _sse_line(head | {"object": kind, "choices": [], "usage": _usage(job, event[2])})
                yield "data: [DONE]\n\n"
                return
            else:
                err: APIError = event[1]
                yield _sse_line(error_body(err.message, "server_error", None, err.code))
                return
    finally:
        job.cancel()  # a client gone mid-stream lands here (the generator is closed): stop generating


async def _kb(pool: ModelPool, body: ChatRequest, messages: list[dict]):
    question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    if not question.strip():
        raise APIError(400, "the kb model answers the last user message, and there is none", param="messages")
    limit = pool.cfg.serve.max_prompt_chars or KB_QUESTION_CHARS
    if len(question) > limit:
        raise APIError(400, f"the question is {len(question)} characters; the kb model takes at most {limit} "
                            "(serve.max_prompt_chars)", param="messages", code="context_length_exceeded")
    try:
        answer = await run_in_threadpool(pool.answer_kb, question)
    except TailorError as exc:
        raise APIError(400, exc.one_line(), code="kb_error") from None
    sources = "\n".join(f"[{c.n}] {c.location}" for c in answer.citations)
    content = answer.text + (f"\n\nSources:\n{sources}" if sources else "")
    head = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": "kb"}
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    if body.stream:  # the answer is checked for citations as a whole, so it arrives as one delta
        def events():
            kind = {"object": "chat.completion.chunk"}
            yield _sse_line(head | kind | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": content},
                                                        "finish_reason": None}]})
            yield _sse_line(head | kind | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            yield "data: [DONE]\n\n"
        return StreamingResponse(events(), media_type="text/event-stream")
    return head | {"object": "chat.completion", "usage": usage, "choices": [
        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}
