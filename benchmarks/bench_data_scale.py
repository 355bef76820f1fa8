"""Data stage at scale: `inspect` and `prepare` wall time and peak RSS on 10k / 50k / 100k rows.

    TAILOR_QUIET=1 HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python benchmarks/bench_data_scale.py \
        --rows 10000 50000 100000 [--src /work/main/src --cap 300]

Rows are Midjourney-like (request, prompt) pairs drawn from a vocabulary (subjects, settings, styles,
lighting, camera, parameters), written as a User,Prompt CSV like the shared Midjourney file, with
2% exact copies and 3% near duplicates (a changed parameter, a typo, a word added or dropped, on both
sides) injected at random positions. Each run is a fresh subprocess with `--src` first on sys.path, so
the same script times main's code and this branch's side by side; `--cap` kills a run that takes longer
(reported as "> cap"). The stages of one source tree run in one project folder, in order, as a user runs
them: `prepare` after `inspect` finds the token counts inspect cached (data/token_cache.py). Peak RSS is the child's ru_maxrss; CPU is its user + system time (all
threads), which other engineers' load disturbs far less than wall time. The tokenizer is the
config's model (the bundled SmolLM2 by default), as in a real run.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from mj_rows import make_rows  # noqa: E402  (the generator the scale tests use too)


def write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["User", "Prompt"])
        w.writerows(rows)


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from tailorkit.config import build_config
stage, csv_path, root = sys.argv[2], sys.argv[3], sys.argv[4]
cfg = build_config({"data": {"source": csv_path}}, root=root)
t0 = time.perf_counter()
use0 = resource.getrusage(resource.RUSAGE_SELF)
cpu0 = use0.ru_utime + use0.ru_stime
if stage == "inspect":
    from tailorkit.data.inspect import inspect_data
    r = inspect_data(cfg)
    facts = {"near_duplicates": r.near_duplicates, "exact_duplicates": r.exact_duplicates,
             "rows_after_cleaning": r.rows_after_cleaning, "split_groups": r.split_groups}
else:
    from tailorkit.data.prepare import prepare
    r = prepare(cfg)
    facts = {"kept": r.kept, "dropped": r.dropped, "split_sizes": r.split_sizes, "split_groups": r.split_groups}
seconds = time.perf_counter() - t0
use = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "cpu_s": use.ru_utime + use.ru_stime - cpu0, "peak_rss_mb": use.ru_maxrss / 1024,
                  **facts}))
"""


def run_stage(src: str, stage: str, csv_path: Path, root: Path, cap: float) -> dict:
    env = {**os.environ, "TAILOR_QUIET": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": src}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, src, stage, str(csv_path), str(root)], env=env,
                              capture_output=True, text=True, timeout=cap)
    except subprocess.TimeoutExpired:
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return {"seconds": None, "timed_out_after_s": cap, "peak_rss_mb_any_child": peak}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:], "seconds": None}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = time.perf_counter() - t0  # with interpreter start and imports
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    ap.add_argument("--src", nargs="+", default=[str(Path(__file__).resolve().parents[1] / "src")],
                    help="tailorkit source folders to time (e.g. /work/main/src and this checkout's src)")
    ap.add_argument("--stages", nargs="+", default=["inspect", "prepare"])
    ap.add_argument("--cap", type=float, default=300.0, help="seconds before a run is killed")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            csv_path = Path(tmp) / f"rows{n}.csv"
            write_csv(csv_path, make_rows(n))
            roots = {src: Path(tempfile.mkdtemp(dir=tmp)) for src in args.src}
            for stage in args.stages:
                for src in args.src:
                    root = roots[src]  # one project per source tree: prepare follows inspect, as a user runs them
                    load = os.getloadavg()[0]
                    r = {"rows": n, "stage": stage, "src": src, "load_1m": round(load, 2),
                         **run_stage(src, stage, csv_path, root, args.cap)}
                    results.append(r)
                    secs = (f"{r['seconds']:.1f} s wall, {r['cpu_s']:.1f} s CPU" if r.get("seconds") is not None
                            else f"> {args.cap:g} s wall")
                    rss = r.get("peak_rss_mb") or r.get("peak_rss_mb_any_child")
                    print(f"{n:>7} rows  {stage:<8} {src:<40} {secs:>28}  peak RSS {rss:.0f} MB  "
                          f"load {load:.2f}  {json.dumps({k: v for k, v in r.items() if k in ('near_duplicates', 'kept', 'split_groups', 'error')})}",
                          flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
