"""A multi-turn chat on the llama.cpp engine with and without its prompt-prefix cache, side by side (A, B, A):
time to the first token of each turn, as `tailor chat` and the server's single-request path see it.

Every turn re-sends the whole conversation (as chat clients do); with the cache the engine evaluates only what
follows the prefix it already holds (the earlier turns), without it the whole prompt every turn.

    HF_HUB_OFFLINE=1 TAILOR_QUIET=1 .venv/bin/python benchmarks/bench_chat_prefix.py PROJECT_DIR [--turns 8]

PROJECT_DIR holds tailor.yaml; the bundled model answers when `--model base` (default), `tuned` the run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

QUESTIONS = ["midjourney prompt for a girl wearing roller skates", "make it a night scene with neon lights",
             "now in the style of a 1980s anime", "add rain and reflections on the street",
             "change the aspect ratio to 16:9", "make the girl older, maybe thirty",
             "add a dog running beside her", "put it in Tokyo", "make it black and white", "shorter please"]


def chat(engine, gen, turns: int) -> list[tuple[int, float, float]]:
    """(prompt tokens, seconds to the first token, seconds for the turn) per turn."""
    conv: list[dict] = []
    out = []
    for q in QUESTIONS[:turns]:
        conv.append({"role": "user", "content": q})
        n_prompt = engine.count_tokens(conv)
        t0 = time.perf_counter()
        first, parts, final = None, [], None
        for delta in engine.stream(conv, gen):
            if first is None:
                first = time.perf_counter() - t0
            parts.append(delta.text)
            final = delta
        out.append((n_prompt, first or 0.0, time.perf_counter() - t0))
        conv.append({"role": "assistant", "content": "".join(parts).strip()})
        assert final is not None and final.finish_reason is not None
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("project", type=Path)
    ap.add_argument("--model", default="base", help="base, tuned or a run name")
    ap.add_argument("--turns", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    args = ap.parse_args()

    from tailorkit.config import load_config
    from tailorkit.infer import open_engine

    cfg = load_config(args.project)
    gen = cfg.generation.model_copy(update={"max_new_tokens": args.max_new_tokens, "temperature": 0.0})
    engine = open_engine(cfg, args.model, engine="llamacpp")
    print(f"{args.model} on llama.cpp ({engine.gguf_path.name}), {args.turns} turns, max_new_tokens "
          f"{args.max_new_tokens}; load {os.getloadavg()[0]:.2f}", flush=True)
    chat(engine, gen, 1)  # warm up
    results = {}
    for label, cache in (("cache", True), ("no cache", False), ("cache again", True)):
        engine.prefix_cache = cache
        engine.llm.reset()
        results[label] = chat(engine, gen, args.turns)
        rows = results[label]
        print(f"{label:12} TTFT per turn (s): " + " ".join(f"{t:.2f}" for _, t, _ in rows)
              + f" | prompt tokens {rows[0][0]}..{rows[-1][0]} | load {os.getloadavg()[0]:.2f}", flush=True)
    engine.close()
    late = slice(args.turns // 2, None)  # the later turns, where the history is long
    with_cache = statistics.mean(t for label in ("cache", "cache again") for _, t, _ in results[label][late])
    without = statistics.mean(t for _, t, _ in results["no cache"][late])
    print(f"mean TTFT over turns {args.turns // 2 + 1}..{args.turns}: {with_cache:.3f} s with the cache, "
          f"{without:.3f} s without ({without / with_cache:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
