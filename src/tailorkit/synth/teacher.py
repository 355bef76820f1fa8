"""Teachers behind one small interface: `await teacher.complete(messages, params) -> Completion`.

`OpenAITeacher` talks to anything speaking the OpenAI chat API (OpenAI, vLLM, Ollama, llama.cpp
server, `tailor serve`). Its client never retries by itself (max_retries=0): the bulk runner owns
retries so that backoff, Retry-After, the rate limiter and the budget all see every attempt.

Failures are sorted here, once, into three kinds the runner acts on:
- `RetryableError`: 429, 5xx, timeouts, malformed replies (`ConnectionFailed` for refused connections);
- `RejectedRequest`: the endpoint refuses this one request (400/422): the row goes to the errors file;
- `TeacherError` (tailorkit.errors): nothing can work (bad key, unknown model, quota): the run stops.
"""
from __future__ import annotations

import email.utils
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

import httpx

from ..config.synth import TeacherConfig
from ..endpoints import client_headers
from ..errors import TeacherError


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Completion:
    """One teacher reply. finish_reason is "stop", "length" (hit max_tokens) or what the endpoint said."""

    text: str
    finish_reason: str
    usage: Usage


class RetryableError(Exception):
    """Worth another attempt after a backoff; `retry_after` is the server's own wish in seconds."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class ConnectionFailed(RetryableError):
    """The endpoint could not be reached at all (refused, DNS, reset)."""


class RejectedRequest(Exception):
    """The endpoint refuses this request as such; retrying the same bytes cannot help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Teacher(Protocol):
    ident: str       # endpoint identity for the cache key (base URL, or local:<model>)
    model: str
    host: str        # for provenance: host[:port], or "local"
    is_local: bool

    async def probe(self) -> None: ...
    async def complete(self, messages: list[dict], params: dict[str, Any]) -> Completion: ...
    async def aclose(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """A rough token count (about 4 characters per token for English) for estimates and reservations."""
    return max(1, (len(text) + 3) // 4)


def retry_after_seconds(headers) -> float | None:
    """Seconds the server asks us to wait: retry-after-ms, retry-after (seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class OpenAITeacher:
    """An OpenAI-compatible chat endpoint through `openai.AsyncOpenAI`."""

    is_local = False

    def __init__(self, cfg: TeacherConfig) -> None:
        if not cfg.base_url:
            raise TeacherError("no teacher base_url is set", fix="set teacher.base_url or pass --base-url")
        if cfg.api_key_env:
            key = os.environ.get(cfg.api_key_env)
            if not key:
                raise TeacherError(f"the environment variable {cfg.api_key_env} (teacher.api_key_env) is not set",
                                   fix=f"export {cfg.api_key_env}=<your key>, or point teacher.api_key_env "
                                       "(--api-key-env) at the variable that holds it")
        else:
            key = "not-needed"  # local servers (vLLM, Ollama, llama.cpp) accept any key
        self.cfg = cfg
        self.api_key = key
        self.base_url = cfg.base_url.rstrip("/")
        self.ident = self.base_url
        self.model = cfg.model
        self.host = urlparse(self.base_url).netloc or self.base_url
        self._json_schema_ok = cfg.structured_output != "off"
        self._client = None

    def _get_client(self):
        # Created inside the running event loop: httpx binds its connection pool to the loop.
        if self._client is None:
            import openai

            # An explicit key and no account headers from the environment (see endpoints.py).
            self._client = openai.AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0,
                                              timeout=self.cfg.timeout_s, default_headers=client_headers(self.base_url))
        return self._client

    async def probe(self) -> None:
        """Fail fast, before any row is sent, when nothing listens at base_url or the key is refused."""
        import openai

        client = self._get_client()
        try:
            # The raw path: the SDK's page parser fails with AttributeError on a non-JSON (HTML) reply.
            resp = await client.with_options(timeout=min(5.0, self.cfg.timeout_s)).get("/models", cast_to=httpx.Response)
        except openai.APITimeoutError:
            return  # something answers, slowly; the runner's retries handle slowness
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise TeacherError(
                f"cannot connect to the teacher at {self.base_url} ({type(cause).__name__}: {cause}); "
                "checked with a quick probe before sending any request",
                fix="start the server, or correct teacher.base_url / --base-url") from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise self._auth_error(exc) from None
        except openai.APIError:
            return  # many servers do not implement /models; the chat endpoint is what matters
        self._refuse_html(resp)

    def _refuse_html(self, resp: httpx.Response) -> None:
        """A web page instead of JSON (a login page, a proxy, the site's root): every request would get
        the same, so stop the run with one error instead of failing row after row."""
        kind = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind in ("text/html", "application/xhtml+xml"):
            raise TeacherError(f"the teacher at {self.base_url} answered {resp.request.url.path} with a web page "
                               f"({kind}), not OpenAI-compatible JSON",
                               fix="point teacher.base_url (--base-url) at the API root, which usually ends in /v1")

    def _auth_error(self, exc) -> TeacherError:
        var = self.cfg.api_key_env or "the key variable"
        return TeacherError(f"the teacher at {self.base_url} refused the API key ({getattr(exc, 'status_code', '')})",
                            fix=f"check {var}, or set teacher.api_key_env / --api-key-env to the right variable")

    async def complete(self, messages: list[dict], params: dict[str, Any]) -> Completion:
        import openai

        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        for name in ("temperature", "max_tokens", "top_p", "seed"):
            if params.get(name) is not None:
                kwargs[name] = params[name]
        fmt = params.get("response_format")
        if fmt is not None and self._json_schema_ok:
            kwargs["response_format"] = fmt
        try:
            # The documented raw path (client.post) instead of chat.completions.create: same auth,
            # timeouts and typed errors, without the per-request pydantic transforms that cost more
            # CPU than everything else in a bulk run.
            resp = await self._get_client().post("/chat/completions", body=kwargs, cast_to=httpx.Response)
            self._refuse_html(resp)
            data = resp.json()
        except openai.RateLimitError as exc:
            body = getattr(exc, "body", None)
            code = body.get("code") if isinstance(body, dict) else None
            if code == "insufficient_quota":
                raise TeacherError(f"the teacher account at {self.host} has no quota left",
                                   fix="add credit to the account or use another teacher") from None
            raise RetryableError("429 rate limited", retry_after_seconds(exc.response.headers)) from None
        except openai.APITimeoutError:
            raise RetryableError(f"timed out after {self.cfg.timeout_s:g}s") from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise ConnectionFailed(f"connection failed ({type(cause).__name__}: {cause})") from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise self._auth_error(exc) from None
        except openai.NotFoundError:
            raise TeacherError(f"the teacher at {self.base_url} has no model '{self.model}' or no chat endpoint",
                               fix="check teacher.model (--model) and teacher.base_url (usually ends in /v1)") from None
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            if "response_format" in kwargs and self.cfg.structured_output == "auto":
                # Many servers lack json_schema; the prompt asks for JSON anyway and parsing is robust.
                self._json_schema_ok = False
                return await self.complete(messages, params)
            raise RejectedRequest(f"{exc.status_code} {_message(exc)}") from None
        except openai.APIStatusError as exc:
            if exc.status_code >= 500 or exc.status_code in (408, 409):
                raise RetryableError(f"{exc.status_code} {_message(exc)}",
                                     retry_after_seconds(exc.response.headers)) from None
            raise RejectedRequest(f"{exc.status_code} {_message(exc)}") from None
        except (openai.APIResponseValidationError, ValueError) as exc:  # JSONDecodeError is a ValueError
            raise RetryableError(f"malformed reply ({type(exc).__name__})") from None
        return _completion(data, messages)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _completion(data: Any, messages: list[dict]) -> Completion:
    """A chat.completion JSON body -> Completion; anything unexpected is a malformed (retryable) reply."""
    try:
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
        finish = choice.get("finish_reason") or "stop"
    except (KeyError, IndexError, TypeError, AttributeError):
        raise RetryableError("malformed reply (no choices/message)") from None
    usage = data.get("usage") or {}
    prompt_tokens = usage.get("prompt_tokens") or estimate_tokens(json.dumps(messages, ensure_ascii=False))
    completion_tokens = usage.get("completion_tokens") or estimate_tokens(text)
    return Completion(text=str(text), finish_reason=str(finish), usage=Usage(int(prompt_tokens), int(completion_tokens)))


def _message(exc) -> str:
    body = getattr(exc, "body", None)
    msg = None
    if isinstance(body, dict):
        err = body.get("error")
        msg = err.get("message") if isinstance(err, dict) else body.get("message")
    return " ".join(str(msg or exc).split())[:200]


def make_teacher(cfg: TeacherConfig) -> Teacher:
    """An endpoint teacher when base_url is set, else the local in-process model."""
    if cfg.base_url:
        return OpenAITeacher(cfg)
    from .local import LocalTeacher

    return LocalTeacher(cfg)
