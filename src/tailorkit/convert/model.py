"""Write a transformers causal LM (a merged tuned model, or a base model) as a GGUF file with gguf-py.

No llama.cpp checkout or build is needed: the layout follows llama.cpp's convert_hf_to_gguf.py for the
architectures we support. Llama-architecture models (Llama, SmolLM2, Mistral) get the q/k row
permutation of `LlamaModel.permute` (HF stores rotary halves, llama.cpp's "llama" rope expects
interleaved pairs); Qwen2 uses NeoX rope (no permutation) and carries q/k/v biases. Tensor names come
from gguf-py's own HF-to-GGUF name map. The file is written under a temporary name and renamed.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..progress import progress
from . import gguf_file
from . import quant as quants
from . import requant
from .vocab import Vocab, write_vocab

SUPPORTED = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}


def supported_names() -> str:
    return ", ".join(sorted(SUPPORTED))


@dataclass(frozen=True)
class Shape:
    """The hyper-parameters the q/k permutation and the GGUF header need."""

    arch: str  # GGUF architecture name
    n_layer: int
    n_head: int
    n_head_kv: int
    head_dim: int
    permute_qk: bool
    tied: bool


def architecture(config) -> str:
    by_type = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}
    names = list(getattr(config, "architectures", None) or [])
    if not names and getattr(config, "model_type", None) in by_type:
        names = [by_type[config.model_type]]
    for name in names:
        if name in SUPPORTED:
            return name
    model_type = getattr(config, "model_type", "?")
    raise ModelError(f"the GGUF writer does not support the architecture {names[0] if names else model_type}",
                     fix=f"GGUF export supports {supported_names()}; export the merged safetensors model instead "
                         "(tailor export --merge) and convert it with llama.cpp's convert_hf_to_gguf.py")


def shape_of(config) -> Shape:
    arch = SUPPORTED[architecture(config)]
    n_head = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_head
    return Shape(arch=arch, n_layer=config.num_hidden_layers, n_head=n_head,
                 n_head_kv=getattr(config, "num_key_value_heads", None) or n_head, head_dim=head_dim,
                 permute_qk=(arch == "llama"), tied=bool(getattr(config, "tie_word_embeddings", False)))


def permute(weights: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    """llama.cpp's LlamaModel.permute: rows of each head from [half0, half1] to interleaved pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def permute_for(name: str, data: np.ndarray, shape: Shape) -> np.ndarray:
    """Apply the q/k permutation to an HF tensor (weight rows, bias, or a LoRA B matrix) when needed."""
    if not shape.permute_qk:
        return data
    if name.endswith(("q_proj.weight", "q_proj.bias")):
        return permute(data, shape.n_head, shape.n_head)
    if name.endswith(("k_proj.weight", "k_proj.bias")):
        return permute(data, shape.n_head, shape.n_head_kv)
    return data


def name_map(shape: Shape):
    import gguf

    arch = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2}[shape.arch]
    return gguf.get_tensor_name_map(arch, shape.n_layer)


def gguf_name(tmap, hf_name: str) -> str:
    name = tmap.get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if name is None:
        raise ModelError(f"the GGUF writer has no GGUF name for the tensor {hf_name}",
                         fix=f"GGUF export supports plain {supported_names()} models")
    return name


def _rope(config) -> dict:
    params = dict(getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {})
    if "rope_theta" not in params:
        params["rope_theta"] = getattr(config, "rope_theta", 10000.0)
    return params


def _llama3_rope_factors(rope: dict, head_dim: int) -> np.ndarray:
    """The rope_freqs tensor llama.cpp needs for Llama 3.1+ ("llama3" rope scaling), as the converter computes it."""
    base = float(rope["rope_theta"])
    freqs = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    factor = rope.get("factor", 8.0)
    low, high = rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
    old_ctx = rope.get("original_max_position_embeddings", 8192)
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)


def write_header(writer, config, shape: Shape, quant: str, name: str) -> list[tuple[str, np.ndarray]]:
    """Model hyper-parameters; returns extra tensors the architecture needs (llama3 rope factors)."""
    writer.add_type("model")
    writer.add_name(name)
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_block_count(shape.n_layer)
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    rope = _rope(config)
    writer.add_rope_freq_base(float(rope["rope_theta"]))
    writer.add_rope_dimension_count(shape.head_dim)
    if shape.head_dim != config.hidden_size // shape.n_head:
        writer.add_key_length(shape.head_dim)
        writer.add_value_length(shape.head_dim)
    writer.add_vocab_size(int(config.vocab_size))
    writer.add_file_type(quants.file_type(quant))
    kind = (rope.get("rope_type") or rope.get("type") or "default").lower()
    if kind == "llama3" and shape.arch == "llama":
        return [("rope_freqs.weight", _llama3_rope_factors(rope, shape.head_dim))]
    if kind == "linear":
        import gguf

        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))
    elif kind != "default":
        raise ModelError(f"the GGUF writer does not support rope scaling '{kind}'",
                         fix="GGUF export supports default, linear and llama3 rope scaling")
    return []


def write_model_gguf(model, vocab: Vocab, path: Path, *, quant: str = "f16", name: str = "model",
                     show_progress: bool = True) -> Path:
    """Write `model` (a transformers causal LM on CPU) with `vocab` as one GGUF file at `path`. A llama.cpp
    type (q4_k_m, iq4_nl, ...) is written at 16 bits next to `path` first and quantised by llama.cpp."""
    quant = quants.check_quant(quant)
    if quant in requant.LLAMA_QUANTS:
        wide = "bf16" if "bfloat16" in str(getattr(model.config, "dtype", "")) else "f16"  # as the HF weights are
        path = Path(path)
        staged = path.with_name(f".{path.stem}.{wide}.staged{os.getpid()}.gguf")
        try:
            _write(model, vocab, staged, quant=wide, name=name, show_progress=show_progress)
            with progress(enabled=show_progress) as bar:
                task = bar.add_task(f"llama.cpp {quant}", total=1)
                requant.requantize(staged, path, quant)
                bar.advance(task)
        finally:
            staged.unlink(missing_ok=True)
        return path
    return _write(model, vocab, path, quant=quant, name=name, show_progress=show_progress)


def _write(model, vocab: Vocab, path: Path, *, quant: str, name: str, show_progress: bool) -> Path:
    import torch

    config = model.config
    shape = shape_of(config)
    state = model.state_dict()
    n_vocab = state["model.embed_tokens.weight"].shape[0]
    if n_vocab != config.vocab_size:
        config.vocab_size = n_vocab
    tmap = name_map(shape)
    with gguf_file(path, shape.arch) as writer:
        extra = write_header(writer, config, shape, quant, name)
        write_vocab(writer, vocab)
        names = [n for n in state if not (shape.tied and n == "lm_head.weight")]
        with progress(enabled=show_progress) as bar:
            task = bar.add_task(f"GGUF {quant}", total=len(names) + len(extra))
            for gname, data in extra:
                writer.add_tensor(gname, data)
                bar.advance(task)
            for hf_name in names:
                with torch.no_grad():
                    data = state[hf_name].detach().to(torch.float32).cpu().numpy()
                data = permute_for(hf_name, data, shape)
                gname = gguf_name(tmap, hf_name)
                stored, qtype = quants.encode(gname, data, quant)
                writer.add_tensor(gname, stored, raw_dtype=qtype)
                bar.advance(task)
    return Path(path)
