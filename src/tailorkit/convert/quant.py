"""GGUF tensor types for `export.quant`: which ggml type each tensor is stored in, quantised with gguf-py
(the k-quant and IQ4 types in LLAMA_QUANTS are written at 16 bits here and then by llama.cpp, requant.py).

1-D tensors (norms, biases) stay F32 as in llama.cpp's converter. With a 4/5-bit type the token
embedding and output matrix are stored as Q8_0 (as the bundled SmolLM2 Q4_1 file does), since they are
the most sensitive. A matrix whose rows do not split into the type's blocks falls back to F16.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .requant import LLAMA_QUANTS, check_available

GGUF_PY_QUANTS = ("f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0")
QUANTS = GGUF_PY_QUANTS + LLAMA_QUANTS


def _types():
    import gguf

    t, f = gguf.GGMLQuantizationType, gguf.LlamaFileType
    return {"f32": (t.F32, f.ALL_F32), "f16": (t.F16, f.MOSTLY_F16), "bf16": (t.BF16, f.MOSTLY_BF16),
            "q8_0": (t.Q8_0, f.MOSTLY_Q8_0), "q5_1": (t.Q5_1, f.MOSTLY_Q5_1), "q5_0": (t.Q5_0, f.MOSTLY_Q5_0),
            "q4_1": (t.Q4_1, f.MOSTLY_Q4_1), "q4_0": (t.Q4_0, f.MOSTLY_Q4_0)}


def check_quant(quant: str) -> str:
    """The lower-cased type; ConfigError for an unknown one, or one whose writer (llama.cpp) is missing."""
    q = quant.lower()
    if q not in QUANTS:
        raise ConfigError(f"unknown GGUF quant type '{quant}'", where="export.quant",
                          fix=f"use one of {', '.join(QUANTS)}")
    check_available(q)
    return q


def file_type(quant: str) -> int:
    """general.file_type for a gguf-py type (llama.cpp's quantizer sets its own)."""
    return int(_types()[check_quant(quant)][1])


def encode(name: str, data: np.ndarray, quant: str):
    """(array to store, ggml type) for one tensor (float32 numpy `data`)."""
    import gguf

    t = gguf.GGMLQuantizationType
    qtype = _types()[check_quant(quant)][0]
    if data.ndim <= 1:
        qtype = t.F32
    elif qtype not in (t.F32, t.F16, t.BF16) and name in ("token_embd.weight", "output.weight"):
        qtype = t.Q8_0
    if qtype in (t.F32, t.F16):
        return gguf.quants.quantize(data, qtype), qtype
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    if data.shape[-1] % block:
        return data.astype(np.float16), t.F16
    return gguf.quants.quantize(data, qtype), qtype
