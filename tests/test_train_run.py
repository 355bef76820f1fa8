"""Training on a tiny random model: loss goes down, outputs exist, the adapter loads both ways,
checkpoints resume exactly after SIGKILL, SIGINT stops cleanly, and bad input gives one-line errors."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tailorkit.cli import main
from tailorkit.config import load_config
from tailorkit.data.example import Example, write_examples
from tailorkit.train.metrics import read_metrics
from tailorkit.train.trainer import train

TAILOR = Path(sys.executable).with_name("tailor")
SUBJECTS = ["girl on roller skates", "viking warrior", "steampunk car", "retro spaceship", "brown fox",
            "spirit photograph", "neon city", "iron amulet", "coral reef", "desert temple"]
STYLES = ["cinematic lighting, 8k --ar 16:9", "matte painting, unreal engine --ar 3:2", "concept art, symmetrical --ar 8:5"]


def make_rows(n: int, offset: int = 0) -> list[Example]:
    """Request -> prompt rows with a shared answer pattern a tiny model can learn quickly."""
    out = []
    for i in range(offset, offset + n):
        s, st = SUBJECTS[i % len(SUBJECTS)], STYLES[i % len(STYLES)]
        out.append(Example.simple(f"midjourney prompt for a {s}", f"portrait of a {s}, {st}", source="rows.csv", row=i + 2))
    return out


def make_project(root: Path, model_dir: Path, n_train: int = 16, n_val: int = 4, **train) -> Path:
    """A tailor.yaml pointing at the tiny model, with prepared splits in its run directory."""
    root.mkdir(parents=True, exist_ok=True)
    settings = {"learning_rate": 1e-2, "epochs": 3, "batch_size": 4, "log_every_steps": 1, **train}
    cfg = {"model": {"base": str(model_dir)}, "data": {"max_length": 128}, "train": settings}
    (root / "tailor.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    run = root / "runs" / settings.get("run_name", "default") / "data"
    write_examples(run / "train.jsonl", make_rows(n_train))
    write_examples(run / "val.jsonl", make_rows(n_val, offset=n_train))
    return root / "tailor.yaml"


def env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TAILOR_QUIET": "1", "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread; two threads on a busy 2-core machine spin for seconds."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(one_thread, tiny_model_dir, tmp_path_factory):
    """One uninterrupted reference run (12 steps, checkpoint every 2 steps)."""
    cfg_path = make_project(tmp_path_factory.mktemp("proj"), tiny_model_dir, save_every_steps=2)
    cfg = load_config(cfg_path)
    return cfg, train(cfg)


def test_training_lowers_val_loss_and_writes_outputs(trained):
    cfg, result = trained
    assert result.stopped == "completed" and result.steps == result.total_steps == 12
    vals = [r for r in read_metrics(result.metrics_path) if r["kind"] == "val"]
    assert len(vals) == 3 and vals[-1]["val_loss"] < vals[0]["val_loss"] - 0.05
    assert all(v["val_perplexity"] > 1 for v in vals)
    first_train = next(r for r in read_metrics(result.metrics_path) if r["kind"] == "train")
    assert {"step", "epoch", "loss", "lr", "tokens_per_s"} <= set(first_train)
    run = cfg.run_dir
    assert (run / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "config.yaml").exists()
    meta = json.loads((run / "adapter" / "tailorkit.json").read_text())
    assert meta["method"] == "lora" and meta["base_model"] == cfg.model.base
    assert (run / "adapter" / "adapter_model.safetensors").exists()
    assert "<|im_start|>" in (run / "adapter" / "chat_template.jinja").read_text()
    # Pruning keeps the last two step checkpoints plus the best one.
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best", "step-00000010", "step-00000012"]


def test_adapter_loads_with_plain_peft_and_matches_load_tuned(trained, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tailorkit.infer.loading import load_tuned

    cfg, result = trained
    tuned, tok = load_tuned(result.adapter_dir, device="cpu")
    plain = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)), str(result.adapter_dir)).eval()
    text = tok.apply_chat_template([{"role": "user", "content": "midjourney prompt for a fox"}], tokenize=False,
                                   add_generation_prompt=True)
    ids = tok(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        a, b = tuned(**ids).logits, plain(**ids).logits
    assert torch.allclose(a, b, atol=1e-4)
    with torch.no_grad():  # and the adapter really changed the model
        base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()(**ids).logits
    assert not torch.allclose(a, base, atol=1e-3)


def test_resume_after_sigkill_matches_uninterrupted_run(trained, tiny_model_dir, tmp_path):
    _, reference = trained
    cfg_path = make_project(tmp_path / "p", tiny_model_dir, save_every_steps=2)
    ckpts = tmp_path / "p" / "runs" / "default" / "checkpoints"
    proc = subprocess.Popen([str(TAILOR), "train", "-c", str(cfg_path)], env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not list(ckpts.glob("step-*/state.json")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert not (tmp_path / "p" / "runs" / "default" / "adapter").exists()
    resumed = train(load_config(cfg_path), resume=True)
    assert resumed.steps == reference.steps
    assert resumed.final_val_loss == pytest.approx(reference.final_val_loss, rel=0.01)
    assert resumed.best_val_loss == pytest.approx(reference.best_val_loss, rel=0.01)
    steps = [r["step"] for r in read_metrics(resumed.metrics_path) if r["kind"] == "train"]
    assert steps == list(range(1, reference.steps + 1))  # no duplicate lines from the killed attempt


def test_sigint_writes_checkpoint_exits_cleanly_and_resumes_to_the_same_result(tiny_model_dir, tmp_path):
    cfg_path = make_project(tmp_path / "p", tiny_model_dir, epochs=10)
    metrics = tmp_path / "p" / "runs" / "default" / "metrics.jsonl"
    proc = subprocess.Popen([str(TAILOR), "train", "-c", str(cfg_path)], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not metrics.exists():
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    err = err.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "resume with tailor train --resume" in err
    ckpt = sorted((tmp_path / "p" / "runs" / "default" / "checkpoints").glob("step-*"))[-1]
    state = json.loads((ckpt / "state.json").read_text())
    assert 0 < state["global_step"] < state["plan"]["total_steps"] == 40
    assert not (tmp_path / "p" / "runs" / "default" / "adapter").exists()
    resumed = train(load_config(cfg_path), resume=True)
    reference = train(load_config(make_project(tmp_path / "ref", tiny_model_dir, epochs=10)))
    assert resumed.steps == reference.steps == 40
    assert resumed.final_val_loss == pytest.approx(reference.final_val_loss, rel=0.01)


def test_train_without_prepared_data_is_one_line_exit_2(tiny_model_dir, tmp_path, capsys):
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump({"model": {"base": str(tiny_model_dir)}}))
    assert main(["train", "-c", str(tmp_path / "tailor.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train.jsonl" in err and "tailor data prepare" in err
    assert not (tmp_path / "runs" / "default" / "checkpoints").exists()


def test_resume_without_checkpoint_is_one_line_exit_2(tiny_model_dir, tmp_path, capsys):
    cfg_path = make_project(tmp_path, tiny_model_dir)
    assert main(["train", "-c", str(cfg_path), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nothing to resume" in err and "without --resume" in err


def test_zero_trainable_row_stops_training(tiny_model_dir, tmp_path, capsys):
    cfg_path = make_project(tmp_path, tiny_model_dir)
    bad = Example(messages=[{"role": "user", "content": "no answer"}], meta={"source": "rows.csv", "row": 99})
    write_examples(tmp_path / "runs" / "default" / "data" / "train.jsonl", make_rows(4) + [bad])
    assert main(["train", "-c", str(cfg_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "train.jsonl:5" in err and "zero trainable tokens" in err  # checked as train.jsonl is read


def test_cli_flags_override_config_and_qlora_needs_cuda(tiny_model_dir, tmp_path, capsys):
    import torch

    cfg_path = make_project(tmp_path, tiny_model_dir)
    code = main(["train", "-c", str(cfg_path), "--max-steps", "2", "--lr", "0.001", "--lora-r", "4",
                 "--run-name", "default", "--seed", "3", "--batch-size", "8", "--method", "dora"])
    out = capsys.readouterr().out
    assert code == 0 and "trained 2/2 steps" in out and "adapter:" in out
    resolved = yaml.safe_load((tmp_path / "runs" / "default" / "config.yaml").read_text())["train"]
    assert (resolved["max_steps"], resolved["learning_rate"], resolved["lora_r"], resolved["seed"],
            resolved["batch_size"], resolved["method"]) == (2, 0.001, 4, 3, 8, "dora")
    assert json.loads((tmp_path / "runs" / "default" / "adapter" / "adapter_config.json").read_text())["use_dora"]
    if not torch.cuda.is_available():
        assert main(["train", "-c", str(cfg_path), "--method", "qlora"]) == 2
        assert "--method lora" in capsys.readouterr().err


def test_loss_is_normalised_over_accumulated_trained_tokens(tiny_model_dir, tmp_path):
    """8 rows in one batch and 2 accumulated batches of 4 make the same steps, with answers of very
    different lengths (a mean of per-batch means would weigh their tokens differently)."""
    rows = [Example.simple(f"prompt {i}", "fox" if i % 2 else "portrait of a girl, neon city, cinematic " * 6)
            for i in range(16)]
    results = []
    for name, bs, accum in (("one", 8, 1), ("accum", 4, 2)):
        cfg_path = make_project(tmp_path / name, tiny_model_dir, batch_size=bs, grad_accum=accum, max_steps=4,
                                lora_dropout=0.0)
        write_examples(tmp_path / name / "runs" / "default" / "data" / "train.jsonl", rows)
        results.append(train(load_config(cfg_path)))
    assert results[0].steps == results[1].steps == 4
    assert results[0].final_val_loss == pytest.approx(results[1].final_val_loss, rel=1e-5)


def test_full_fine_tuning_saves_a_model_that_load_tuned_reads(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from tailorkit.infer.loading import load_tuned

    result = train(load_config(make_project(tmp_path, tiny_model_dir, method="full", max_steps=2, learning_rate=1e-3)))
    assert (result.adapter_dir / "config.json").exists() and not (result.adapter_dir / "adapter_config.json").exists()
    model, tok = load_tuned(result.adapter_dir, device="cpu")
    ids = tok("portrait of a fox", return_tensors="pt")
    with torch.no_grad():
        tuned = model(**ids).logits
        base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()(**ids).logits
    assert not torch.allclose(tuned, base, atol=1e-4)
