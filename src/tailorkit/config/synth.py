"""The `teacher:` and `synth:` sections (owned by the synth package; extend here)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class Price(Section):
    """What one model costs, in US dollars per million tokens."""

    input: float = Field(..., ge=0, allow_inf_nan=False, description="USD per 1M prompt tokens")
    output: float = Field(..., ge=0, allow_inf_nan=False, description="USD per 1M completion tokens")


class TeacherConfig(Section):
    """A teacher LLM: an OpenAI-compatible endpoint, or the local bundled model when base_url is unset."""

    base_url: str | None = Field(None, description="OpenAI-compatible base URL; unset = local in-process teacher")
    model: str = Field("smollm2-135m", description="model name sent to the endpoint, or a local model reference")
    api_key_env: str | None = Field(None, description="environment variable that holds the API key "
                                                      "(unset = no key, fine for local servers)")
    timeout_s: float = Field(60.0, gt=0, description="seconds before one request counts as timed out")
    max_retries: int = Field(5, ge=0, description="retries per request on 429, 5xx, timeouts, bad replies")
    retry_base_s: float = Field(1.0, gt=0, description="first backoff delay; doubles per retry, with jitter")
    retry_max_s: float = Field(60.0, gt=0, description="cap on one backoff delay (Retry-After is honoured beyond it)")
    concurrency: int = Field(8, ge=1, description="requests in flight at once")
    requests_per_minute: float | None = Field(None, gt=0, description="pace requests to this rate; unset = no cap")
    tokens_per_minute: float | None = Field(None, gt=0, description="cap on prompt+completion tokens per minute")
    temperature: float = Field(0.8, ge=0, description="sampling temperature for generated text")
    max_tokens: int = Field(384, ge=16, description="cap on tokens per generated answer (expand)")
    structured_output: Literal["auto", "json_schema", "off"] = Field(
        "auto", description="send response_format json_schema for judgements; auto falls back when refused")
    prices: dict[str, Price] = Field(
        default_factory=dict, description="per model name: {input: USD/1M tokens, output: USD/1M tokens}")
    batch_size: int = Field(8, ge=1, description="local teacher: prompts generated together")
    device: str | None = Field(None, description="local teacher: cpu | cuda; unset = pick automatically")
    engine: Literal["auto", "hf", "llamacpp"] = Field(
        "auto", description="local teacher: inference backend, as generation.engine (auto: llama.cpp on CPU "
                            "when installed and a GGUF of the model exists or can be written; hf otherwise)")
    probe: bool = Field(True, description="check that the endpoint answers before sending any request")


class SynthConfig(Section):
    """Teacher-made data: recipes, their filters, and which recipe `tailor run` runs."""

    recipe: Literal["backtranslate", "expand", "curate"] | None = Field(
        None, description="backtranslate | expand | curate; unset = no synth step in `tailor run`")
    source: str | None = Field(None, description="input file for the recipe, relative to tailor.yaml")
    column: str | None = Field(None, description="CSV/JSONL column holding the outputs (backtranslate)")
    output: str = Field("data/synth.jsonl", description="Example JSONL written by the recipe")
    instructions: str | None = Field(
        None, description="what the outputs are, told to the teacher, e.g. 'Midjourney prompts; requests "
                          "start with \"midjourney prompt for\"'")
    system_prompt: str | None = Field(None, description="system message added to every written Example")
    demos: str | None = Field(
        None, description="backtranslate: Examples (any format `tailor data` reads, mapped by data.columns) whose "
                          "request -> output pairs show the teacher the style of request wanted")
    n_demos: int = Field(3, ge=0, le=20, description="backtranslate: demonstrations shown per request")
    request_max_tokens: int = Field(96, ge=4, description="backtranslate: cap on tokens per generated request")
    n_candidates: int = Field(3, ge=1, le=10, description="backtranslate: candidate requests per output")
    candidates_mode: Literal["auto", "list", "calls"] = Field(
        "auto", description="list = one call returning a JSON list; calls = one call per candidate at varied "
                            "temperature; auto = list for endpoints, calls for the local teacher")
    select: Literal["auto", "judge", "likelihood", "first"] = Field(
        "auto", description="pick the best candidate by a teacher judge, by the student model's likelihood "
                            "of the output, or take the first; auto = judge for endpoints, likelihood locally")
    max_overlap: float = Field(
        0.5, ge=0.0, le=1.0, description="leakage guard: drop a request holding more than this share of its "
                                         "output's word pairs")
    min_chars: int = Field(8, ge=0, description="shortest generated text kept")
    max_chars: int = Field(4000, ge=1, description="longest text kept (generated requests and answers; curated answers)")
    near_duplicate_threshold: float = Field(
        0.92, ge=0.5, le=1.0, description="similarity (0-1) above which a row counts as a near-duplicate")
    refusal_markers: list[str] = Field(
        default_factory=lambda: ["i'm sorry", "i am sorry", "as an ai", "i cannot", "i can't", "i can not",
                                 "i'm unable", "i am unable", "as a language model"],
        description="lower-case phrases that mark a refusal when a generated text starts with or contains them")
    expand_count: int = Field(100, ge=1, description="expand: new Examples to request")
    expand_demos: int = Field(3, ge=1, description="expand: seed Examples shown per request")
    expand_rouge_threshold: float = Field(
        0.7, ge=0.1, le=1.0, description="expand: drop a new request whose ROUGE-L with any pool request reaches this")
    curate_threshold: int = Field(4, ge=1, le=5, description="curate: rows scoring below this are kept aside")
    cache: str = Field(".tailor/synth-cache.sqlite", description="request cache (SQLite), relative to tailor.yaml")
    budget_usd: float | None = Field(None, gt=0, description="stop cleanly before spending more than this")
    limit: int | None = Field(None, ge=1, description="process only the first N source rows")
    seed: int = Field(0, description="seed for demonstrations and sampling")
