"""Build the model to train: LoRA (default), DoRA, QLoRA (CUDA + bitsandbytes) or full fine-tuning.

Precision is chosen per device: fp32 on CPU (faster than bf16 autocast there), bf16 autocast on GPUs
that support it (fp16 otherwise). Frozen base weights of adapter methods are stored in the compute
dtype to save memory; trainable weights stay fp32. On a CUDA GPU with half precision and the flash-attn
package installed, attention runs FlashAttention-2, whose varlen path serves packed micro-batches
(see packing.py); otherwise transformers' SDPA. train.gradient_checkpointing trades a second forward
pass per layer for keeping only the layer inputs.
"""
from __future__ import annotations

import importlib.util

from ..config import TailorConfig
from ..errors import TrainError
from ..models import ModelRef, load_model, quiet_peft, resolve_model
from ..progress import local_io_bars_off


def mixed_precision(precision: str, device_type: str) -> str:
    """accelerate's mixed_precision value ("no", "bf16", "fp16") for train.precision on a device."""
    if precision == "fp32":
        return "no"
    if precision in ("bf16", "fp16"):
        return precision
    if device_type == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def _weights_dtype(cfg: TailorConfig, mp: str) -> str:
    if cfg.model.dtype != "auto":
        return cfg.model.dtype
    if cfg.train.method == "full" or mp == "no":
        return "float32"  # full fine-tuning keeps fp32 master weights; autocast does the rest
    return {"bf16": "bfloat16", "fp16": "float16"}[mp]


def attention_for(device_type: str, mp: str) -> str | None:
    """The attention implementation to train with: FlashAttention-2 on CUDA in half precision when
    flash-attn is installed, else None (the model's default, SDPA)."""
    if device_type != "cuda" or mp == "no":
        return None
    from transformers.utils import is_flash_attn_2_available

    return "flash_attention_2" if is_flash_attn_2_available() else None


def check_method(cfg: TailorConfig) -> None:
    """Fail early, with the fix, when the chosen method cannot run here."""
    if cfg.train.method == "qlora":
        import torch

        if not torch.cuda.is_available():
            raise TrainError("QLoRA needs a CUDA GPU and none is available", where="train.method",
                             fix="use --method lora (or dora) on this machine, or run on a CUDA GPU")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise TrainError("QLoRA needs the bitsandbytes package, which is not installed", where="train.method",
                             fix="run: pip install 'tailorkit[gpu]' (bitsandbytes), or use --method lora")


def _load_quantized(mref: ModelRef, cfg: TailorConfig, tokenizer, device_index: int, mp: str):
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    compute = torch.bfloat16 if mp == "bf16" else torch.float16
    bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                             bnb_4bit_compute_dtype=compute)
    with local_io_bars_off():
        model = AutoModelForCausalLM.from_pretrained(str(mref.path), quantization_config=bnb, dtype=compute,
                                                     device_map={"": device_index},
                                                     trust_remote_code=cfg.model.trust_remote_code)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)


def build_model(cfg: TailorConfig, tokenizer, device, mp: str):
    """Load the base model on `device` and make it trainable by cfg.train.method."""
    check_method(cfg)
    tcfg = cfg.train
    mref = resolve_model(cfg.model.base, cfg.model.revision)
    if tcfg.method == "qlora":
        model = _load_quantized(mref, cfg, tokenizer, device.index or 0, mp)
    else:
        model = load_model(mref, dtype=_weights_dtype(cfg, mp), device=str(device),
                           trust_remote_code=cfg.model.trust_remote_code, tokenizer=tokenizer)
    attention = attention_for(device.type, mp)
    if attention:
        model.set_attn_implementation(attention)
    if tcfg.gradient_checkpointing:
        # Non-reentrant checkpointing lets gradients reach adapters whose inputs do not require grad.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if tcfg.method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        model.train()
        return model
    from peft import LoraConfig, get_peft_model

    lcfg = LoraConfig(r=tcfg.lora_r, lora_alpha=tcfg.lora_alpha, lora_dropout=tcfg.lora_dropout,
                      target_modules=tcfg.target_modules, use_dora=tcfg.method == "dora", task_type="CAUSAL_LM")
    try:
        with quiet_peft():
            model = get_peft_model(model, lcfg)
    except ValueError as exc:  # e.g. a target module name that the model does not have
        raise TrainError(f"cannot apply LoRA to this model ({exc})", where="train.target_modules",
                         fix="use 'all-linear' or names of linear layers of this model") from None
    model.train()
    return model


def trainable_state(model) -> dict:
    """The trainable parameters by name (LoRA/DoRA weights, or every weight for full fine-tuning)."""
    inner = getattr(model, "module", model)
    return {n: p.detach() for n, p in inner.named_parameters() if p.requires_grad}


def load_trainable_state(model, state: dict) -> None:
    """Copy saved trainable weights back into the model (names must match exactly)."""
    import torch

    inner = getattr(model, "module", model)
    params = dict(inner.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and n not in state]
    if missing:
        raise TrainError(f"the checkpoint lacks {len(missing)} trainable weights (e.g. {missing[0]})",
                         fix="resume with the same model and train.method, or start a new run")
    with torch.no_grad():
        for n, t in state.items():
            params[n].copy_(t.to(params[n].device, params[n].dtype))
