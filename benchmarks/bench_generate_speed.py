"""Generation speed, HF engine vs llama.cpp engine, side by side in one process: the same prompts, greedy,
generated tokens per second for the base model and the tuned run, each engine timed A, B, A so that a
change in the machine's load shows up as a difference between the two A passes.

    HF_HUB_OFFLINE=1 TAILOR_QUIET=1 .venv/bin/python benchmarks/bench_generate_speed.py PROJECT_DIR \
        [--rows 16] [--models base,tuned] [--engines hf,llamacpp[,llamacpp@q4_0]] [--max-new-tokens 64] \
        [--batch-size 1]

PROJECT_DIR holds tailor.yaml; the prompts are the first --rows requests of its run's test split
(`tailor data prepare`), or of the shared Midjourney CSV when the run has none. `tuned` needs a trained
run (`tailor train`). Engines open through `tailorkit.infer.open_engine(cfg, which, engine=...)`; an
engine that cannot open (llama.cpp not installed, no GGUF) is reported and skipped. Each figure comes
with the 1-minute load average before and after its pass (this machine is shared).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

MIDJOURNEY_CSV = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "midjourney" / "midjourney_prompt_dataset.csv"


def prompts(cfg, n: int) -> tuple[list[list[dict]], str]:
    """The first n requests (as chat conversations) and where they came from."""
    from tailorkit.data.example import read_examples

    test = cfg.run_dir / "data" / "test.jsonl"
    if test.exists():
        rows = read_examples(test)[:n]
        return [ex.prompt_messages() for ex in rows], f"{test} (first {len(rows)})"
    if not MIDJOURNEY_CSV.exists():
        sys.exit(f"no test split at {test} and no shared CSV at {MIDJOURNEY_CSV}: run `tailor data prepare` first")
    import csv

    with MIDJOURNEY_CSV.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        column = reader.fieldnames[0]
        rows = [r[column] for _, r in zip(range(n), reader)]
    return [[{"role": "user", "content": f"Write a Midjourney prompt for: {r[:200]}"}] for r in rows], \
        f"{MIDJOURNEY_CSV.name} column {column!r} (first {len(rows)})"


def timed(engine, convs, gen, batch_size: int) -> dict:
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    gens = engine.generate(convs, gen, batch_size=batch_size, show_progress=False)
    secs = time.perf_counter() - start
    tokens = sum(g.n_tokens for g in gens)
    return {"gens": gens, "seconds": secs, "tokens": tokens, "tps": tokens / secs if secs else 0.0,
            "stopped": sum(g.finish_reason == "stop" for g in gens), "load": (load_before, os.getloadavg()[0])}


def bench_model(cfg, which: str, engines: list[str], convs, gen, batch_size: int) -> list[tuple]:
    """Open each engine for `which`, warm it up, then time the passes A, B, A (A = the first engine)."""
    from tailorkit.errors import TailorError
    from tailorkit.infer import open_engine

    opened = {}
    for name in engines:
        t0 = time.perf_counter()
        kind, _, quant = name.partition("@")  # llamacpp@q4_0: the llama.cpp engine on a GGUF of that type
        mine = cfg if not quant else cfg.model_copy(
            update={"generation": cfg.generation.model_copy(update={"gguf_quant": quant})})
        try:
            opened[name] = open_engine(mine, which, engine=kind.removesuffix("-nocache"))
            if kind.endswith("-nocache"):  # llama.cpp without its prompt-prefix KV cache
                opened[name].prefix_cache = False
        except TailorError as exc:
            print(f"  {which}/{name}: cannot open ({exc.one_line()}); skipped", flush=True)
            continue
        opened[name].generate(convs[:1], gen.model_copy(update={"max_new_tokens": 8}), show_progress=False)
        print(f"  {which}/{name}: opened and warmed up in {time.perf_counter() - t0:.1f}s "
              f"({opened[name].label or which})", flush=True)
    order = list(opened)
    if len(order) >= 2:
        order = [order[0], *order[1:], order[0]]
    rows = []
    for i, name in enumerate(order):
        r = timed(opened[name], convs, gen, batch_size)
        rows.append((which, name, i + 1, r))
        print(f"  {which}/{name} pass {i + 1}: {r['tokens']} tokens in {r['seconds']:.1f}s = {r['tps']:.1f} tok/s "
              f"(load {r['load'][0]:.1f} -> {r['load'][1]:.1f})", flush=True)
    for engine in opened.values():
        engine.close()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("project", type=Path)
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--models", default="base,tuned", help="comma-separated: base, tuned, run names")
    ap.add_argument("--engines", default="hf,llamacpp",
                    help="comma-separated, the first is timed twice (A, B, A); llamacpp-nocache is llama.cpp "
                         "without its prompt-prefix cache; llamacpp@TYPE runs a GGUF of that tensor type "
                         "(e.g. llamacpp@q4_0; default generation.gguf_quant)")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=1, help="prompts per generate call (1 = one at a time)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = ap.parse_args()

    from tailorkit.config import load_config

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    cfg = load_config(args.project)
    convs, source = prompts(cfg, args.rows)
    # Greedy, no penalties: the decoding both backends implement identically.
    gen = cfg.generation.model_copy(update={"max_new_tokens": args.max_new_tokens, "temperature": 0.0,
                                            "repetition_penalty": 1.0, "no_repeat_ngram_size": 0})
    print(f"{len(convs)} prompts from {source}; greedy, max_new_tokens={args.max_new_tokens}, "
          f"batch_size={args.batch_size}; cpus={os.cpu_count()}; uptime load {os.getloadavg()}", flush=True)
    rows = []
    for which in args.models.split(","):
        rows += bench_model(cfg, which, args.engines.split(","), convs, gen, args.batch_size)

    print(f"\n{'model':8} {'engine':16} {'pass':>4} {'tokens':>7} {'seconds':>8} {'tok/s':>7} {'stopped':>8} "
          f"{'load 1m':>12}")
    for which, name, i, r in rows:
        print(f"{which:8} {name:16} {i:4d} {r['tokens']:7d} {r['seconds']:8.1f} {r['tps']:7.1f} "
              f"{r['stopped']:4d}/{len(r['gens']):<3d} {r['load'][0]:5.1f}->{r['load'][1]:<5.1f}")
    for which in dict.fromkeys(w for w, *_ in rows):
        mine = [(n, r) for w, n, _, r in rows if w == which]
        first = mine[0][0]
        a = statistics.mean(r["tps"] for n, r in mine if n == first)
        for name in dict.fromkeys(n for n, _ in mine if n != first):
            b_rows = [r for n, r in mine if n == name]
            b = statistics.mean(r["tps"] for r in b_rows)
            same = sum(x.text == y.text for x, y in zip(mine[0][1]["gens"], b_rows[0]["gens"]))
            print(f"{which}: {name} / {first} = {b / a:.2f}x tokens/s ({b:.1f} vs {a:.1f}, {first} = mean of its "
                  f"passes); identical answers {same}/{len(convs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
