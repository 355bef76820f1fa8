"""`tailor serve` under load, loopback only: streaming clients through the official openai client.

Starts `tailor serve` as its own process on a free 127.0.0.1 port over a throwaway project (the bundled
SmolLM2-135M by default, or `--model tiny` for the random test model), then measures side by side:

  A: 1 client, `--single` requests one after another     -> tokens/s
  B: `--clients` concurrent clients, `--requests` in all  -> aggregate tokens/s, TTFT p50/p95,
                                                           errors, streams complete
  A again (the machine is shared: the ratio uses the mean of both A runs)

Every request streams (`stream=True`, `stream_options.include_usage`), max_tokens `--max-tokens`;
a stream is complete when it ended with a finish_reason and usage. Load (`uptime`) is recorded
before and after. Exit status 1 when any request failed or any stream was incomplete.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_serve_load.py            # bundled model, 32 clients
    PYTHONPATH=src .venv/bin/python benchmarks/bench_serve_load.py --model tiny
    PYTHONPATH=src .venv/bin/python benchmarks/bench_serve_load.py --engine llamacpp        # llama.cpp, 16 slots
    PYTHONPATH=src .venv/bin/python benchmarks/bench_serve_load.py --hf-batching waves      # HF without continuous batching
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

PROMPTS = ["Write a short story about a lighthouse keeper who finds a message in a bottle.",
           "Describe a busy night market in a coastal city, with its smells and sounds.",
           "Explain to a child how rain forms, step by step.",
           "Write a letter from a retired astronaut to her younger self.",
           "Describe an old library at midnight in vivid detail.",
           "Tell the story of a fox who learns to fish."]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def start_server(root: Path, model: str, batch: int, port: int, threads: int | None, engine: str = "hf",
                 slots: int = 16, hf_batching: str = "continuous") -> subprocess.Popen:
    import yaml

    (root / "tailor.yaml").write_text(yaml.safe_dump({
        "model": {"base": model}, "generation": {"max_new_tokens": 64},
        "serve": {"engine": engine, "max_batch_size": batch, "llamacpp_slots": slots, "batch_wait_ms": 20,
                  "hf_batching": hf_batching,
                  "max_tokens_limit": 1024, "request_timeout_s": 1800}}))  # a crowded machine is slow, not broken
    env = dict(os.environ, TAILOR_QUIET="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return subprocess.Popen([sys.executable, "-c", "import sys; from tailorkit.cli import main; sys.exit(main(sys.argv[1:]))",
                             "serve", "-c", str(root / "tailor.yaml"), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(root / "serve.log", "w"))


async def one_stream(client, i: int, max_tokens: int) -> dict:
    t0 = time.perf_counter()
    first = None
    finish = usage = None
    stream = await client.chat.completions.create(
        model="base", messages=[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}], max_tokens=max_tokens,
        stream=True, stream_options={"include_usage": True})
    async for chunk in stream:
        if chunk.choices:
            if chunk.choices[0].delta.content and first is None:
                first = time.perf_counter() - t0
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage.completion_tokens
    return {"ttft": first, "finish": finish, "tokens": usage, "seconds": time.perf_counter() - t0,
            "complete": finish is not None and usage is not None}


async def phase(url: str, clients: int, requests: int, max_tokens: int) -> dict:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=600)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    results: list[dict] = []
    errors: list[str] = []

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            try:
                results.append(await one_stream(client, i, max_tokens))
            except Exception as exc:  # counted, reported
                errors.append(f"{type(exc).__name__}: {exc}")

    t0 = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(clients)])
    wall = time.perf_counter() - t0
    await client.close()
    tokens = sum(r["tokens"] or 0 for r in results)
    ttfts = sorted(r["ttft"] for r in results if r["ttft"] is not None)
    pct = (lambda q: ttfts[min(len(ttfts) - 1, int(q * len(ttfts)))] if ttfts else None)
    return {"clients": clients, "requests": requests, "errors": len(errors), "first_errors": errors[:3],
            "complete": sum(r["complete"] for r in results), "tokens": tokens, "wall_s": round(wall, 2),
            "tokens_per_s": round(tokens / wall, 2), "ttft_p50_s": pct(0.5) and round(pct(0.5), 3),
            "ttft_p95_s": pct(0.95) and round(pct(0.95), 3),
            "finish": {k: sum(r["finish"] == k for r in results) for k in ("stop", "length")}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m", help="smollm2-135m (bundled), tiny, or a model ref")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--single", type=int, default=3, help="requests in each 1-client phase")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32, help="serve.max_batch_size (HF backend)")
    ap.add_argument("--engine", default="hf", choices=["hf", "llamacpp"], help="the server's backend")
    ap.add_argument("--slots", type=int, default=16, help="serve.llamacpp_slots (llama.cpp backend)")
    ap.add_argument("--hf-batching", default="continuous", choices=["continuous", "waves"],
                    help="serve.hf_batching (HF backend)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads in the server (OMP_NUM_THREADS); 1 is faster on a crowded machine")
    args = ap.parse_args()

    import httpx
    from local_http import free_port

    # a timeout(1) or Ctrl-C still stops the server process (the finally below)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))

    def log(name: str, result: dict) -> None:
        print(f"{name}: {result['tokens_per_s']} tokens/s, {result['errors']} errors, {uptime()}", file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = args.model
        if model == "tiny":
            from tiny import build_tiny_model

            model = str(build_tiny_model(root / "tiny-model"))
        port = free_port()
        proc = start_server(root, model, args.batch, port, args.threads, args.engine, args.slots, args.hf_batching)
        url = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.time() + 300
            while True:
                try:
                    httpx.get(f"{url}/models", timeout=2).raise_for_status()
                    break
                except httpx.HTTPError:
                    if proc.poll() is not None or time.time() > deadline:
                        raise SystemExit("server did not start:\n" + (root / "serve.log").read_text()[-3000:])
                    time.sleep(0.3)
            asyncio.run(phase(url, 1, 1, 4))  # load the model, warm up
            load_before = uptime()
            a1 = asyncio.run(phase(url, 1, args.single, args.max_tokens))
            log("A 1 client", a1)
            b = asyncio.run(phase(url, args.clients, args.requests, args.max_tokens))
            log(f"B {args.clients} clients", b)
            a2 = asyncio.run(phase(url, 1, args.single, args.max_tokens))
            log("A 1 client", a2)
            load_after = uptime()
            health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    single = (a1["tokens_per_s"] + a2["tokens_per_s"]) / 2
    report = {"model": args.model, "engine": args.engine, "max_tokens": args.max_tokens, "batch": args.batch,
              "slots": args.slots if args.engine == "llamacpp" else None, "threads": args.threads,
              "single_client": [a1, a2], "concurrent": b,
              "speedup_vs_1_client": round(b["tokens_per_s"] / single, 2) if single else None,
              "server_stats": health.get("models"), "uptime_before": load_before, "uptime_after": load_after}
    print(json.dumps(report, indent=2))
    ok = b["errors"] == 0 and b["complete"] == args.requests
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
