"""`tailor serve --engine vllm`: vLLM's own OpenAI server with every trained run as a LoRA module.

For GPUs and scale (continuous batching, tensor parallel, many adapters on one base). vLLM is installed
by the user on a GPU machine; it was not run here (it does not install on this CPU-only box), so the
tests check the command line built here. The base model must be something vLLM loads: a Hugging Face
id or a transformers folder; the bundled GGUF is replaced by the model it was converted from.
Full fine-tunes (no LoRA adapter) cannot be LoRA modules and are left out with a note.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..config import TailorConfig
from ..errors import MissingExtraError
from .pool import ModelPool

# what the bundled GGUF was converted from: vLLM loads this id (it needs the network or the HF cache)
BUNDLED_SOURCES = {"smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct"}


def lora_modules(cfg: TailorConfig) -> tuple[dict[str, Path], list[str]]:
    """name -> adapter folder for `tuned` and every run with a LoRA adapter; and notes on runs left out."""
    pool = ModelPool(cfg)
    found: dict[str, Path] = {}
    notes: list[str] = []
    tuned = cfg.run_dir / "adapter"
    candidates = ([("tuned", tuned)] if tuned.exists() else []) + list(pool.runs().items())
    for name, folder in candidates:
        if (folder / "adapter_config.json").exists():
            found[name] = folder.resolve()
        else:
            notes.append(f"{name}: a full fine-tune, not a LoRA adapter; serve its folder as a model instead")
    return found, notes


def _base_model(cfg: TailorConfig) -> str:
    ref = cfg.model.base
    if ref in BUNDLED_SOURCES:
        return BUNDLED_SOURCES[ref]
    folder = Path(ref).expanduser()
    return str(folder.resolve()) if folder.exists() else ref


def _max_rank(adapters: dict[str, Path]) -> int:
    ranks = [int(json.loads((f / "adapter_config.json").read_text(encoding="utf-8")).get("r", 8))
             for f in adapters.values()]
    return max(ranks, default=8)


def vllm_command(cfg: TailorConfig, host: str | None = None, port: int | None = None) -> list[str]:
    """The `vllm serve` command line for this project (the API key travels in $VLLM_API_KEY, not argv)."""
    adapters, _ = lora_modules(cfg)
    cmd = ["vllm", "serve", _base_model(cfg), "--served-model-name", "base",
           "--host", host or cfg.serve.host, "--port", str(port or cfg.serve.port)]
    if cfg.model.revision:
        cmd += ["--revision", cfg.model.revision]
    if cfg.model.trust_remote_code:
        cmd.append("--trust-remote-code")
    if adapters:
        cmd += ["--enable-lora", "--max-lora-rank", str(_max_rank(adapters)), "--max-loras", str(len(adapters)),
                "--lora-modules", *[f"{name}={folder}" for name, folder in adapters.items()]]
    return cmd + list(cfg.serve.vllm_args)


def run_vllm(cfg: TailorConfig, host: str | None = None, port: int | None = None) -> None:
    """Replace this process with vLLM's server (it handles signals itself)."""
    from .app import api_key

    key = api_key(cfg)
    if shutil.which("vllm") is None:
        raise MissingExtraError("serve --engine vllm needs vLLM, which is not installed",
                                fix="on a GPU machine: pip install vllm; or serve with --engine hf")
    cmd = vllm_command(cfg, host, port)
    env = dict(os.environ)
    if key:
        env["VLLM_API_KEY"] = key
    os.execvpe(cmd[0], cmd, env)
