"""Project-level settings: name, where runs go, seed."""
from __future__ import annotations

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


class ServeConfig(Section):
    """`tailor serve`: an OpenAI-compatible HTTP API over the base model, the tuned run and the knowledge base."""

    host: str = Field("127.0.0.1", description="interface to bind; 0.0.0.0 exposes it to the network")
    port: int = Field(8000, ge=1, le=65535, description="TCP port")
    api_key_env: str | None = Field(None, description="if set, clients must send this env var's value as Bearer token")
