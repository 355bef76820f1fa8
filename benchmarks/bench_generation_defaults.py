"""Pick generation defaults with numbers: answer a run's test split with the tuned (and optionally the
base) model under several decoding settings and print, per setting, ROUGE-L, chrF, chatty-preamble
rate, never-stops rate (cap hit or repetition loop), median words and generation speed.

    HF_HUB_OFFLINE=1 TAILOR_QUIET=1 nice -n 10 .venv/bin/python benchmarks/bench_generation_defaults.py \
        PROJECT_DIR [--base] [--max-rows N]

PROJECT_DIR holds tailor.yaml and a trained run (`tailor data prepare && tailor train`). The acceptance
targets for the tuned model with the default settings: preamble rate <= 5%, >= 90% of outputs end
properly (terminator reached, no repetition loop).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

SETTINGS = {
    "default": {},
    "plain greedy": {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0},
    "rep 1.15 only": {"no_repeat_ngram_size": 0},
    "ngram 4 only": {"repetition_penalty": 1.0},
    "rep 1.1 + ngram 3": {"repetition_penalty": 1.1, "no_repeat_ngram_size": 3},
    "default, penalize prompt": {"penalize_prompt": True},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("project", type=Path)
    ap.add_argument("--base", action="store_true", help="also run the base model")
    ap.add_argument("--max-rows", type=int, default=None)
    args = ap.parse_args()

    from tailorkit.config import load_config
    from tailorkit.data.example import read_examples
    from tailorkit.evaluate import metrics as M
    from tailorkit.infer.hf_generate import generate
    from tailorkit.infer.loading import load_base, load_tuned

    cfg = load_config(args.project)
    examples = read_examples(cfg.run_dir / "data" / "test.jsonl")[: args.max_rows]
    refs = [ex.assistant for ex in examples]
    print(f"{len(examples)} test rows of {cfg.run_dir}; reference median words {M.median_words(refs):.1f}")
    models = [("tuned", lambda: load_tuned(cfg.run_dir / "adapter"))]
    if args.base:
        models.append(("base", lambda: load_base(cfg)))
    print(f"{'model':6} {'setting':26} {'ROUGE-L':>8} {'chrF':>6} {'preamble':>9} {'never-stops':>12} "
          f"{'cap':>5} {'loop':>5} {'med.words':>9} {'tok/s':>7}")
    for name, loader in models:
        model, tok = loader()
        for label, over in SETTINGS.items():
            gen_cfg = cfg.generation.model_copy(update=over)
            start = time.perf_counter()
            gens = generate(model, tok, [ex.prompt_messages() for ex in examples], gen_cfg,
                            batch_size=cfg.compare.batch_size)
            secs = time.perf_counter() - start
            n = len(gens)
            rl = statistics.mean(M.rouge_l(g.text, r) for g, r in zip(gens, refs))
            cf = statistics.mean(M.chrf(g.text, r) for g, r in zip(gens, refs))
            pre = sum(M.has_preamble(g.text) for g in gens) / n
            never = sum(M.never_stops(g.text, g.finish_reason) for g in gens) / n
            cap = sum(g.finish_reason == "length" for g in gens) / n
            loop = sum(M.ends_in_loop(g.text) for g in gens) / n
            med = statistics.median(len(g.text.split()) for g in gens)
            tps = sum(g.n_tokens for g in gens) / secs
            print(f"{name:6} {label:26} {rl:8.3f} {cf:6.1f} {pre:9.1%} {never:12.1%} {cap:5.0%} {loop:5.0%} "
                  f"{med:9.1f} {tps:7.1f}", flush=True)
        del model
    return 0


if __name__ == "__main__":
    sys.exit(main())
