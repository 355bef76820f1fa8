"""The `compare.judge` section: a pairwise judge (an OpenAI-compatible endpoint, or the local model).

It is a teacher configuration (same client, retries, pacing, prices) plus what judging needs: its
own request cache, a budget, and the bootstrap settings of the win-rate interval.
"""
from __future__ import annotations

from pydantic import Field

from .synth import TeacherConfig


class JudgeConfig(TeacherConfig):
    """Unset base_url = the bundled local model judges (weak: a 135M model is no real judge)."""

    temperature: float = Field(0.0, ge=0, description="judge sampling temperature (0 = deterministic verdicts)")
    max_tokens: int = Field(200, ge=16, description="cap on tokens per verdict")
    cache: str = Field(".tailor/judge-cache.sqlite", description="request cache (SQLite), relative to tailor.yaml")
    budget_usd: float | None = Field(None, gt=0, description="stop judging before spending more than this "
                                                             "(needs the model's price in prices)")
    bootstrap: int = Field(2000, ge=100, description="bootstrap resamples for the win-rate interval")
    seed: int = Field(0, description="seed of the bootstrap")
