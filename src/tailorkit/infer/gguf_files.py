"""Which GGUF file(s) the llama.cpp engine runs for a model name, writing (and caching) one when needed.

Every file is of the tensor type `generation.gguf_quant` (default q8_0, the closest to the HF weights):
- "base" with a bundled model: the GGUF the package ships when it is of that type (SmolLM2 ships
  Q4_1); otherwise, and for any other base model, a GGUF written once from the HF weights into the
  tailorkit cache (keyed by a hash of its files).
- a tuned run: what `tailor export --gguf` wrote when it is of that type (runs/<name>/export/gguf.json
  names the merged GGUF, its type and the adapter hash it was made from; a stale export is ignored),
  else a GGUF written into the cache keyed by the adapter folder's hash: the LoRA as a GGUF adapter
  over the bundled base GGUF when that file is of the type, otherwise the merged model.

The tokenizer is always the HF one the model was trained with, so prompts are rendered as in training.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelError

EXPORT_RECORD = "gguf.json"


@dataclass
class GGUFSource:
    """A GGUF model (plus an optional GGUF LoRA adapter) and the HF tokenizer that renders its prompts."""

    model: Path
    tokenizer: Any
    lora: Path | None = None
    stop_ids: list[int] = field(default_factory=list)


def folder_hash(folder: Path) -> str:
    """sha256 over the names and bytes of a model folder's top-level files (model cards excluded)."""
    h = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and path.name != "README.md":
            h.update(path.name.encode())
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def merged_model(folder: Path | None, cfg=None):
    """(model, tokenizer) on CPU: a tuned folder with any LoRA merged in, or the config's base model."""
    from .loading import load_base, load_tuned

    if folder is None:
        return load_base(cfg, device="cpu")
    model, tok = load_tuned(folder, device="cpu")
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    return model.eval(), tok


def write_merged_gguf(model, tokenizer, path: Path, *, quant: str, name: str, show_progress: bool = True):
    """The merged model as one GGUF with the training tokenizer, template and every stop id; returns the Vocab."""
    from ..convert.model import write_model_gguf
    from ..convert.vocab import build_vocab
    from .hf_generate import terminator_ids

    vocab = build_vocab(tokenizer, model.get_input_embeddings().num_embeddings, terminator_ids(model, tokenizer))
    write_model_gguf(model, vocab, path, quant=quant, name=name, show_progress=show_progress)
    return vocab


def base_shape(adapter_dir: Path):
    """The GGUF shape (architecture, heads) of an adapter's base model, from its config.json."""
    from transformers import AutoConfig

    from ..convert.model import shape_of
    from ..models import resolve_model
    from .loading import read_meta

    meta = read_meta(adapter_dir)
    recorded = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    ref = resolve_model(meta.get("base_model") or recorded.get("base_model_name_or_path"), meta.get("revision"))
    return shape_of(AutoConfig.from_pretrained(str(ref.path)))


def bundled_base_gguf(adapter_dir: Path) -> Path | None:
    """The bundled GGUF an adapter was trained on, when its base is a bundled model."""
    from ..models import BUNDLED, bundled_gguf
    from .loading import read_meta

    base = read_meta(adapter_dir).get("base_model")
    return bundled_gguf(base) if base in BUNDLED else None


def _cache(key: str) -> Path:
    from ..models import cache_dir

    return cache_dir() / "gguf" / key[:16]


def bundled_quant(path: Path) -> str:
    """The tensor type in a bundled GGUF's file name (`SmolLM2-135M-Instruct.Q4_1.gguf` -> q4_1)."""
    return path.stem.rsplit(".", 1)[-1].lower()


def _exported(folder: Path, digest: str, quant: str) -> Path | None:
    record_path = folder.parent / "export" / EXPORT_RECORD
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    model = record_path.parent / str(record.get("model", ""))
    fresh = (record.get("adapter_hash") == digest and record.get("check_passed") is not False
             and str(record.get("quant", "")).lower() == quant)
    return model if fresh and model.is_file() else None


def find_gguf(cfg, which: str, *, write: bool = True) -> GGUFSource | None:
    """The GGUF source for `which` ("base", "tuned", a run name or folder); None when none exists and
    `write` is False. Writing raises ModelError for an architecture the writer does not support."""
    from ..models import BUNDLED, bundled_gguf, load_tokenizer, resolve_model
    from .loading import tuned_tokenizer
    from .open import model_folder

    quant = cfg.generation.gguf_quant
    folder = model_folder(cfg, which)
    if folder is None:
        tok = load_tokenizer(cfg.model.base, cfg.model.chat_template, cfg.model.revision)
        if cfg.model.base in BUNDLED and bundled_quant(bundled_gguf(cfg.model.base)) == quant:
            return GGUFSource(bundled_gguf(cfg.model.base), tok)
        ref = resolve_model(cfg.model.base, cfg.model.revision)
        target = _cache(folder_hash(ref.path) + (cfg.model.chat_template or "")) / f"base-{quant}.gguf"
        if not target.exists():
            if not write:
                return None
            model, tok = merged_model(None, cfg)
            write_merged_gguf(model, tok, target, quant=quant, name=cfg.model.base)
        return GGUFSource(target, tok)
    if not folder.is_dir():
        raise ModelError(f"no tuned model in {folder}", where=str(folder), fix="run `tailor train` first")
    digest = folder_hash(folder)
    tok = tuned_tokenizer(folder)
    exported = _exported(folder, digest, quant)
    if exported is not None:
        return GGUFSource(exported, tok)
    cache = _cache(digest)
    is_lora = (folder / "adapter_config.json").exists()
    base = bundled_base_gguf(folder) if is_lora else None
    if base is not None and bundled_quant(base) == quant and len(tok) <= _n_vocab(base):
        adapter = cache / "lora-adapter.gguf"
        if not adapter.exists():
            if not write:
                return None
            from ..convert.lora import write_lora_gguf

            write_lora_gguf(folder, base_shape(folder), adapter, name=which)
        return GGUFSource(base, tok, lora=adapter)
    target = cache / f"model-{quant}.gguf"
    if not target.exists():
        if not write:
            return None
        model, tok = merged_model(folder)
        write_merged_gguf(model, tok, target, quant=quant, name=which)
    return GGUFSource(target, tok)


def _n_vocab(gguf_path: Path) -> int:
    from .gguf_meta import gguf_metadata

    meta = gguf_metadata(gguf_path)
    return int(meta.get(f"{meta.get('general.architecture', 'llama')}.vocab_size", 0)) or 1 << 30
