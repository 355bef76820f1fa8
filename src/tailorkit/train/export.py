"""`tailor export`: the adapter in standard PEFT format, optionally a merged model, optionally a Hub upload.

run_dir/export/adapter  adapter_config.json + adapter_model.safetensors + tokenizer (training chat template)
run_dir/export/merged   base + adapter merged (safetensors), same tokenizer, generation_config whose eos ids
                        are every stop token (the chat template's end-of-turn token, the model's eos) and
                        whose pad is none of them
each with a README.md model card (base model, data counts, compare figures, training config).

The Hub token is read from the environment variable named by export.token_env and handed only to
huggingface_hub's client (it travels in the Authorization header); it is never printed, logged,
written to a file or put into an error message.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import TailorConfig
from ..errors import ConfigError, ModelError, TrainError
from ..progress import local_io_bars_off

# Hub ids of bundled models, so an exported adapter names a base that other people can download.
# (The bundled copy is dequantised from a Q4_1 GGUF, so its weights differ slightly from the Hub's.)
BUNDLED_HUB_IDS = {"smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct"}
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


@dataclass
class ExportResult:
    """Where the exported folders went and, after --push, the Hub repo."""

    paths: dict[str, Path] = field(default_factory=dict)
    pushed: str | None = None
    url: str | None = None

    def summary(self) -> str:
        parts = [f"{name} -> {path}" for name, path in self.paths.items() if name != "readme"]
        if self.pushed:
            parts.append(f"pushed to {self.url or self.pushed}")
        return "; ".join(parts)


def _hub_token(cfg: TailorConfig) -> str:
    token = os.environ.get(cfg.export.token_env, "").strip()
    if not token:
        raise ConfigError(f"--push needs a Hugging Face token in the environment variable {cfg.export.token_env}, "
                          "which is not set", where="export.token_env",
                          fix=f"create a write token at https://huggingface.co/settings/tokens and run "
                              f"`export {cfg.export.token_env}=<token>` (or set export.token_env to the variable you use)")
    return token


def _check_repo(repo: str) -> str:
    if not _REPO_ID.match(repo):
        raise ConfigError(f"'{repo}' is not a Hub repo id", where="export.push",
                          fix="use the form user/model-name (letters, digits, '-', '_', '.')")
    return repo


def _adapter_source(cfg: TailorConfig) -> tuple[Path, bool]:
    src = cfg.run_dir / "adapter"
    if (src / "adapter_config.json").exists():
        return src, True
    if (src / "config.json").exists():  # train.method: full writes a whole model there
        return src, False
    raise TrainError("there is no tuned model to export", where=str(src),
                     fix="run `tailor train` first (it writes the adapter there)")


def portable_base(cfg: TailorConfig, meta: dict[str, Any]) -> str:
    """The base model as others can refer to it: a Hub id when one is known, else the reference itself."""
    ref = meta.get("base_model") or cfg.model.base
    return BUNDLED_HUB_IDS.get(ref, ref)


def _copy_adapter(src: Path, dest: Path, base_ref: str) -> None:
    """Copy the adapter folder; its adapter_config names the portable base instead of a local cache path."""
    shutil.copytree(src, dest)
    cfg_path = dest / "adapter_config.json"
    acfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    acfg["base_model_name_or_path"] = base_ref
    cfg_path.write_text(json.dumps(acfg, indent=2, sort_keys=True), encoding="utf-8")


def merged_generation_config(model, tok, meta: dict[str, Any]):
    """The merged model's generation_config: it stops where the tuned one does (the template's
    end-of-turn token, the tokenizer's eos, the model's and the recorded stop ids), and its padding
    is not one of them (see models.prepare_tokenizer)."""
    from transformers import GenerationConfig as HFGenerationConfig

    from ..template import stop_token_ids

    own = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    own = list(own) if isinstance(own, (list, tuple)) else [own]
    stops = stop_token_ids(tok, [*own, *(meta.get("stop_token_ids") or [])])
    return HFGenerationConfig(bos_token_id=getattr(model.config, "bos_token_id", None),
                              eos_token_id=stops if len(stops) > 1 else stops[0], pad_token_id=tok.pad_token_id)


def _save_merged(adapter_src: Path, dest: Path, is_adapter: bool) -> None:
    """Merge LoRA into the base weights and save a plain transformers model with the training tokenizer."""
    import torch

    from ..infer.loading import load_tuned, read_meta

    model, tok = load_tuned(adapter_src, device="cpu")
    if is_adapter:
        model = model.merge_and_unload()
    model.config.eos_token_id = tok.eos_token_id
    model.config.pad_token_id = tok.pad_token_id
    model.generation_config = merged_generation_config(model, tok, read_meta(adapter_src))
    with torch.no_grad(), local_io_bars_off():
        model.save_pretrained(str(dest), safe_serialization=True)
    tok.save_pretrained(str(dest))
    for extra in ("tailorkit.json",):
        if (adapter_src / extra).exists():
            shutil.copy2(adapter_src / extra, dest / extra)


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


def push_folder(folder: Path, repo: str, cfg: TailorConfig, token: str) -> str:
    """Create the Hub repo (private per export.private) if needed and upload `folder`; returns its URL."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=cfg.export.endpoint, token=token)
    try:
        url = api.create_repo(repo, private=cfg.export.private, exist_ok=True, repo_type="model")
        api.upload_folder(repo_id=repo, folder_path=str(folder), repo_type="model",
                          commit_message=f"tailorkit export of run {cfg.train.run_name}")
    except Exception as exc:
        # Never let the token reach the terminal through an error message.
        detail = str(exc).replace(token, "***").splitlines()[0] if str(exc) else ""
        offline = "offline mode" in detail.lower()
        raise ModelError(f"upload to the Hub repo '{repo}' failed ({type(exc).__name__}: {detail})",
                         where="export.push",
                         fix="unset HF_HUB_OFFLINE to allow the upload" if offline else
                         f"check the repo id, that the token in {cfg.export.token_env} has write access, "
                         "and your network") from None
    return str(url)


def export(cfg: TailorConfig, merge: bool | None = None, push: str | None = None) -> ExportResult:
    """Write run_dir/export/{adapter,merged} with model cards; upload one of them when `push` is a repo id."""
    from .checkpoint import publish_dir
    from ..infer.loading import read_meta

    merge = cfg.export.merge if merge is None else merge
    push = cfg.export.push if push is None else push
    src, is_adapter = _adapter_source(cfg)
    token = None
    if push:  # fail before any work is done
        _check_repo(push)
        token = _hub_token(cfg)
    meta = read_meta(src)
    base_ref = portable_base(cfg, meta)

    out = cfg.run_dir / "export"
    tmp = cfg.run_dir / ".export.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        names = []
        if is_adapter:
            _copy_adapter(src, tmp / "adapter", base_ref)
            (tmp / "adapter" / "README.md").write_text(model_card(cfg, base_ref, merged=False, meta=meta), "utf-8")
            names.append("adapter")
        if merge or not is_adapter:  # a full fine-tune is already a whole model
            _save_merged(src, tmp / "merged", is_adapter)
            (tmp / "merged" / "README.md").write_text(model_card(cfg, base_ref, merged=True, meta=meta), "utf-8")
            names.append("merged")
        publish_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = ExportResult(paths={name: out / name for name in names})
    if push and token:
        folder = out / ("merged" if "merged" in names else "adapter")
        result.url = push_folder(folder, push, cfg, token)
        result.pushed = push
    return result
