"""Open an engine for a model a stage names: "base" (the `model:` section), "tuned" (the configured
run), a run name under runs/, or a folder holding an adapter, a merged model or a GGUF file.

`generation.engine` picks the backend: hf, llamacpp, or auto (llama.cpp on CPU when it is installed
and a GGUF of the model exists or can be written; HF otherwise).
"""
from __future__ import annotations

from pathlib import Path

from ..config import TailorConfig
from ..errors import ModelError
from .engine import Engine


def model_folder(cfg: TailorConfig, which: str) -> Path | None:
    """The tuned-model folder for "tuned", a run name or a path; None for "base"."""
    if which == "base":
        return None
    if which == "tuned":
        return cfg.run_dir / "adapter"
    run = cfg.path(cfg.runs_dir) / which / "adapter"
    if run.exists():
        return run
    folder = Path(which).expanduser()
    if folder.exists():
        return folder
    raise ModelError(f"no model named '{which}'", where=str(run),
                     fix="use base, tuned, the name of a trained run under runs/, or a model folder")


def open_hf(cfg: TailorConfig, which: str = "base", device: str | None = None) -> Engine:
    """The transformers engine for `which` (always available)."""
    from .hf import HFEngine
    from .loading import load_base, load_tuned

    folder = model_folder(cfg, which)
    if folder is None:
        model, tok = load_base(cfg, device=device)
    else:
        model, tok = load_tuned(folder, device=device)
    return HFEngine(model, tok, label=which)


def open_engine(cfg: TailorConfig, which: str = "base", *, engine: str | None = None,
                device: str | None = None) -> Engine:
    """An engine for `which` with the backend `engine` (default: cfg.generation.engine)."""
    choice = engine or cfg.generation.engine
    if choice == "hf":
        return open_hf(cfg, which, device)
    if choice in ("llamacpp", "auto"):
        try:
            from . import llamacpp
        except ImportError:
            llamacpp = None
        if llamacpp is not None:
            opened = llamacpp.open_llamacpp(cfg, which, required=(choice == "llamacpp"), device=device)
            if opened is not None:
                return opened
        elif choice == "llamacpp":
            raise ModelError("generation.engine is llamacpp but the llama.cpp backend is not available",
                             fix="pip install 'tailorkit[llamacpp]', or set generation.engine: hf")
        return open_hf(cfg, which, device)
    raise ModelError(f"unknown generation.engine '{choice}'", fix="use auto, hf or llamacpp")
