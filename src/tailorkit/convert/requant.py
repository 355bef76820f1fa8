"""The GGUF types only llama.cpp's quantizer writes (k-quants such as Q4_K_M, the IQ4 types), through
`llama_model_quantize` in llama-cpp-python.

gguf-py quantises the legacy block types (q8_0, q5_x, q4_x) in numpy but not the k-quants, whose
per-tensor mixes (Q4_K_M keeps attn_v and half of ffn_down at Q6_K, ...) are llama.cpp's own policy;
re-implementing them would be a second copy that drifts from llama.cpp. So the model is written at 16 bits
with gguf-py (convert/model.py) and handed to llama.cpp's quantizer, as llama.cpp's own `llama-quantize`
does. A tensor whose rows do not split into the type's 256-wide super-blocks (SmolLM2's 576-wide
attention matrices) is stored by llama.cpp in a fallback type; `tensor_types` reports what was written.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

from ..errors import ConfigError, ModelError

# tailorkit name -> llama.cpp's LLAMA_FTYPE_MOSTLY_<NAME>; none of these needs an importance matrix
LLAMA_QUANTS = ("q6_k", "q5_k_m", "q5_k_s", "q4_k_m", "q4_k_s", "q3_k_l", "q3_k_m", "q2_k", "iq4_nl", "iq4_xs")
INSTALL = "pip install 'tailorkit[llamacpp]'"


def _llama_cpp():
    try:
        import llama_cpp
    except ImportError:
        raise ConfigError("GGUF types such as q4_k_m are written by llama.cpp's quantizer, and llama-cpp-python "
                          "is not installed", where="export.quant",
                          fix=f"{INSTALL}, or use a type gguf-py writes: f16, q8_0, q5_1, q5_0, q4_1, q4_0") from None
    return llama_cpp


def check_available(quant: str) -> None:
    """Raise ConfigError (with the install command) when `quant` needs llama-cpp-python and it is missing."""
    if quant in LLAMA_QUANTS:
        _llama_cpp()


def requantize(src: Path, dst: Path, quant: str, *, threads: int | None = None) -> Path:
    """Quantise the 16/32-bit GGUF `src` into `dst` with llama.cpp (written under a temporary name and
    renamed into place, so a failure leaves nothing half-written)."""
    llama_cpp = _llama_cpp()
    dst = Path(dst)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quant.upper()}")
    params.nthread = threads or len(os.sched_getaffinity(0)) or 1
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    # llama.cpp reports every tensor, and each fallback type as a warning, through llama-cpp-python's
    # logger ("llama-cpp-python"), whose level table is off by one for current ggml (its warnings arrive
    # as ERROR, its errors as DEBUG): silenced while quantising; the fallback types are read back from the
    # file instead (tensor_types) and a failure is the return code
    logger = logging.getLogger("llama-cpp-python")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)
        if rc != 0 or not tmp.is_file():
            raise ModelError(f"llama.cpp could not quantise {src} to {quant} (return code {rc})", where=str(src),
                             fix="try another --quant (q8_0 is written without llama.cpp)")
        tmp.replace(dst)
    finally:
        logger.setLevel(level)
        tmp.unlink(missing_ok=True)
    return dst


def tensor_types(path: Path) -> dict[str, int]:
    """How many tensors of each ggml type a GGUF holds, e.g. {"Q4_K": 120, "Q5_0": 60, "F32": 61}."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    return dict(Counter(t.tensor_type.name for t in reader.tensors).most_common())
