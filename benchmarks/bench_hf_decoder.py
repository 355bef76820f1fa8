"""HF generation on the continuous-batching decoder (`HFEngine.generate` for greedy batches) vs transformers'
`generate` (`infer/hf_generate.generate`), side by side A/B/A in one process: the same prompts, the project's
decoding (greedy, its penalties and max_new_tokens), batch 16; tokens/s, and how many answers are identical.

    HF_HUB_OFFLINE=1 TAILOR_QUIET=1 .venv/bin/python benchmarks/bench_hf_decoder.py PROJECT_DIR [--rows 16] \
        [--models base,tuned] [--batch-size 16]

PROJECT_DIR holds tailor.yaml and a prepared run (data/test.jsonl); `tuned` needs a trained run.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("project", type=Path)
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--models", default="base,tuned")
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()

    from tailorkit.config import load_config
    from tailorkit.data.example import read_examples
    from tailorkit.infer import open_engine
    from tailorkit.infer.hf_generate import generate

    cfg = load_config(args.project)
    test = cfg.run_dir / "data" / "test.jsonl"
    if not test.exists():
        sys.exit(f"no test split at {test}: run `tailor data prepare` first")
    convs = [ex.prompt_messages() for ex in read_examples(test)][:args.rows]
    gen = cfg.generation.model_copy(update={"temperature": 0.0})
    print(f"{len(convs)} prompts from {test}; greedy, max_new_tokens={gen.max_new_tokens}, repetition_penalty="
          f"{gen.repetition_penalty}, no_repeat_ngram_size={gen.no_repeat_ngram_size}, batch {args.batch_size}; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    for which in args.models.split(","):
        engine = open_engine(cfg, which, engine="hf")
        sides = {"transformers generate": lambda: generate(engine.model, engine.tokenizer, convs, gen,
                                                           batch_size=args.batch_size, show_progress=False),
                 "continuous decoder": lambda: engine.generate(convs, gen, batch_size=args.batch_size,
                                                               show_progress=False)}
        answers = {}
        for name in ["transformers generate", "continuous decoder", "transformers generate"]:
            load = os.getloadavg()[0]
            start = time.perf_counter()
            answers[name] = sides[name]()
            secs = time.perf_counter() - start
            tokens = sum(g.n_tokens for g in answers[name])
            print(f"  {which:6} {name:22} {secs:6.1f} s  {tokens:5d} tokens  {tokens / secs:6.1f} tok/s  "
                  f"load {load:.2f} -> {os.getloadavg()[0]:.2f}", flush=True)
        same = sum(a.text == b.text for a, b in zip(answers["transformers generate"], answers["continuous decoder"]))
        print(f"  {which}: identical answers {same}/{len(convs)}", flush=True)
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
