"""The `data:` section: where raw data lives, how to map it, how to clean and split it."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class ColumnMap(Section):
    """Which source columns hold each role (for CSV/TSV/JSON/Parquet with plain columns)."""

    user: str | None = Field(None, description="column with the request, e.g. User")
    assistant: str | None = Field(None, description="column with the ideal answer, e.g. Prompt")
    system: str | None = Field(None, description="optional column with a per-row system prompt")


class DataConfig(Section):
    """Raw data in, clean leakage-free splits out."""

    source: str | None = Field(None, description="raw data file (csv, tsv, jsonl, json, parquet), relative to tailor.yaml")
    format: Literal["auto", "columns", "messages", "alpaca", "sharegpt", "prompt_completion"] = Field(
        "auto", description="row format; auto detects it from the keys of the first row"
    )
    columns: ColumnMap = Field(default_factory=ColumnMap, description="column mapping for the columns format")
    system_prompt: str | None = Field(None, description="system prompt added to every Example that has none")
    near_duplicate_threshold: float = Field(
        0.9, ge=0.5, le=1.0, description="similarity (0-1) above which two rows count as near-duplicates"
    )
    val_fraction: float = Field(0.1, ge=0.0, lt=0.5, description="share of rows for validation")
    test_fraction: float = Field(0.1, ge=0.0, lt=0.5, description="share of rows held out for compare")
    max_length: int = Field(512, ge=16, description="max tokens of a rendered example; longer rows are reported")
    seed: int = Field(42, description="seed for the split")
    overrides: str = Field(
        "data/overrides.jsonl", description="rows excluded or edited (by file:line) without changing the data file, "
                                            "relative to tailor.yaml; `tailor studio` writes it, prepare and inspect "
                                            "apply it; a missing file means no overrides")
