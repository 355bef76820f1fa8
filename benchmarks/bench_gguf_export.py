"""GGUF export checked against the trained model, on the bundled SmolLM2-135M with a quickly trained LoRA.

Prepares the shared Midjourney data, trains a LoRA for a few steps (enough to change the answers), runs
`export(gguf=True)` per quant type and prints its self-check: of the test prompts (up to 20), how many
greedy answers are token-identical between the tuned HF model and the GGUF (merged, and the LoRA GGUF on
the bundled Q4_1 base GGUF), how many stop by themselves on each side, where mismatches first diverge.

    HF_HUB_OFFLINE=1 TAILOR_QUIET=1 nice -n 10 .venv/bin/python benchmarks/bench_gguf_export.py
    (options: --steps N --quant f16 --quant q8_0 --rows 20 --out DIR --csv PATH)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

CSV = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "midjourney" / "midjourney_prompt_dataset.csv"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", type=Path, default=CSV)
    ap.add_argument("--out", type=Path, default=None, help="project folder (default: a temp dir)")
    ap.add_argument("--steps", type=int, default=30, help="LoRA optimizer steps")
    ap.add_argument("--quant", action="append", default=None, help="GGUF type(s) to export (default f16)")
    ap.add_argument("--rows", type=int, default=20, help="test prompts the check answers")
    args = ap.parse_args()
    if not args.csv.exists():
        print(f"dataset not found: {args.csv}", file=sys.stderr)
        return 2

    from tailorkit.config import build_config
    from tailorkit.data.prepare import prepare
    from tailorkit.errors import TailorError
    from tailorkit.export import export
    from tailorkit.train.trainer import train

    root = args.out or Path(tempfile.mkdtemp(prefix="bench-gguf-"))
    cfg = build_config({"data": {"source": str(args.csv), "columns": {"user": "User", "assistant": "Prompt"}},
                        "train": {"run_name": "bench", "method": "lora", "max_steps": args.steps, "batch_size": 4},
                        "export": {"check_rows": args.rows}}, root=root)
    if not (cfg.run_dir / "adapter" / "adapter_config.json").exists():
        prep = prepare(cfg)
        print(f"prepare: {prep.kept} rows kept, splits {prep.split_sizes}")
        t0 = time.perf_counter()
        result = train(cfg)
        print(f"train: {result.steps} LoRA steps in {time.perf_counter() - t0:.0f} s")
    figures = {}
    for quant in args.quant or ["f16"]:
        t0 = time.perf_counter()
        try:
            res = export(cfg, gguf=True, quant=quant)
            report = res.gguf_check
        except TailorError as exc:  # a failed check still wrote its report
            print(f"export {quant}: {exc}")
            report = json.loads((cfg.run_dir / "export" / "gguf_check.json").read_text())
        seconds = time.perf_counter() - t0
        load = os.getloadavg()
        print(f"\nexport --gguf --quant {quant}: {seconds:.0f} s (write + check), load {load[0]:.2f} {load[1]:.2f}")
        for line in report.get("summary", []):
            print("  " + line)
        print(f"  prompt text tokenised as in training by llama.cpp: "
              f"{report.get('prompt_text_tokenizes_identically')}/{report.get('rows')}")
        for side in report.get("sides", []):
            for m in side["mismatches"]:
                print(f"  {side['label']} row {m['row']}: diverges at token {m['first_divergence']} "
                      f"(HF {m['hf_token']!r} vs GGUF {m['gguf_token']!r} after {m['context']!r}); "
                      f"stopped HF {m['hf_stopped']} GGUF {m['gguf_stopped']}")
        figures[quant] = {"seconds": round(seconds, 1), "passed": report.get("passed"),
                          "sides": [{k: v for k, v in s.items() if k != "mismatches"} for s in report.get("sides", [])]}
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
