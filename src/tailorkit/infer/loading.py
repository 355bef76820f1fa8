"""Load a tuned model for inference: run_dir/adapter/ (PEFT adapter or full model) and the base model.

The folder is a standard PEFT adapter (adapter_config.json + adapter_model.safetensors), or a full
transformers model for `method: full`, plus the tokenizer WITH the chat template used in training and
`tailorkit.json` (base model reference, method, chat-template hash). Loading uses that tokenizer, so
inference renders prompts exactly as training did. Training writes the folder (train/load.py); every
stage that generates (compare, ask, synth's local teacher, serve, chat, export) reads it from here.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..config import TailorConfig
from ..errors import ModelError
from ..template import stop_token_ids
from ..models import ModelRef, load_model, load_model_and_tokenizer, prepare_tokenizer, quiet_peft, resolve_model

META = "tailorkit.json"


def template_hash(tokenizer) -> str:
    return hashlib.sha256((tokenizer.chat_template or "").encode("utf-8")).hexdigest()


def read_meta(adapter_dir: Path) -> dict[str, Any]:
    path = Path(adapter_dir) / META
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise ModelError("tailorkit.json is not valid JSON", where=str(path),
                         fix="re-run `tailor train`, or delete the file to fall back on adapter_config.json") from None


def _base_ref(adapter_dir: Path, meta: dict[str, Any]) -> ModelRef:
    """The base model: tailorkit's own reference first, PEFT's recorded path second."""
    first_error = None
    if meta.get("base_model"):
        try:
            return resolve_model(meta["base_model"], meta.get("revision"))
        except ModelError as exc:
            first_error = exc
    cfg_path = adapter_dir / "adapter_config.json"
    recorded = json.loads(cfg_path.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if recorded:
        try:
            return resolve_model(recorded, meta.get("revision"))
        except ModelError as exc:
            first_error = first_error or exc
    raise ModelError(f"cannot find the base model of the adapter ({first_error.what if first_error else 'none recorded'})",
                     where=str(adapter_dir),
                     fix="make the base model available (see the adapter's tailorkit.json) or set base_model there")


def load_tuned(adapter_dir: str | Path, device: str | None = None):
    """Load the tuned model and its tokenizer (with the training chat template) from run_dir/adapter/."""
    from transformers import AutoTokenizer

    adapter_dir = Path(adapter_dir)
    is_adapter = (adapter_dir / "adapter_config.json").exists()
    if not is_adapter and not (adapter_dir / "config.json").exists():
        raise ModelError(f"no tuned model in {adapter_dir}", where=str(adapter_dir),
                         fix="run `tailor train` first (it writes runs/<name>/adapter/)")
    meta = read_meta(adapter_dir)
    try:
        tok = AutoTokenizer.from_pretrained(str(adapter_dir))
    except Exception as exc:
        raise ModelError(f"cannot load the tokenizer saved with the adapter ({type(exc).__name__}: {exc})",
                         where=str(adapter_dir), fix="re-run `tailor train` to rewrite the adapter folder") from None
    tok = prepare_tokenizer(tok)
    trust = bool(meta.get("trust_remote_code", False))
    if not is_adapter:  # full fine-tuning: the folder is the model
        model = load_model(ModelRef(str(adapter_dir), adapter_dir, "local"), device=device,
                           trust_remote_code=trust, tokenizer=tok)
        return _with_recorded_stops(model, tok, meta).eval(), tok
    from peft import PeftModel

    base = load_model(_base_ref(adapter_dir, meta), device=device, trust_remote_code=trust, tokenizer=tok)
    try:
        with quiet_peft():
            model = PeftModel.from_pretrained(base, str(adapter_dir))
    except Exception as exc:
        raise ModelError(f"the adapter does not fit its base model ({type(exc).__name__}: {exc})",
                         where=str(adapter_dir), fix="load it on the base model it was trained on") from None
    return _with_recorded_stops(model, tok, meta).eval(), tok


def _with_recorded_stops(model, tok, meta: dict[str, Any]):
    """Add the stop ids recorded at training time to the model's generation_config eos ids."""
    gen = getattr(model, "generation_config", None)
    recorded = [t for t in meta.get("stop_token_ids") or [] if isinstance(t, int)]
    if gen is not None and recorded:
        own = gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]
        gen.eos_token_id = stop_token_ids(tok, [*own, *recorded])
    return model


def load_base(cfg: TailorConfig, device: str | None = None):
    """The untuned base model and tokenizer of a config (the `model:` section), in eval mode."""
    model, tok = load_model_and_tokenizer(cfg.model, device=device)
    return model.eval(), tok
