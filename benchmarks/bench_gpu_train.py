"""Tokens/s and peak GPU memory of `tailorkit.train` for LoRA and QLoRA on a 0.5B-parameter model, in
under five minutes on one GPU: bf16 autocast, packed micro-batches (FlashAttention-2 varlen when
flash-attn is installed, SDPA with transformers' block-diagonal mask otherwise), QLoRA through
bitsandbytes NF4.

    HF_HUB_OFFLINE=1 TAILOR_QUIET=1 python benchmarks/bench_gpu_train.py            # on a CUDA machine
    python benchmarks/bench_gpu_train.py --model /path/to/hf-model --steps 40       # real weights
    python benchmarks/bench_gpu_train.py --dry-run                                  # CPU, tiny shape

Without --model the weights are random, in the shape of Qwen2.5-0.5B (hidden 896, 24 layers, 14 heads,
2 KV heads, MLP 4864), with the bundled SmolLM2 tokenizer (49k vocabulary) when it is installed, else
a small BPE tokenizer trained here (tests/tiny.py). Rows: the shared Midjourney CSV when present, else
synthetic request -> prompt rows of the same length range. --dry-run runs the same code path on the
CPU with a 2-layer model for 2 steps, to check the script without a GPU.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT.parent / "shared" / "datasets" / "midjourney" / "midjourney_prompt_dataset.csv"
QWEN05_SHAPE = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                    num_key_value_heads=2)
TINY_SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2)
WORDS = ("portrait girl roller skates neon city night cinematic lighting viking warrior iron amulet matte "
         "painting unreal engine steampunk copper blueprint concept art symmetrical coral reef desert temple "
         "spirit photograph retro spaceship octane render volumetric fog golden hour").split()


def tokenizer_folder(out: Path):
    """Save a tokenizer into `out`: the bundled SmolLM2 one if installed, else a small BPE one."""
    from tailorkit.errors import TailorError
    from tailorkit.models import load_tokenizer, resolve_model

    try:
        tok = load_tokenizer(resolve_model("smollm2-135m"))
        tok.save_pretrained(out)
        return tok
    except TailorError:
        sys.path.insert(0, str(ROOT / "tests"))
        from tiny import build_tiny_model

        build_tiny_model(out)
        return load_tokenizer(str(out))


def random_model(out: Path, shape: dict) -> Path:
    """A randomly initialised Llama-architecture model of `shape`, saved with its tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer_folder(out)
    cfg = LlamaConfig(vocab_size=len(tok), max_position_embeddings=4096, tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      **shape)
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlamaForCausalLM(cfg)
    from tailorkit.progress import local_io_bars_off

    with local_io_bars_off():
        model.to(torch.bfloat16).save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    del model
    print(f"random model: {n / 1e6:.0f}M parameters, shape {shape}, vocab {len(tok)}")
    return out


def data_source(root: Path, n_rows: int) -> dict:
    """The data section: the Midjourney CSV if present, else synthetic rows written as JSONL."""
    if CSV.exists():
        return {"source": str(CSV), "columns": {"user": "User", "assistant": "Prompt"}}
    from tailorkit.data.example import Example, write_examples

    rng = random.Random(0)
    rows = [Example.simple("midjourney prompt for " + " ".join(rng.choices(WORDS, k=rng.randint(4, 30))),
                           ", ".join(" ".join(rng.choices(WORDS, k=rng.randint(2, 5))) for _ in range(rng.randint(4, 16))))
            for _ in range(n_rows)]
    path = root / "rows.jsonl"
    write_examples(path, rows)
    return {"source": str(path)}


def leg(model_dir: Path, root: Path, data: dict, method: str, steps: int, batch_size: int) -> dict:
    import torch

    from tailorkit.config import build_config
    from tailorkit.data.prepare import prepare
    from tailorkit.train.trainer import train

    cfg = build_config({"model": {"base": str(model_dir)}, "data": data,
                        "train": {"method": method, "max_steps": steps, "batch_size": batch_size,
                                  "run_name": method, "log_every_steps": max(1, steps // 4)}},
                       root=root / method)
    prepare(cfg)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = train(cfg)
    wall = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 1e9 if torch.cuda.is_available() else float("nan")
    return {"method": method, "steps": result.steps, "packed": result.packed, "tokens_per_s": round(result.tokens_per_s, 1),
            "train_seconds": round(result.seconds, 1), "wall_seconds_incl_load": round(wall, 1),
            "peak_gpu_gb": round(peak, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None, help="a local HF model folder (default: random 0.5B shape)")
    ap.add_argument("--steps", type=int, default=30, help="optimizer steps per leg")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--rows", type=int, default=600, help="synthetic rows when the CSV is absent")
    ap.add_argument("--dry-run", action="store_true", help="CPU, 2-layer model, 2 steps: check the script runs")
    args = ap.parse_args()
    import torch

    on_gpu = torch.cuda.is_available() and not args.dry_run
    if not on_gpu and not args.dry_run:
        print("no CUDA GPU here: run with --dry-run to check the script on the CPU", file=sys.stderr)
        return 2
    if args.dry_run:
        os.environ["ACCELERATE_USE_CPU"] = "1"
        args.steps, args.batch_size = 2, 4
    root = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    model_dir = args.model or random_model(root / "model", TINY_SHAPE if args.dry_run else QWEN05_SHAPE)
    data = data_source(root, args.rows)
    from transformers.utils import is_flash_attn_2_available

    methods = ["lora"] + (["qlora"] if on_gpu and importlib.util.find_spec("bitsandbytes") else [])
    print(f"device: {torch.cuda.get_device_name(0) if on_gpu else 'cpu (dry run)'}; flash-attn: "
          f"{is_flash_attn_2_available()}; legs: {methods}")
    results = []
    for method in methods:
        r = leg(model_dir, root, data, method, args.steps, args.batch_size)
        results.append(r)
        print(f"  {method:<6} {r['tokens_per_s']:>10.1f} tokens/s  peak {r['peak_gpu_gb']:.2f} GB  "
              f"{r['train_seconds']}s train, {r['wall_seconds_incl_load']}s with load, packed={r['packed']}", flush=True)
    if on_gpu and "qlora" not in methods:
        print("  qlora skipped: pip install bitsandbytes")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
