"""tailorkit: make an open LLM excellent at one job, and prove it with numbers.

The Python API is the product; the `tailor` CLI is a thin shell over these functions.
Heavy modules are imported lazily so `import tailorkit` stays fast.
"""
from __future__ import annotations

import importlib

from .config import TailorConfig, load_config
from .data.example import Example, read_examples, write_examples
from .errors import TailorError

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "inspect_data": "tailorkit.data.inspect",
    "prepare": "tailorkit.data.prepare",
    "load_examples": "tailorkit.data.load",
    "train": "tailorkit.train.trainer",
    "compare": "tailorkit.evaluate.compare",
    "export": "tailorkit.export",
    "init_project": "tailorkit.project",
    "run_pipeline": "tailorkit.project",
    "backtranslate": "tailorkit.synth.recipes",
    "expand": "tailorkit.synth.recipes",
    "curate": "tailorkit.synth.recipes",
    "kb_add": "tailorkit.kb.ingest",
    "kb_sync": "tailorkit.kb.ingest",
    "kb_search": "tailorkit.kb.search",
    "kb_eval": "tailorkit.kb.evaluate",
    "ask": "tailorkit.kb.answer",
    "ChatSession": "tailorkit.chat",
    "serve_studio": "tailorkit.studio",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tailorkit' has no attribute {name!r}")


__all__ = ["Example", "TailorConfig", "TailorError", "load_config", "read_examples", "write_examples", *_LAZY]
