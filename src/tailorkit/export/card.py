"""Model cards (README.md) for exported folders: base model, data counts, compare figures, training config."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ..config import TailorConfig


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    except json.JSONDecodeError:
        return None


def model_card(cfg: TailorConfig, base_ref: str, *, merged: bool, meta: dict[str, Any]) -> str:
    """README.md for an exported folder: what it is, the data, the evaluation, the training config."""
    from ..scoreboard import METRICS, fmt

    prepare = _read_json(cfg.run_dir / "prepare.json")
    compare = _read_json(cfg.run_dir / "compare.json")
    front = {"base_model": base_ref, "library_name": "transformers" if merged else "peft",
             "pipeline_tag": "text-generation", "tags": ["tailorkit", cfg.train.method, "text-generation"]}
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "", f"# {cfg.name}", ""]
    kind = "a merged model (base + adapter weights)" if merged else f"a {cfg.train.method.upper()} adapter"
    lines += [f"{kind[0].upper()}{kind[1:]} fine-tuned from `{base_ref}` with tailorkit "
              f"(run `{cfg.train.run_name}`, method `{meta.get('method', cfg.train.method)}`).",
              "The tokenizer carries the chat template used in training; prompt the model with it.", ""]
    if base_ref != (meta.get("base_model") or cfg.model.base):
        lines += [f"Trained on tailorkit's bundled `{meta.get('base_model') or cfg.model.base}` (a dequantised "
                  "GGUF of that model), so use the same weights for the closest behaviour.", ""]
    lines += ["## Data", ""]
    if prepare:
        sizes = prepare.get("split_sizes", {})
        dropped = ", ".join(f"{k}: {v}" for k, v in (prepare.get("dropped") or {}).items()) or "none"
        lines += [f"- source: `{Path(str(prepare.get('source', '?'))).name}` ({prepare.get('format', '?')} format)",
                  f"- rows read: {prepare.get('rows_read', '?')}, kept: {prepare.get('kept', '?')} (dropped: {dropped})",
                  f"- train / val / test: {sizes.get('train', '?')} / {sizes.get('val', '?')} / {sizes.get('test', '?')}"
                  " (duplicates never straddle splits)", ""]
    else:
        lines += ["No prepare.json in the run directory.", ""]
    lines += ["## Evaluation", ""]
    if compare:
        lines += [f"Base vs tuned on {compare.get('n_rows')} held-out test rows, identical generation settings.", "",
                  "| metric | base | tuned |", "|---|---:|---:|"]
        for m in METRICS:
            b, t = compare.get("base", {}).get(m.key), compare.get("tuned", {}).get(m.key)
            if b is not None and t is not None:
                lines.append(f"| {m.label} | {fmt(m.key, b)} | {fmt(m.key, t)} |")
        lines.append("")
    else:
        lines += ["Not evaluated yet (run `tailor compare`).", ""]
    train_yaml = yaml.safe_dump(cfg.train.model_dump(mode="json"), sort_keys=False).strip()
    gen_yaml = yaml.safe_dump(cfg.generation.model_dump(mode="json"), sort_keys=False).strip()
    lines += ["## Training configuration", "", "```yaml", train_yaml, "```", "",
              "## Generation settings used in evaluation", "", "```yaml", gen_yaml, "```", "", "## Usage", "",
              "```python"]
    if merged:
        lines += ["from transformers import AutoModelForCausalLM, AutoTokenizer",
                  "tok = AutoTokenizer.from_pretrained(PATH_OR_REPO)",
                  "model = AutoModelForCausalLM.from_pretrained(PATH_OR_REPO)"]
    else:
        lines += ["from peft import AutoPeftModelForCausalLM", "from transformers import AutoTokenizer",
                  "tok = AutoTokenizer.from_pretrained(PATH_OR_REPO)",
                  "model = AutoPeftModelForCausalLM.from_pretrained(PATH_OR_REPO)"]
    lines += ["ids = tok.apply_chat_template([{'role': 'user', 'content': '...'}], add_generation_prompt=True,",
              "                              return_tensors='pt', return_dict=True)",
              "out = model.generate(**ids, max_new_tokens=160)",
              "print(tok.decode(out[0][ids['input_ids'].shape[1]:], skip_special_tokens=True))", "```", ""]
    return "\n".join(lines)
