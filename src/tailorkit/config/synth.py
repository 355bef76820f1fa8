"""The `teacher:` and `synth:` sections (owned by the synth package; extend here)."""
from __future__ import annotations

from pydantic import Field

from .base import Section


class TeacherConfig(Section):
    """A teacher LLM: an OpenAI-compatible endpoint, or the local bundled model when base_url is unset."""

    base_url: str | None = Field(None, description="OpenAI-compatible base URL; unset = local in-process teacher")
    model: str = Field("smollm2-135m", description="model name sent to the endpoint, or a local model reference")
    api_key_env: str | None = Field(None, description="environment variable that holds the API key")


class SynthConfig(Section):
    """Teacher-made data: which recipe to run in `tailor run`."""

    recipe: str | None = Field(None, description="backtranslate | expand | curate; unset = no synth step in `tailor run`")
    source: str | None = Field(None, description="input file for the recipe, relative to tailor.yaml")
    output: str = Field("data/synth.jsonl", description="Example JSONL written by the recipe")
