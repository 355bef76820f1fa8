"""Shared fixtures: a tiny random chat model, paths to the shared datasets (skip when absent)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TAILOR_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
MIDJOURNEY_CSV = SHARED / "midjourney" / "midjourney_prompt_dataset.csv"
SCIFACT = SHARED / "scifact-train"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer random Llama with a small BPE tokenizer and ChatML template, as a local folder."""
    from tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def midjourney_csv() -> Path:
    if not MIDJOURNEY_CSV.exists():
        pytest.skip(f"shared dataset not present at {MIDJOURNEY_CSV} (a user's machine)")
    return MIDJOURNEY_CSV


@pytest.fixture
def scifact_dir() -> Path:
    if not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip(f"shared dataset not present at {SCIFACT} (a user's machine)")
    return SCIFACT
