"""Raw llama.cpp decode speed of GGUF files: `llama_decode` one token at a time after a fixed prompt, argmax in
numpy, nothing of tailorkit's engine in between — what the installed llama-cpp-python build gives this CPU.

    .venv/bin/python benchmarks/bench_llamacpp_decode.py FILE.gguf [FILE.gguf ...] [--threads 2] [--tokens 64]

Prints the build's CPU features first (`AMX_INT8 = 1` when ggml was built with AMX), then per file the prompt
time (60 tokens) and decode tokens/s, each the mean of 3 runs after a warm-up, with the 1-minute load. To
compare two builds, run this once per build (A, B, A) with the other build on PYTHONPATH. GGUFs of the bundled
model: `~/.cache/tailorkit/gguf/` after any llama.cpp run, or `tailor export --gguf --quant TYPE`.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import sys
import time

PROMPT = list(range(100, 160))


def _silence(llama_cpp) -> None:
    """llama.cpp logs every tensor on load; keep the benchmark's lines readable."""
    callback = llama_cpp.llama_log_callback(lambda level, text, user: None)
    _silence.keep = callback  # ctypes callbacks must outlive their registration
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def run(llama_cpp, path: str, threads: int, tokens: int) -> tuple[float, float]:
    """Mean prompt seconds and decode tokens/s over 3 runs (after one warm-up run)."""
    import numpy as np

    lc = llama_cpp
    model = lc.llama_model_load_from_file(path.encode(), lc.llama_model_default_params())
    if not model:
        sys.exit(f"{path}: llama.cpp could not load it")
    params = lc.llama_context_default_params()
    params.n_ctx, params.n_batch = 1024, 512
    params.n_threads = params.n_threads_batch = threads
    ctx = lc.llama_init_from_model(model, params)
    n_vocab = lc.llama_vocab_n_tokens(lc.llama_model_get_vocab(model))
    batch = lc.llama_batch_init(512, 0, 1)

    def decode(toks: list[int], pos0: int) -> None:
        batch.n_tokens = len(toks)
        for i, tok in enumerate(toks):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = tok, pos0 + i, 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = i == len(toks) - 1
        if lc.llama_decode(ctx, batch) != 0:
            sys.exit(f"{path}: llama_decode failed")

    def once() -> tuple[float, float]:
        lc.llama_memory_clear(lc.llama_get_memory(ctx), True)
        t0 = time.perf_counter()
        decode(PROMPT, 0)
        t1 = time.perf_counter()
        pos = len(PROMPT)
        for _ in range(tokens):
            logits = np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
            decode([int(np.argmax(logits))], pos)
            pos += 1
        return t1 - t0, tokens / (time.perf_counter() - t1)

    once()
    runs = [once() for _ in range(3)]
    lc.llama_batch_free(batch)
    lc.llama_free(ctx)
    lc.llama_model_free(model)
    return statistics.mean(r[0] for r in runs), statistics.mean(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gguf", nargs="+")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    try:
        import llama_cpp
    except ImportError:
        sys.exit("llama-cpp-python is not installed: make test installs it (or pip install 'tailorkit[llamacpp]')")
    _silence(llama_cpp)
    llama_cpp.llama_backend_init()
    print(f"llama-cpp-python {llama_cpp.__version__} from {os.path.dirname(llama_cpp.__file__)}")
    print(llama_cpp.llama_print_system_info().decode().strip())
    for path in args.gguf:
        prompt_s, tok_s = run(llama_cpp, path, args.threads, args.tokens)
        print(f"{os.path.basename(path):28} threads {args.threads}  prompt {len(PROMPT)} tokens {prompt_s * 1000:6.1f} ms"
              f"  decode {tok_s:6.1f} tok/s  load {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
