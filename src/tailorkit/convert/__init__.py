"""HF -> GGUF conversion with the `gguf` package (no llama.cpp checkout): whole models, LoRA adapters."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def gguf_file(path: Path, arch: str) -> Iterator:
    """A gguf.GGUFWriter for `path`: the body adds keys and tensors; the file is written under a temporary
    name and renamed into place only when the body succeeds (nothing half-written)."""
    import gguf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    writer = gguf.GGUFWriter(str(tmp), arch)
    try:
        yield writer
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        tmp.replace(path)
    finally:
        writer.close()
        tmp.unlink(missing_ok=True)
