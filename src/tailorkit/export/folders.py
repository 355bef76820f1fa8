"""`tailor export`: the adapter in standard PEFT format, optionally a merged model, GGUF files (export/gguf.py),
optionally a Hub upload.

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

from ..config import TailorConfig
from ..errors import ConfigError, ModelError, TrainError
from ..progress import local_io_bars_off
from .card import model_card

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
    gguf_check: dict | None = None  # export/gguf_check.json
    notes: list[str] = field(default_factory=list)  # what could not be written, and why

    def summary(self) -> str:
        parts = [f"{name} -> {path}" for name, path in self.paths.items() if name != "readme"]
        if self.pushed:
            parts.append(f"pushed to {self.url or self.pushed}")
        return "; ".join(parts)

    def check_lines(self) -> list[str]:
        """The GGUF check in a few lines, for the CLI."""
        report = self.gguf_check or {}
        if report.get("skipped"):
            return [f"GGUF not checked: {report['skipped']}"]
        lines = list(report.get("summary", []))
        if "prompt_text_tokenizes_identically" in report:
            lines.append(f"prompt text tokenised as in training by llama.cpp: "
                         f"{report['prompt_text_tokenizes_identically']}/{report['rows']}")
        return lines


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


def export(cfg: TailorConfig, merge: bool | None = None, push: str | None = None, *, gguf: bool | None = None,
           quant: str | None = None, check: bool | None = None) -> ExportResult:
    """Write run_dir/export/{adapter,merged} with model cards, with `gguf` the GGUF files and Modelfile
    (checked against the tuned model unless `check` is False); upload a folder when `push` is a repo id.
    Raises ExportCheckError (after writing) when the GGUF stops where the tuned model does not."""
    from ..convert.quant import check_quant
    from ..infer.loading import read_meta
    from ..train.checkpoint import publish_dir
    from .gguf import CHECK_FILE, ExportCheckError, check_architecture, run_check, write_gguf_files

    merge = cfg.export.merge if merge is None else merge
    push = cfg.export.push if push is None else push
    gguf = cfg.export.gguf if gguf is None else gguf
    check = cfg.export.check if check is None else check
    src, is_adapter = _adapter_source(cfg)
    token = None
    if gguf:  # fail before any work is done
        quant = check_quant(quant or cfg.export.quant)
        check_architecture(src, is_adapter)
    if push:
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
        record = write_gguf_files(cfg, src, is_adapter, tmp, quant) if gguf else None
        publish_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = ExportResult(paths={name: out / name for name in names})
    if record is not None:
        result.paths["gguf"] = out / record["model"]
        for key in ("lora", "modelfile"):
            if record.get(key):
                result.paths[key] = out / record[key]
        result.notes += [record[k] for k in ("lora_error", "modelfile_error") if record.get(k)]
        if record.get("tensor_types"):
            why = (" (llama.cpp stores a matrix whose rows are not a multiple of 256 in a fallback type)"
                   if "_k" in record["quant"] else "")
            result.notes.append(f"{record['model']} tensor types: "
                                + ", ".join(f"{k} {n}" for k, n in record["tensor_types"].items()) + why)
        if check:
            result.gguf_check = run_check(cfg, src, out, record)
            result.paths["gguf_check"] = out / CHECK_FILE
            if result.gguf_check.get("passed") is False:
                raise ExportCheckError(result.gguf_check["message"], where=str(out / CHECK_FILE),
                                       fix="check that the chat template and its end token were saved with the "
                                           "adapter, then re-run `tailor export --gguf`")
    if push and token:
        folder = out / ("merged" if "merged" in names else "adapter")
        result.url = push_folder(folder, push, cfg, token)
        result.pushed = push
    return result
