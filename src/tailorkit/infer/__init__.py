"""The one inference layer: engines (HF transformers, llama.cpp) that every generating stage uses."""
from __future__ import annotations

from .engine import Delta, Engine, Generation
from .open import model_folder, open_engine, open_hf

__all__ = ["Delta", "Engine", "Generation", "model_folder", "open_engine", "open_hf"]
