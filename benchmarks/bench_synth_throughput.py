"""Synth runner throughput against a local OpenAI-compatible server with a fixed latency.

The server (tests/openai_server.py) runs in its own process and answers every request after
`--latency` seconds; the runner sends one request per source row at `--concurrency`, through the
whole production path: cache lookup, rate limiter, retries wrapper, cache write, journal append,
progress, and the final atomic output files. Ideal throughput is concurrency / latency
(32 / 0.1 s = 320 requests/s); the target is >= 80% of it.

    .venv/bin/python benchmarks/bench_synth_throughput.py --requests 2000 --concurrency 32 --latency 0.1
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def wait_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/models", timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not come up")


def client_only(url: str, n: int, concurrency: int) -> float:
    """Requests/s of the bare openai client at the same concurrency: the ceiling on this machine."""
    import asyncio

    import httpx
    import openai

    async def go() -> float:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                body = {"model": "fake-teacher", "messages": [{"role": "user", "content": f"baseline {i}"}]}
                (await client.post("/chat/completions", body=body, cast_to=httpx.Response)).json()

        t0 = time.perf_counter()
        await asyncio.gather(*[one(i) for i in range(n)])
        elapsed = time.perf_counter() - t0
        await client.close()
        return n / elapsed

    return asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.1)
    args = ap.parse_args()

    from local_http import free_port
    from openai_server import phrases

    from tailorkit.config import build_config
    from tailorkit.synth.recipes import backtranslate

    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "openai_server.py"), "--latency",
                               str(args.latency), "--port", str(port)], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_up(url)
        baseline = client_only(url, args.requests, args.concurrency)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            src = root / "outputs.txt"
            src.write_text("\n".join(phrases(args.requests, seed=123)) + "\n", encoding="utf-8")
            cfg = build_config({"teacher": {"base_url": url, "model": "fake-teacher", "concurrency": args.concurrency},
                                "synth": {"n_candidates": 1, "select": "first", "cache": str(root / "cache.sqlite")}},
                               root=root)
            t0, cpu0 = time.perf_counter(), time.process_time()
            result = backtranslate(cfg, src, out=root / "out.jsonl")
            total_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
            rerun = backtranslate(cfg, src, out=root / "again.jsonl")  # every request from the cache
    finally:
        server.terminate()
        server.wait()
    ideal = args.concurrency / args.latency
    rate = result.requests_sent / result.wall_s
    report = {
        "requests": result.requests_sent, "kept": result.kept, "concurrency": args.concurrency,
        "latency_s": args.latency, "runner_wall_s": round(result.wall_s, 2), "total_wall_s": round(total_s, 2),
        "requests_per_s": round(rate, 1), "ideal_per_s": ideal, "share_of_ideal": round(rate / ideal, 3),
        "end_to_end_per_s": round(result.requests_sent / total_s, 1),
        "bare_client_per_s": round(baseline, 1), "runner_vs_bare_client": round(rate / baseline, 3),
        # CPU the client process spends per request (runner + openai client + final files): with a
        # free core the runner could sustain about 1000 / this many requests per second.
        "client_cpu_ms_per_request": round(1000 * cpu_s / result.requests_sent, 2),
        "rerun_from_cache_s": round(rerun.wall_s, 2), "rerun_requests_sent": rerun.requests_sent,
        "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
