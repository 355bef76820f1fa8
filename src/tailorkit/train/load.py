"""Write the tuned-model folder (run_dir/adapter/) after training; infer/loading.py reads it.

The folder is a standard PEFT adapter (or a full transformers model for `method: full`), the tokenizer
WITH the chat template used in training, and `tailorkit.json` (base model reference, method,
chat-template hash, the end-of-turn token and every stop token id).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import TailorConfig
from ..infer.loading import META, template_hash
from ..progress import local_io_bars_off
from ..template import end_of_turn_id, stop_token_ids
from .checkpoint import publish_dir

__all__ = ["save_tuned", "template_hash"]


def save_tuned(model, tokenizer, out_dir: Path, cfg: TailorConfig, info: dict[str, Any] | None = None) -> Path:
    """Write the adapter (or full model), tokenizer and tailorkit.json into out_dir atomically."""
    import shutil

    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model = getattr(model, "module", model)
    gen = getattr(model, "generation_config", None)
    stops = stop_token_ids(tokenizer, getattr(gen, "eos_token_id", None))
    eot = end_of_turn_id(tokenizer)
    with local_io_bars_off():
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    meta = {
        "format": 1,
        "base_model": cfg.model.base,
        "revision": cfg.model.revision,
        "trust_remote_code": cfg.model.trust_remote_code,
        "method": cfg.train.method,
        "chat_template_sha256": template_hash(tokenizer),
        # The stop contract: generation and export stop on every one of these (template.stop_token_ids).
        "end_of_turn": tokenizer.convert_ids_to_tokens(eot) if eot is not None else None,
        "stop_token_ids": stops,
        **(info or {}),
    }
    (tmp / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    publish_dir(tmp, out_dir)
    return out_dir
