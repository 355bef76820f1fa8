"""Write a PEFT LoRA adapter as a llama.cpp GGUF adapter for the base model's GGUF.

As llama.cpp's convert_lora_to_gguf.py does: `general.type=adapter`, `adapter.type=lora`,
`adapter.lora.alpha`, and per adapted matrix the tensors `<base tensor name>.lora_a` (PEFT's lora_A,
r x in) and `.lora_b` (lora_B, out x r). The Llama q/k permutation acts on a weight's output rows, so
it is applied to lora_B exactly as the full-model conversion permutes q_proj/k_proj. llama.cpp scales
an adapter by alpha / r (r read from the tensors), so rsLoRA's alpha / sqrt(r) is folded into the
stored alpha (alpha * sqrt(r)); per-module ranks or alphas (rank_pattern/alpha_pattern) are folded
into lora_B instead, with a stored alpha equal to r. LoRA variants llama.cpp cannot run (DoRA,
trained bias, extra saved modules, embedding or lm_head adapters) are refused with a clear error.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import ModelError
from . import gguf_file
from .model import Shape, gguf_name, name_map, permute_for

_PREFIX = "base_model.model."


def _adapter_config(adapter_dir: Path) -> dict:
    path = adapter_dir / "adapter_config.json"
    if not path.exists():
        raise ModelError("there is no LoRA adapter to convert", where=str(adapter_dir),
                         fix="train with train.method: lora (a full fine-tune exports a merged GGUF only)")
    acfg = json.loads(path.read_text(encoding="utf-8"))
    peft_type = str(acfg.get("peft_type", "LORA")).upper()
    problems = []
    if peft_type != "LORA":
        problems.append(f"peft_type {peft_type}")
    if acfg.get("use_dora"):
        problems.append("DoRA")
    if acfg.get("bias", "none") != "none":
        problems.append(f"trained bias ({acfg['bias']})")
    if acfg.get("modules_to_save"):
        problems.append(f"modules_to_save {acfg['modules_to_save']}")
    if problems:
        raise ModelError(f"llama.cpp adapters cannot express {', '.join(problems)}", where=str(path),
                         fix="export the merged model as GGUF instead (tailor export --gguf writes it too)")
    return acfg


def _scales(acfg: dict, module: str, rank: int) -> float:
    """PEFT's scale for one module: alpha / r, or alpha / sqrt(r) with rsLoRA (patterns per module)."""
    r = rank
    alpha = acfg.get("lora_alpha", 8)
    for pattern, value in (acfg.get("alpha_pattern") or {}).items():
        if module.endswith(pattern) or pattern in module:
            alpha = value
    return alpha / math.sqrt(r) if acfg.get("use_rslora") else alpha / r


def write_lora_gguf(adapter_dir: Path, shape: Shape, path: Path, *, name: str = "adapter") -> Path:
    """Convert adapter_dir/adapter_model.safetensors to a GGUF adapter at `path` (float32 tensors)."""
    import gguf
    from safetensors.numpy import load_file

    adapter_dir = Path(adapter_dir)
    acfg = _adapter_config(adapter_dir)
    weights_path = adapter_dir / "adapter_model.safetensors"
    if not weights_path.exists():
        raise ModelError("the adapter has no adapter_model.safetensors", where=str(adapter_dir),
                         fix="re-run `tailor train` (it saves the adapter in safetensors format)")
    tensors = {k: v.astype(np.float32) for k, v in load_file(str(weights_path)).items()}
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        module = key[len(_PREFIX):] if key.startswith(_PREFIX) else key
        for part in ("lora_A", "lora_B"):
            tag = f".{part}.weight"
            if module.endswith(tag):
                pairs.setdefault(module[:-len(tag)], {})[part] = value
                break
        else:
            raise ModelError(f"the adapter holds a tensor llama.cpp adapters cannot carry: {key}",
                             where=str(weights_path), fix="export the merged model as GGUF instead")
    ranks = {m: p["lora_A"].shape[0] for m, p in pairs.items() if "lora_A" in p}
    scales = {m: _scales(acfg, m, r) for m, r in ranks.items()}
    uniform = len(set(scales.values())) <= 1 and len(set(ranks.values())) <= 1
    rank = next(iter(ranks.values()), 1)
    alpha = next(iter(scales.values()), 1.0) * rank if uniform else float(rank)
    tmap = name_map(shape)
    with gguf_file(path, shape.arch) as writer:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_name(name)
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
        for module in sorted(pairs):
            pair = pairs[module]
            if set(pair) != {"lora_A", "lora_B"}:
                raise ModelError(f"the adapter's {module} lacks {'lora_A' if 'lora_A' not in pair else 'lora_B'}",
                                 where=str(weights_path), fix="re-run `tailor train`")
            if module.endswith(("embed_tokens", "lm_head")):
                raise ModelError(f"the adapter adapts {module}, which the GGUF adapter writer does not convert",
                                 where=str(weights_path), fix="export the merged model as GGUF instead")
            base = gguf_name(tmap, module + ".weight")
            lora_b = permute_for(module + ".weight", pair["lora_B"], shape)
            if not uniform:
                lora_b = lora_b * (scales[module] * ranks[module] / alpha)  # llama.cpp applies alpha / r_module
            writer.add_tensor(base + ".lora_a", np.ascontiguousarray(pair["lora_A"]))
            writer.add_tensor(base + ".lora_b", np.ascontiguousarray(lora_b))
    return Path(path)
