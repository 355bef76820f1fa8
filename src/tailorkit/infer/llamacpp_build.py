"""Will the installed llama-cpp-python survive its first prompt on this CPU?

ggml built with AMX (`AMX_INT8 = 1` in llama.cpp's system info: `-march=native` on an Intel Xeon of the
Sapphire Rapids generation or later) fills its tile configuration on the stack before `ldtilecfg`, and GCC 12
deletes those stores as dead (llama.cpp PR 26954), so the first AMX tile instruction raises SIGILL and the
whole process dies with "Illegal instruction" — nothing Python can catch, and nothing that says why. Before
the first llama.cpp model of a process is opened, such a build is tried once in a child process on the GGUF
about to be opened (prompt of a few tokens, which takes the AMX tile path); a child killed by SIGILL becomes
a ModelError with the rebuild command, a child that answers leaves a marker in the tailorkit cache so that
the build is not tried again. Builds without AMX, and 16/32-bit GGUFs (no AMX kernel in ggml), need no trial.
"""
from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from pathlib import Path

from ..errors import ModelError

# the flags `make test` builds with; -fno-dse -fno-tree-dse keep GCC 12 from deleting the tile config stores
REBUILD = ("CMAKE_ARGS=\"-DGGML_NATIVE=OFF -DCMAKE_C_FLAGS='-march=native -fno-dse -fno-tree-dse' "
           "-DCMAKE_CXX_FLAGS='-march=native -fno-dse -fno-tree-dse'\" "
           "pip install --no-cache-dir --force-reinstall --no-deps llama-cpp-python")
# GGUF general.file_type values with no AMX kernel in ggml: all F32, mostly F16, mostly BF16
UNQUANTISED_FILE_TYPES = {0, 1, 32}
PROBE_TIMEOUT_S = 300

# loads the GGUF (argv[1]) and evaluates an 8-token prompt: ggml's AMX path takes batches of more than one row
PROBE = """
import sys, llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=64, n_batch=64, verbose=False)
llm.eval(list(range(1, 9)))
print("ok")
"""

_checked: set[str] = set()  # build keys already fine in this process
_broken: dict[str, ModelError] = {}  # build keys found broken in this process: not tried again


def build_key(llama_cpp) -> str:
    """Identifies the installed build: its version and the size and mtime of each of its shared libraries."""
    lib = Path(llama_cpp.__file__).parent / "lib"
    parts = [getattr(llama_cpp, "__version__", "?")]
    for path in sorted(lib.glob("*.so*")) if lib.is_dir() else []:
        stat = path.stat()
        parts.append(f"{path.name}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


def check_llama_build(gguf_path: str | Path, *, meta: dict | None = None, system_info: str | None = None,
                      key: str | None = None, cache: Path | None = None, probe: list[str] | None = None) -> None:
    """Raise ModelError when this llama-cpp-python build would kill the process on its first prompt.

    `meta` is the GGUF's metadata when the caller has read it already. `system_info`, `key`, `cache` and `probe`
    default to the installed build, the tailorkit cache and the probe above; tests pass their own to stand in
    for a broken build."""
    import llama_cpp

    from .gguf_meta import gguf_metadata

    info = system_info if system_info is not None else llama_cpp.llama_print_system_info().decode()
    if "AMX_INT8 = 1" not in info:
        return
    key = key or build_key(llama_cpp)
    if key in _checked:  # a good build: no need to look at the file
        return
    meta = meta if meta is not None else gguf_metadata(Path(gguf_path))
    if meta.get("general.file_type") in UNQUANTISED_FILE_TYPES:
        return
    if key in _broken:
        raise _broken[key]
    if cache is None:
        from ..models import cache_dir

        cache = cache_dir() / "llama-cpp-build-checks"
    marker = cache / f"{key}.ok"
    if marker.exists():
        _checked.add(key)
        return
    argv = probe or [sys.executable, "-c", PROBE, str(gguf_path)]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return  # slow, not broken: let the real load go on (and try again next time)
    if result.returncode == -signal.SIGILL:
        _broken[key] = ModelError(
            "the installed llama-cpp-python was built with AMX and dies with 'Illegal instruction' (SIGILL) on its "
            "first prompt: GCC 12 drops ggml's AMX tile configuration (llama.cpp PR 26954)",
            where=str(Path(llama_cpp.__file__).parent),
            fix=f"rebuild it: {REBUILD}; if that build fails the same way (llama.cpp PR 26954 also names CPUs that "
                "need AMX permission per thread), add -mno-amx-tile -mno-amx-int8 -mno-amx-bf16 to both flag lists to "
                "build without AMX; or set generation.engine: hf")
        raise _broken[key]
    if result.returncode == 0:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(" ".join(info.split()) + "\n")
        tmp.replace(marker)
        _checked.add(key)
    # any other failure is the real load's to report, with its own message
