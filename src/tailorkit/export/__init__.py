"""`tailor export`: the PEFT adapter, a merged model, GGUF files + an Ollama Modelfile (checked against the
tuned model), a Hub upload. A stage above train/ and infer/; nothing below it imports it."""
from __future__ import annotations

from .folders import ExportResult, export, portable_base

__all__ = ["ExportResult", "export", "portable_base"]
