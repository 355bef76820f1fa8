"""Request bodies of the OpenAI-compatible API as pydantic models, and the OpenAI error shape.

Every body is read with a size cap, parsed as JSON and validated here, so a bad field is a 400 that
names it (`param`), malformed JSON a 400 and an oversized body a 413, never a 500. Numbers are strict
(`"max_tokens": "5"` is rejected, as OpenAI does); fields OpenAI defines that this server does not act
on (`user`, `logprobs`, `frequency_penalty`, ...) are accepted and ignored.
"""
from __future__ import annotations

import json
from typing import Literal

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class APIError(Exception):
    """An HTTP error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def response(self) -> JSONResponse:
        kind = {401: "authentication_error", 404: "not_found_error", 503: "server_error",
                504: "timeout_error"}.get(self.status, "invalid_request_error")
        return JSONResponse(status_code=self.status, content=error_body(self.message, kind, self.param, self.code))


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class TextPart(_Body):
    type: Literal["text"]
    text: str


class ChatMessage(_Body):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def plain(self) -> dict:
        """{role, content} with text parts joined and `developer` as `system`."""
        text = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class StreamOptions(_Body):
    include_usage: bool = False


class _Generate(_Body):
    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=1, description="one choice per request")
    stop: str | list[str] | None = None

    @field_validator("stop")
    @classmethod
    def _no_stop_strings(cls, value):
        if value:  # an empty list or None is fine; real stop strings are not implemented
            raise ValueError("stop sequences are not supported by this server; the model stops at its own end token")
        return value


class ChatRequest(_Generate):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)

    def budget(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Generate):
    prompt: str
    echo: bool = False

    def budget(self) -> int | None:
        return self.max_tokens


class EmbeddingRequest(_Body):
    model: str
    input: str | list[str] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] = "float"


def _field(loc: tuple) -> str:
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p in ("str", "list[TextPart]", "list[str]")))


async def read_body(request: Request, model: type[BaseModel], limit: int) -> BaseModel:
    """The request's JSON body validated as `model`: 413 over `limit` bytes, 400 for bad JSON or fields."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise APIError(413, f"request body is {declared} bytes; the limit is {limit} (serve.max_body_bytes)",
                       code="body_too_large")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise APIError(413, f"request body exceeds {limit} bytes (serve.max_body_bytes)", code="body_too_large")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the request body is not valid JSON ({exc})", code="invalid_json") from None
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = _field(err["loc"])
        more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
        raise APIError(400, f"{name}: {err['msg']}{more}", param=name, code="invalid_value") from None
