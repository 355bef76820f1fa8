"""The `generation:` section: decoding settings shared by compare, ask and serve."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..convert.quant import QUANTS
from .base import Section
from .checks import CheckConfig
from .judge import JudgeConfig


class GenerationConfig(Section):
    """Identical settings are used for base and tuned models in compare."""

    max_new_tokens: int = Field(160, ge=1, description="cap on generated tokens")
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy decoding")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling (only when temperature > 0)")
    repetition_penalty: float = Field(1.15, ge=1.0, description="penalise repeated tokens (1.0 = off)")
    no_repeat_ngram_size: int = Field(4, ge=0, description="forbid repeating any n-gram of this size (0 = off)")
    penalize_prompt: bool = Field(
        False, description="also apply repetition_penalty and no_repeat_ngram_size to the prompt's tokens "
                           "(transformers' default); off lets answers reuse the request's words")
    seed: int = Field(0, description="seed for sampling")
    engine: Literal["auto", "hf", "llamacpp"] = Field(
        "auto", description="inference backend: hf (transformers), llamacpp (GGUF via llama-cpp-python), or "
                            "auto (llama.cpp on CPU when installed and a GGUF of the model exists or can be "
                            "written; hf otherwise)")
    gguf_quant: Literal[QUANTS] = Field(
        "q8_0", description="tensor type of the GGUF the llama.cpp engine writes (once, cached) for a model: q8_0 "
                            "answers closest to the HF engine; 4-bit types (q4_0, iq4_nl, q4_k_m) decode faster "
                            "one prompt at a time on CPUs but change more answers of a small model")


class CompareConfig(Section):
    """`tailor compare`: base vs tuned on the held-out test split."""

    max_rows: int | None = Field(None, ge=1, description="evaluate at most this many test rows")
    n_examples: int = Field(10, ge=0, description="side-by-side examples in the report")
    embedder: str = Field("all-minilm-l6-v2", description="sentence-transformers model for embedding similarity")
    batch_size: int = Field(16, ge=1, description="rows generated (and references scored) together; measured on "
                                                  "16 Midjourney rows, 2 CPU cores: 16 instead of 8 takes compare "
                                                  "from 59 to 42 s (HF) and 45 to 37-41 s (llama.cpp), +0.4 GB")
    checks: list[CheckConfig] = Field(
        default_factory=list, description="task checks, each {type: regex | not_regex | starts_with | not_starts_with "
                                          "| length | lines | max_line_width | json | json_schema, ...}: pass rates "
                                          "per model and on the references")
    judge: JudgeConfig | None = Field(
        None, description="pairwise judge (base_url of an OpenAI-compatible endpoint, or no base_url for the weak "
                          "local model); unset = judge off")


class ExportConfig(Section):
    """`tailor export`: adapter, merged model, GGUF + Ollama Modelfile, Hub upload."""

    merge: bool = Field(False, description="also write a merged full model")
    push: str | None = Field(None, description="Hugging Face Hub repo id to upload to, e.g. user/my-model")
    private: bool = Field(True, description="create the Hub repo as private")
    token_env: str = Field("HF_TOKEN", description="environment variable holding the Hub token")
    endpoint: str | None = Field(None, description="Hub URL for --push; unset = huggingface.co (or $HF_ENDPOINT)")
    gguf: bool = Field(False, description="also write GGUF files for llama.cpp and Ollama: the merged model, the LoRA "
                                          "as a GGUF adapter, and a Modelfile")
    quant: str = Field("f16", description="GGUF tensor type of the merged model: f32, f16, bf16, q8_0, q5_1, q5_0, "
                                          "q4_1 or q4_0 (written by gguf-py; norms stay f32), or a llama.cpp "
                                          "type (q6_k, q5_k_m, q4_k_m, q3_k_m, q2_k, iq4_nl, iq4_xs, ...; "
                                          "needs llama-cpp-python)")
    check: bool = Field(True, description="after writing the GGUF, answer the test prompts with the tuned model and "
                                          "the GGUF (greedy) and fail the export if their stopping differs")
    check_rows: int = Field(20, ge=1, description="test prompts the GGUF check answers")
