"""`tailor export --gguf`: the files llama.cpp and Ollama users need, written with the `gguf` package.

run_dir/export/model-<quant>.gguf   the merged model (training tokenizer, chat template, every end token)
run_dir/export/lora-adapter.gguf    the LoRA as a llama.cpp adapter for the base model's GGUF (LoRA runs)
run_dir/export/Modelfile            Ollama: FROM the merged GGUF, TEMPLATE, stop tokens, generation defaults
run_dir/export/gguf.json            what was written, from which adapter (hash), with which stop ids
run_dir/export/gguf_check.json      the self-check (export/check.py), when llama-cpp-python is installed
"""
from __future__ import annotations

import gc
import json
from pathlib import Path

from ..config import TailorConfig
from ..errors import ModelError
from ..infer.gguf_files import EXPORT_RECORD, base_shape, bundled_base_gguf, folder_hash, merged_model, write_merged_gguf
from ..infer.llamacpp import DEFAULT_MAX_CTX

CHECK_FILE = "gguf_check.json"
LORA_FILE = "lora-adapter.gguf"


class ExportCheckError(ModelError):
    """The exported GGUF does not answer like the tuned model (it stops where the tuned model does not)."""


def check_architecture(src: Path, is_adapter: bool) -> None:
    """Fail before any work for an architecture the GGUF writer does not support."""
    from transformers import AutoConfig

    from ..convert.model import shape_of

    if is_adapter:
        base_shape(src)
    else:
        shape_of(AutoConfig.from_pretrained(str(src)))


def write_gguf_files(cfg: TailorConfig, src: Path, is_adapter: bool, out: Path, quant: str) -> dict:
    """Write the GGUF files into the (temporary) export folder `out`; returns the gguf.json record."""
    from ..convert.lora import write_lora_gguf
    from ..convert.requant import LLAMA_QUANTS, tensor_types
    from .modelfile import modelfile, verified_template

    model, tok = merged_model(src)
    name = f"model-{quant}.gguf"
    vocab = write_merged_gguf(model, tok, out / name, quant=quant, name=cfg.train.run_name)
    n_ctx = min(int(getattr(model.config, "max_position_embeddings", 2048)), DEFAULT_MAX_CTX)
    del model
    gc.collect()
    record: dict = {"model": name, "quant": quant, "adapter_hash": folder_hash(src), "stop_ids": vocab.stop_ids,
                    "end_tokens": vocab.end_tokens, "pre_tokenizer": vocab.pre, "lora": None, "lora_base": None,
                    "modelfile": None}
    if quant in LLAMA_QUANTS:  # llama.cpp stores a matrix its type's blocks do not fit in a fallback type
        record["tensor_types"] = tensor_types(out / name)
    if is_adapter:
        try:
            write_lora_gguf(src, base_shape(src), out / LORA_FILE, name=cfg.train.run_name)
            record["lora"] = LORA_FILE
            base = bundled_base_gguf(src)
            record["lora_base"] = str(base) if base else None
        except ModelError as exc:
            record["lora_error"] = exc.one_line()
    try:
        text = modelfile(name, verified_template(tok), vocab.end_tokens, cfg.generation, n_ctx)
        (out / "Modelfile").write_text(text, encoding="utf-8")
        record["modelfile"] = "Modelfile"
    except ModelError as exc:
        record["modelfile_error"] = exc.one_line()
    (out / EXPORT_RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return record


def run_check(cfg: TailorConfig, src: Path, out: Path, record: dict) -> dict:
    """Check the published GGUF files (see export/check.py); writes gguf_check.json and updates gguf.json."""
    from ..checks import project_checker
    from .check import check_gguf

    test = cfg.run_dir / "data" / "test.jsonl"
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        report = {"passed": None, "skipped": "llama-cpp-python is not installed, so the GGUF was not checked "
                                             "(pip install 'tailorkit[llamacpp]')"}
    else:
        if not test.exists():
            report = {"passed": None, "skipped": f"no test prompts at {test} to check the GGUF with"}
        else:
            lora = out / record["lora"] if record.get("lora") else None
            base = Path(record["lora_base"]) if record.get("lora_base") else None
            report = check_gguf(src, test, out / record["model"], generation=cfg.generation,
                                lora=lora, lora_base=base, max_rows=cfg.export.check_rows,
                                checker=project_checker(cfg))
    (out / CHECK_FILE).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    record["check_passed"] = report.get("passed")
    (out / EXPORT_RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return report
