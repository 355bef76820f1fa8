"""Train the bundled SmolLM2-135M on the shared Midjourney data with tailorkit's defaults and print
the figures: train time, seconds per epoch per 100 rows, and the perplexity of the reference answers
of the held-out test split before (base) and after (tuned) training.

    HF_HUB_OFFLINE=1 TAILOR_QUIET=1 nice -n 10 .venv/bin/python benchmarks/bench_train_midjourney.py
    (options: --epochs N --lr F --set train.KEY=VALUE --out DIR --csv PATH; defaults = tailorkit's defaults)

The acceptance target: tuned beats base on test reference perplexity by >= 3x (aim 10x).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import yaml

CSV = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "midjourney" / "midjourney_prompt_dataset.csv"


def reference_perplexity(model, tok, path: Path, max_length: int) -> tuple[float, float, int]:
    """(loss, perplexity, trained tokens) of the reference answers in an Example JSONL."""
    from tailorkit.data.example import read_examples
    from tailorkit.train.loss import evaluate_loss, perplexity
    from tailorkit.train.tokenize import encode_examples

    rows = encode_examples(read_examples(path), tok, max_length)
    loss, n = evaluate_loss(model, rows, tok.pad_token_id, 8)
    return loss, perplexity(loss), n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", type=Path, default=CSV)
    ap.add_argument("--out", type=Path, default=None, help="project folder (default: a temp dir)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--max-length", type=int, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="train.KEY=VALUE",
                    help="any other train.* override, e.g. --set train.batch_size=4 (repeatable)")
    args = ap.parse_args()
    if not args.csv.exists():
        print(f"dataset not found: {args.csv}", file=sys.stderr)
        return 2

    from tailorkit.config import build_config
    from tailorkit.data.prepare import prepare
    from tailorkit.infer.loading import load_base, load_tuned
    from tailorkit.train.metrics import read_metrics
    from tailorkit.train.trainer import train

    root = args.out or Path(tempfile.mkdtemp(prefix="bench-train-"))
    train_over = {k: v for k, v in {"epochs": args.epochs, "learning_rate": args.lr}.items() if v is not None}
    for item in args.set:
        key, _, value = item.partition("=")
        if not key.startswith("train.") or not value:
            print(f"--set {item}: expected train.KEY=VALUE", file=sys.stderr)
            return 2
        train_over[key[len("train."):]] = yaml.safe_load(value)
    data = {"source": str(args.csv), "columns": {"user": "User", "assistant": "Prompt"}}
    if args.max_length:
        data["max_length"] = args.max_length
    cfg = build_config({"data": data, "train": {"run_name": "bench", **train_over}}, root=root)

    prep = prepare(cfg)
    print(f"prepare: {prep.rows_read} rows read, {prep.kept} kept, splits {prep.split_sizes}")
    test = cfg.run_dir / "data" / "test.jsonl"

    base, tok = load_base(cfg, device="cpu")
    b_loss, b_ppl, n_tok = reference_perplexity(base, tok, test, cfg.data.max_length)
    _, bv_ppl, _ = reference_perplexity(base, tok, cfg.run_dir / "data" / "val.jsonl", cfg.data.max_length)
    del base
    print(f"base:  test reference loss {b_loss:.4f}  perplexity {b_ppl:.2f}  ({n_tok} answer tokens); val perplexity {bv_ppl:.2f}")

    t0 = time.perf_counter()
    result = train(cfg)
    wall = time.perf_counter() - t0
    vals = [r for r in read_metrics(result.metrics_path) if r["kind"] == "val"]
    for v in vals:
        print(f"  epoch {v['epoch']:>2}  step {v['step']:>4}  val loss {v['val_loss']:.4f}  ppl {v['val_perplexity']:.2f}")
    tuned, tok2 = load_tuned(result.adapter_dir, device="cpu")
    t_loss, t_ppl, _ = reference_perplexity(tuned, tok2, test, cfg.data.max_length)
    epochs_run = max(1, len(vals))
    per_epoch_100 = result.seconds / epochs_run / result.train_rows * 100
    figures = {
        "train_rows": result.train_rows, "val_rows": result.val_rows, "test_rows": prep.split_sizes.get("test"),
        "epochs_planned": result.total_steps // max(1, math.ceil(result.train_rows / cfg.train.batch_size)),
        "epochs_run": epochs_run, "steps": result.steps, "stopped": result.stopped, "best_step": result.best_step,
        # the value training used: unset, it depends on the method and the model size
        "learning_rate": yaml.safe_load((cfg.run_dir / "config.yaml").read_text())["train"]["learning_rate"], "overrides": train_over, "train_seconds": round(result.seconds, 1),
        "wall_seconds_incl_load": round(wall, 1), "seconds_per_epoch_per_100_rows": round(per_epoch_100, 1),
        "tokens_per_s": round(result.tokens_per_s, 1),
        "base_test_ppl": round(b_ppl, 2), "tuned_test_ppl": round(t_ppl, 2), "ppl_ratio": round(b_ppl / t_ppl, 2),
        "base_val_ppl": round(bv_ppl, 2),
        "best_val_ppl": round(result.best_val_perplexity, 2) if result.best_val_perplexity else None,
    }
    print(f"tuned: test reference loss {t_loss:.4f}  perplexity {t_ppl:.2f}")
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
