"""`tailor train` against the plain HF + PEFT loop a notebook runs, on the same prepared Midjourney rows,
in one process, alternating A (plain), B (tailor), A; then where the time and memory of a step go.

    HF_HUB_OFFLINE=1 TAILOR_QUIET=1 .venv/bin/python benchmarks/bench_train_speed.py
    (options: --rows N (first N train rows; default all) --epochs N (default 1) --threads N
     --profile-steps N --compile --memory; see --help)

The plain loop is the Colab recipe: every row rendered with the chat template, batches of 8 rows in
random order padded to the longest, labels = input_ids (padding set to -100), full-vocabulary logits
and the model's own loss, AdamW, LoRA r16 / alpha 32 / dropout 0.05 on all linear layers, fp32 on CPU.
Both legs count from model load to the saved adapter (tailor also validates and checkpoints).
The machine is shared, so besides wall-clock rows/s each leg reports rows per CPU-second of this
process (less disturbed by other processes) and `uptime` load is printed next to every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CSV = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "midjourney" / "midjourney_prompt_dataset.csv"


def load_avg() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


class PeakRSS:
    """Peak resident memory of this process (and its children) while the block runs, sampled every 50 ms."""

    def __init__(self) -> None:
        import psutil

        self.proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()

    def _rss(self) -> int:
        total = self.proc.memory_info().rss
        for child in self.proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except Exception:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(0.05)

    def __enter__(self) -> "PeakRSS":
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def gb(self) -> float:
        return self.peak / 1e9


def plain_loop(model_dir: Path, train_jsonl: Path, n_rows: int, epochs: int, seed: int) -> dict:
    """Leg A: the notebook loop. Returns rows, seconds (wall and CPU) and the last loss."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tailorkit.data.example import read_examples

    w0, c0 = time.perf_counter(), time.process_time()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    texts = [tok.apply_chat_template(ex.messages, tokenize=False) for ex in read_examples(train_jsonl)][:n_rows]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    rng, loss = random.Random(seed), None
    for _ in range(epochs):
        order = list(range(len(texts)))
        rng.shuffle(order)
        for s in range(0, len(order), 8):
            enc = tok([texts[i] for i in order[s:s + 8]], return_tensors="pt", padding=True, truncation=True,
                      max_length=512)
            labels = enc["input_ids"].clone()
            labels[enc["attention_mask"] == 0] = -100
            loss = model(**enc, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
    out = Path(tempfile.mkdtemp(prefix="plain-adapter-"))
    model.save_pretrained(out)
    return {"rows": len(texts) * epochs, "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0,
            "last_loss": float(loss) if loss is not None else None}


def tailor_leg(cfg, epochs: int) -> dict:
    """Leg B: tailorkit.train with its defaults for `epochs` epochs."""
    from tailorkit.train.trainer import train

    w0, c0 = time.perf_counter(), time.process_time()
    result = train(cfg)
    return {"rows": result.train_rows * result.epochs, "wall_s": time.perf_counter() - w0,
            "cpu_s": time.process_time() - c0, "steps": result.steps, "packed": result.packed,
            "best_val_loss": result.best_val_loss, "train_seconds": result.seconds}


def step_profile(cfg, n_steps: int, threads: list[int], compile_too: bool) -> None:
    """Time the sections of tailor's step (data / forward / backward / optimizer) on real micro-batches,
    for each thread count (and compiled, when asked), CPU seconds and wall seconds side by side."""
    import torch

    from tailorkit.data.example import read_examples
    from tailorkit.models import load_tokenizer, resolve_model
    from tailorkit.train.collate import collate
    from tailorkit.train.loss import logits_mode, token_loss_sum
    from tailorkit.train.modeling import build_model
    from tailorkit.train.packing import pack, packing_isolates
    from tailorkit.train.tokenize import encode_examples

    tok = load_tokenizer(resolve_model(cfg.model.base))
    rows = encode_examples(read_examples(cfg.run_dir / "data" / "train.jsonl"), tok, cfg.data.max_length)
    model = build_model(cfg, tok, torch.device("cpu"), "no")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    mode = logits_mode(model, collate(rows[:1], tok.pad_token_id))
    packed = packing_isolates(model, rows, tok.pad_token_id)
    rng = random.Random(0)
    batches = [rng.sample(rows, cfg.train.batch_size) for _ in range(n_steps)]
    variants = [(f"threads={n}", n, False) for n in threads]
    if compile_too:
        variants.append((f"threads={threads[-1]} compiled", threads[-1], True))
    before = torch.get_num_threads()
    for name, n_threads, compiled in variants:
        torch.set_num_threads(n_threads)
        fwd_model = model
        if compiled:
            t0 = time.perf_counter()
            for layer in model.get_base_model().model.layers:
                layer.compile(dynamic=True)  # regional: one compiled block reused by every layer
            fwd_model = model
            print(f"  compile requested in {time.perf_counter() - t0:.1f}s (the first step pays for it)")
        sums = {"data": [0.0, 0.0], "forward": [0.0, 0.0], "backward": [0.0, 0.0], "optimizer": [0.0, 0.0]}
        warm = 1 if compiled else 0
        for k, sel in enumerate(batches[:warm] + batches):
            marks = [(time.perf_counter(), time.process_time())]
            batch = pack(sel, tok.pad_token_id) if packed else collate(sel, tok.pad_token_id)
            marks.append((time.perf_counter(), time.process_time()))
            loss, n = token_loss_sum(fwd_model, batch, mode=mode)
            marks.append((time.perf_counter(), time.process_time()))
            (loss / n).backward()
            marks.append((time.perf_counter(), time.process_time()))
            opt.step()
            opt.zero_grad(set_to_none=True)
            marks.append((time.perf_counter(), time.process_time()))
            if k < warm:
                print(f"  first (compiling) step: {marks[-1][0] - marks[0][0]:.1f}s wall")
                continue
            for (key, acc), a, b in zip(sums.items(), marks, marks[1:]):
                acc[0] += b[0] - a[0]
                acc[1] += b[1] - a[1]
        total_wall = sum(v[0] for v in sums.values())
        print(f"  {name}: {total_wall / n_steps:.2f}s wall per step ({load_avg()})")
        for key, (wall, cpu) in sums.items():
            print(f"    {key:<10} {wall / n_steps:6.3f}s wall  {cpu / n_steps:6.3f}s cpu  {100 * wall / total_wall:5.1f}%")
        if compiled:
            for layer in model.get_base_model().model.layers:
                layer._compiled_call_impl = None  # back to eager for anything after
    torch.set_num_threads(before)


def _sample_rss(pid: int) -> threading.Thread:
    """A thread recording the RSS (GB) of process `pid` every 0.25 s in .samples until .stop is set."""
    import psutil

    thread = threading.Thread(daemon=True)
    thread.samples, thread.stop = [], threading.Event()

    def run() -> None:
        proc = psutil.Process(pid)
        while not thread.stop.is_set():
            try:
                thread.samples.append(proc.memory_info().rss / 1e9)
            except psutil.Error:
                return
            thread.stop.wait(0.25)

    thread.run = run
    thread.start()
    return thread


def memory_profile(root: Path, n_rows: int, csv_path: Path) -> None:
    """Peak RSS of `tailor train` (4 steps) and `tailor compare` as separate processes, on n_rows rows
    shaped like the issue's 400-row project (two Midjourney rows joined: ~130 tokens median)."""
    import csv

    import yaml

    src = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    rng = random.Random(1)
    big = root / "rows400.csv"  # written next to the temp project
    with big.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["User", "Prompt"])
        w.writeheader()
        for i in range(n_rows):
            a, b = rng.sample(src, 2)
            w.writerow({"User": f"{a['User']} Also: {b['User']} (#{i})", "Prompt": f"{a['Prompt']} {b['Prompt']}"})
    proj = root / "mem"
    proj.mkdir(exist_ok=True)
    (proj / "tailor.yaml").write_text(yaml.safe_dump({
        "data": {"source": str(big), "columns": {"user": "User", "assistant": "Prompt"}},
        "train": {"max_steps": 4}, "compare": {"max_rows": 16}, "generation": {"max_new_tokens": 48}}))
    tailor = [sys.executable, "-c", "from tailorkit.cli import run; run()"]
    env = {**os.environ, "TAILOR_QUIET": "1", "HF_HUB_OFFLINE": "1"}
    for step in (["data", "prepare"], ["train"], ["compare"]):
        t0 = time.perf_counter()
        err = tempfile.TemporaryFile()
        child = subprocess.Popen(tailor + step + ["-c", str(proj / "tailor.yaml")], env=env,
                                 stdout=subprocess.DEVNULL, stderr=err)
        timeline = _sample_rss(child.pid)
        # wait4: the peak RSS of this child alone (this process holds the A/B legs' memory)
        _, status_code, usage = os.wait4(child.pid, 0)
        timeline.stop.set()
        timeline.join()
        child.returncode = os.waitstatus_to_exitcode(status_code)
        err.seek(0)
        tail = err.read().decode(errors="replace").strip()[-300:]
        status = "ok" if child.returncode == 0 else f"exit {child.returncode}: {tail}"
        print(f"  tailor {' '.join(step):<13} peak RSS {usage.ru_maxrss / 1e6:5.2f} GB  {time.perf_counter() - t0:6.1f}s  "
              f"{status}  ({load_avg()})")
        print("    RSS over time (GB, every 2 s): " + " ".join(f"{gb:.2f}" for gb in timeline.samples[::8]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", type=Path, default=CSV)
    ap.add_argument("--rows", type=int, default=None, help="first N prepared train rows (default: all)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch threads for the A/B legs (default: torch's)")
    ap.add_argument("--profile-steps", type=int, default=3, help="steps per variant in the step profile (0 = skip)")
    ap.add_argument("--profile-threads", default="1,2", help="thread counts for the step profile")
    ap.add_argument("--compile", action="store_true", help="also profile torch.compile'd decoder layers")
    ap.add_argument("--memory", action="store_true", help="also measure peak RSS of tailor train/compare on 400 rows")
    ap.add_argument("--skip-ab", action="store_true", help="only the profiles")
    ap.add_argument("--legs", default="ABA", help="order of the legs (A plain, B tailor); default ABA")
    args = ap.parse_args()
    if not args.csv.exists():
        print(f"dataset not found: {args.csv}", file=sys.stderr)
        return 2
    import torch

    from tailorkit.config import build_config
    from tailorkit.data.example import read_examples, write_examples
    from tailorkit.data.prepare import prepare
    from tailorkit.models import resolve_model

    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="bench-speed-"))
    data = {"source": str(args.csv), "columns": {"user": "User", "assistant": "Prompt"}}
    cfg = build_config({"data": data, "train": {"run_name": "bench", "epochs": args.epochs}}, root=root)
    prep = prepare(cfg)
    train_jsonl = cfg.run_dir / "data" / "train.jsonl"
    if args.rows:
        write_examples(train_jsonl, read_examples(train_jsonl)[:args.rows])
    n_rows = len(read_examples(train_jsonl))
    model_dir = resolve_model(cfg.model.base).path
    print(f"rows: {n_rows} train ({prep.split_sizes}), epochs {args.epochs}, torch threads {torch.get_num_threads()} "
          f"of {os.cpu_count()} cores, torch {torch.__version__}")
    if not args.skip_ab:
        legs = []
        for name in [{"A": "A plain", "B": "B tailor"}[c] for c in args.legs.upper() if c in "AB"]:
            print(f"{name}: running ({load_avg()})", flush=True)
            with PeakRSS() as mem:
                leg = plain_loop(model_dir, train_jsonl, n_rows, args.epochs, 0) if name.startswith("A") \
                    else tailor_leg(cfg, args.epochs)
            leg.update(name=name, peak_rss_gb=round(mem.gb, 2), load=load_avg(),
                       rows_per_s=leg["rows"] / leg["wall_s"], rows_per_cpu_s=leg["rows"] / leg["cpu_s"])
            legs.append(leg)
            print(f"  {leg['rows']} rows in {leg['wall_s']:.1f}s wall / {leg['cpu_s']:.1f}s cpu: "
                  f"{leg['rows_per_s']:.3f} rows/s, {leg['rows_per_cpu_s']:.3f} rows/cpu-s, "
                  f"peak RSS {mem.gb:.2f} GB ({leg['load']})", flush=True)
        a = [leg for leg in legs if leg["name"].startswith("A")]
        b = [leg for leg in legs if leg["name"].startswith("B")]
        ratios = {}
        if a and b:
            for key in ("rows_per_s", "rows_per_cpu_s"):
                ratios[key] = (sum(x[key] for x in b) / len(b)) / (sum(x[key] for x in a) / len(a))
            print(f"ratio tailor / plain: {ratios['rows_per_s']:.2f}x rows/s (wall), {ratios['rows_per_cpu_s']:.2f}x "
                  f"rows per CPU-second (target >= 2.0x; {load_avg()})")
        print(json.dumps({"legs": legs, "ratios": ratios}, indent=1, default=str))
    if args.profile_steps:
        threads = [int(t) for t in args.profile_threads.split(",") if t.strip()]
        print(f"step profile ({args.profile_steps} steps of {cfg.train.batch_size} random rows per variant):")
        step_profile(cfg, args.profile_steps, threads, args.compile)
    if args.memory:
        print("memory (separate processes):")
        memory_profile(root, 400, args.csv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
