"""`tailor serve` as a process: SIGTERM stops it mid-generation, an unset api_key_env refuses to start,
and --engine vllm builds vLLM's command (vLLM itself is not installable here)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
import yaml
from local_http import free_port
from serve_fixtures import LONG

from tailorkit.config import build_config

TAILOR = [sys.executable, "-c", "import sys; from tailorkit.cli import main; sys.exit(main(sys.argv[1:]))"]
ENV = dict(os.environ, TAILOR_QUIET="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")


def _project(root, tiny_model_dir, **serve):
    (root / "tailor.yaml").write_text(yaml.safe_dump({"model": {"base": str(tiny_model_dir)}, "generation": LONG,
                                                      "train": {"run_name": "demo"}, "serve": serve}))
    return root / "tailor.yaml"


def test_sigterm_stops_the_server_mid_generation(tiny_model_dir, tmp_path):
    # six 480-token answers one after another are many seconds of work; a 60 s graceful timeout would
    # wait for all of it if the generation threads ignored the stop
    config = _project(tmp_path, tiny_model_dir, max_batch_size=1, shutdown_timeout_s=60)
    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([*TAILOR, "serve", "-c", str(config), "--port", str(port)], env=ENV,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        started = threading.Event()
        ends: list[str] = []

        def client() -> None:
            body = {"model": "base", "messages": [{"role": "user", "content": "go"}], "max_tokens": 480, "stream": True}
            try:
                with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=60) as resp:
                    for line in resp.iter_lines():
                        started.set()
                        if line:
                            ends.append(line)
            except httpx.HTTPError as exc:
                ends.append(type(exc).__name__)

        threads = [threading.Thread(target=client) for _ in range(6)]
        for t in threads:
            t.start()
        assert started.wait(60)
        time.sleep(0.5)  # mid-generation
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        took = time.perf_counter() - t0
        for t in threads:
            t.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert took < 8, f"SIGTERM took {took:.1f}s"  # a few seconds even on a crowded machine
    # uvicorn re-raises the signal once shut down, so the exit status says SIGTERM (-15)
    assert rc in (0, -signal.SIGTERM), (tmp_path / "serve.log").read_text()[-2000:]
    assert any("shutting down" in e for e in ends)  # the running stream was told, not cut silently


def _run(*args, cwd):
    return subprocess.run([*TAILOR, *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=120)


def test_unset_api_key_env_is_a_one_line_error(tiny_model_dir, tmp_path):
    env_name = "TAILOR_TEST_NEVER_SET"
    assert env_name not in os.environ
    config = _project(tmp_path, tiny_model_dir, api_key_env=env_name)
    proc = _run("serve", "-c", str(config), "--port", str(free_port()), cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and env_name in lines[0] and "serve.api_key_env" in lines[0]


def _fake_runs(root):
    for name, r in (("demo", 8), ("wide", 32)):
        (root / "runs" / name / "adapter").mkdir(parents=True)
        (root / "runs" / name / "adapter" / "adapter_config.json").write_text(json.dumps({"r": r}))
    (root / "runs" / "full" / "adapter").mkdir(parents=True)  # a full fine-tune: a model folder, not LoRA
    (root / "runs" / "full" / "adapter" / "config.json").write_text("{}")


def test_vllm_command_has_every_lora_run(tmp_path):
    from tailorkit.serve.vllm import lora_modules, vllm_command

    _fake_runs(tmp_path)
    cfg = build_config({"train": {"run_name": "demo"}, "serve": {"vllm_args": ["--dtype", "bfloat16"]}},
                       root=tmp_path)
    cmd = vllm_command(cfg, port=9000)
    assert cmd[:3] == ["vllm", "serve", "HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert cmd[cmd.index("--served-model-name") + 1] == "base"
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--port") + 1] == "9000"
    assert "--enable-lora" in cmd and cmd[cmd.index("--max-lora-rank") + 1] == "32"
    i = cmd.index("--lora-modules")
    runs = tmp_path / "runs"
    assert cmd[i + 1:i + 4] == [f"tuned={(runs / 'demo/adapter').resolve()}", f"demo={(runs / 'demo/adapter').resolve()}",
                                f"wide={(runs / 'wide/adapter').resolve()}"]
    assert cmd[-2:] == ["--dtype", "bfloat16"]
    assert any(n.startswith("full:") for n in lora_modules(cfg)[1])


def test_vllm_from_the_cli(tmp_path):
    _fake_runs(tmp_path)
    (tmp_path / "tailor.yaml").write_text("train:\n  run_name: demo\n")
    printed = _run("serve", "--engine", "vllm", "--print-command", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert "--enable-lora" in printed.stdout and "wide=" in printed.stdout and "left out" in printed.stdout
    if subprocess.run(["which", "vllm"], capture_output=True).returncode == 0:
        pytest.skip("vllm is installed here")
    missing = _run("serve", "--engine", "vllm", cwd=tmp_path)
    assert missing.returncode == 2 and "vLLM" in missing.stderr and "pip install vllm" in missing.stderr
    bad = _run("serve", "--engine", "tgi", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown engine" in bad.stderr
