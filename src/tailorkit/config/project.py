"""Project-level settings: name, where runs go, seed."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class ModelConfig(Section):
    """Which model to tune or serve."""

    base: str = Field(
        "smollm2-135m",
        description="bundled name (smollm2-135m), a Hugging Face id (Qwen/Qwen2.5-0.5B-Instruct) or a local directory",
    )
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) for a Hub id")
    trust_remote_code: bool = Field(False, description="allow custom modelling code from the Hub")
    dtype: str = Field("auto", description="auto | float32 | bfloat16 | float16; auto = fp32 on CPU, bf16 on GPUs that have it")
    chat_template: str | None = Field(
        None, description="Jinja chat template to use when the tokenizer has none (base models)"
    )


SLOT_MIN_TOKENS = 1024  # serve.llamacpp_context unset: tokens per llama.cpp slot at least


class ServeConfig(Section):
    """`tailor serve`: an OpenAI-compatible HTTP API over the base model, the tuned run and the knowledge base."""

    host: str = Field("127.0.0.1", description="interface to bind; 0.0.0.0 exposes it to the network")
    port: int = Field(8000, ge=1, le=65535, description="TCP port")
    api_key_env: str | None = Field(
        None, description="if set, clients must send this env var's value as Bearer token; the server refuses "
                          "to start while the variable is unset")
    engine: Literal["auto", "hf", "llamacpp", "vllm"] | None = Field(
        None, description="backend: hf, llamacpp, auto, or vllm (runs vLLM's own OpenAI server with every run "
                          "as a LoRA module; GPU, installed by you); unset = generation.engine")
    max_batch_size: int = Field(16, ge=1, description="HF backend: most requests to one model generated together")
    hf_batching: Literal["continuous", "waves"] = Field(
        "continuous", description="HF backend: continuous (a request joins the running batch at the next token "
                                  "step; models with sliding-window attention use waves) or waves (requests that "
                                  "arrive while a batch runs form the next batch)")
    llamacpp_slots: int = Field(
        16, ge=1, le=64, description="llama.cpp backend: requests to one model decoded together (continuous "
                                     "batching); each slot has its own share of KV cache (llamacpp_context)")
    llamacpp_context: int | None = Field(
        None, ge=256, description="llama.cpp backend: KV cache cells shared out equally among the slots (as "
                                  "llama.cpp's server splits -c among -np); unset = the model's context, but at "
                                  f"least {SLOT_MIN_TOKENS} tokens per slot (SmolLM2-135M, 16 slots: 16 x 1024 "
                                  "cells, 380 MB). A request longer than a slot (prompt + max_tokens) waits for "
                                  "the running ones and runs alone on the model's full context")
    batch_wait_ms: float = Field(
        15.0, ge=0.0, description="HF backend: after a request arrives, how long to wait for more to batch with it")
    max_tokens_limit: int = Field(2048, ge=1, description="largest max_tokens a request may ask for")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="largest request body in bytes (413 above)")
    max_prompt_chars: int | None = Field(
        None, ge=1, description="largest prompt in characters, checked before tokenizing; unset = 8 characters "
                                "per token of the model's context")
    request_timeout_s: float = Field(300.0, gt=0, description="a generation running longer is stopped (504)")
    shutdown_timeout_s: float = Field(
        5.0, ge=0, description="on SIGTERM/Ctrl-C, generations stop at once; open connections get this long to close")
    vllm_args: list[str] = Field(default_factory=list, description="extra arguments for `vllm serve` (--engine vllm)")
