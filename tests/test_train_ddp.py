"""Two CPU processes (gloo) through `accelerate launch`, unchanged code: both ranks end with the same weights.

`accelerate launch --cpu --num_processes 2` starts ONE process in accelerate 1.x (its CPU launcher is
single-process unless MPI is used); `--multi_gpu` with ACCELERATE_USE_CPU=1 starts two gloo processes
through torchrun, which is what a multi-CPU (or multi-node) user runs.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from local_http import free_port
from test_train_run import env, make_project, one_thread  # noqa: F401  (autouse fixture)

from tailorkit.config import load_config
from tailorkit.train.trainer import train

ACCELERATE = Path(sys.executable).with_name("accelerate")
TAILOR = Path(sys.executable).with_name("tailor")


def test_two_process_cpu_training_ranks_agree(tiny_model_dir, tmp_path):
    # 17 rows on 2 processes x 4 rows: the last micro-batch of each epoch leaves rank 1 with no row.
    cfg_path = make_project(tmp_path, tiny_model_dir, n_train=17, epochs=2, lora_dropout=0.0)
    port = free_port()
    cmd = [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
           str(TAILOR), "train", "-c", str(cfg_path)]
    proc = subprocess.run(cmd, env={**env(), "ACCELERATE_USE_CPU": "1"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("trained 6/6 steps") == 1  # one summary, from the main process
    meta = json.loads((tmp_path / "runs" / "default" / "adapter" / "tailorkit.json").read_text())
    hashes = meta["process_weight_hashes"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    state = json.loads(sorted((tmp_path / "runs" / "default" / "checkpoints").glob("step-*"))[-1]
                       .joinpath("state.json").read_text())
    assert state["plan"]["world"] == 2 and state["global_step"] == 6
    # One process with batches twice as large sees the same rows per step: the same training.
    single = train(load_config(make_project(tmp_path / "single", tiny_model_dir, n_train=17, epochs=2,
                                            lora_dropout=0.0, batch_size=8)))
    assert single.steps == 6
    assert single.final_val_loss == pytest.approx(state["last_val_loss"], rel=1e-4)
