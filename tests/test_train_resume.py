"""Resume continues the same run or refuses: a changed seed, max_length, data, LoRA shape or batch
shape is named; the fp16 GradScaler state survives a checkpoint."""
from __future__ import annotations

import json

import pytest
import yaml

from tailorkit.cli import main
from tailorkit.config import load_config
from tailorkit.data.example import read_examples, write_examples
from tailorkit.errors import TrainError
from tailorkit.train import checkpoint as ckpt
from tailorkit.train.trainer import train
from test_train_run import make_project
from test_train_run import one_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def checkpointed(tiny_model_dir, tmp_path_factory):
    """A run stopped after 2 of its steps (max_steps 2 of a 3-epoch plan), checkpointed."""
    cfg_path = make_project(tmp_path_factory.mktemp("resume"), tiny_model_dir, max_steps=2, save_every_steps=1)
    train(load_config(cfg_path))
    return cfg_path


def _edit(cfg_path, section: str, **values) -> dict:
    data = yaml.safe_load(cfg_path.read_text())
    before = json.loads(json.dumps(data))
    data.setdefault(section, {}).update(values)
    cfg_path.write_text(yaml.safe_dump(data))
    return before


@pytest.mark.parametrize("section, values, named", [
    ("train", {"seed": 7}, "train.seed: 42 then, 7 now"),
    ("data", {"max_length": 96}, "data.max_length: 128 then, 96 now"),
    ("train", {"lora_r": 4, "lora_alpha": 8}, "train.lora_r: 16 then, 4 now; train.lora_alpha: 32 then, 8 now"),
    ("train", {"target_modules": ["q_proj", "v_proj"]}, "train.target_modules"),
    ("train", {"batch_size": 2}, "train.batch_size: 4 then, 2 now"),
    ("train", {"method": "dora"}, "train.method"),
])
def test_resume_with_a_changed_setting_is_refused_naming_it(checkpointed, capsys, section, values, named):
    before = _edit(checkpointed, section, **values)
    try:
        with pytest.raises(TrainError) as err:
            train(load_config(checkpointed), resume=True)
        assert named in err.value.what and "without --resume" in err.value.fix
        assert main(["train", "-c", str(checkpointed), "--resume"]) == 2
        line = capsys.readouterr().err.strip().splitlines()
        assert len(line) == 1 and named in line[0]
    finally:
        checkpointed.write_text(yaml.safe_dump(before))


def test_resume_with_changed_rows_is_refused_and_an_unchanged_run_resumes(checkpointed):
    data = checkpointed.parent / "runs" / "default" / "data" / "train.jsonl"
    rows = read_examples(data)
    original = data.read_bytes()
    changed = [*rows[:-1], type(rows[-1])(messages=[*rows[-1].messages[:-1], {"role": "assistant", "content": "other"}])]
    write_examples(data, changed)  # same row count: the old check let this through
    with pytest.raises(TrainError, match=r"training rows \(sha256 of train.jsonl\)"):
        train(load_config(checkpointed), resume=True)
    data.write_bytes(original)
    state = json.loads((ckpt.latest_checkpoint(checkpointed.parent / "runs" / "default") / "state.json").read_text())
    assert state["fingerprint"]["train.seed"] == 42 and state["fingerprint"]["processes"] == 1
    _edit(checkpointed, "train", max_steps=3)  # the plan comes from the checkpoint; the step count may grow
    result = train(load_config(checkpointed), resume=True)
    assert result.steps == 2 and result.stopped in ("completed", "max_steps")


def test_gradscaler_state_is_saved_and_restored(tiny_model_dir, tmp_path):
    """accelerate keeps a GradScaler only for fp16 on an accelerator; a CPU GradScaler stands in for it here,
    through the same save_checkpoint/load_checkpoint code."""
    import torch
    from accelerate import Accelerator

    from tailorkit.train.checkpoint import LoopState, load_checkpoint, save_checkpoint

    def parts():
        acc = Accelerator(cpu=True)
        acc.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16)
        model = torch.nn.Linear(2, 2)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        return acc, model, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)

    acc, model, opt, sched = parts()
    acc.scaler.scale(torch.ones(()))
    acc.scaler.update(new_scale=1024.0)  # what a few overflowing fp16 steps leave behind
    path = save_checkpoint(tmp_path, model, opt, sched, LoopState(global_step=3), acc)
    assert (path / ckpt.SCALER).exists()
    acc2, model2, opt2, sched2 = parts()
    load_checkpoint(path, model2, opt2, sched2, acc2)
    assert acc2.scaler.get_scale() == 1024.0 and acc2.scaler.state_dict() == acc.scaler.state_dict()


def test_resume_from_the_runs_resolved_config_is_not_refused(tiny_model_dir, tmp_path):
    """The studio resumes from runs/<name>/config.yaml, where every default (the learning rate among them)
    is written out; the fingerprint compares the values in use, so it matches the original tailor.yaml's."""
    cfg_path = make_project(tmp_path, tiny_model_dir, max_steps=2, save_every_steps=1)
    data = yaml.safe_load(cfg_path.read_text())
    del data["train"]["learning_rate"]  # the default, resolved by model size
    cfg_path.write_text(yaml.safe_dump(data))
    train(load_config(cfg_path))
    resolved = tmp_path / "runs" / "default" / "config.yaml"
    assert yaml.safe_load(resolved.read_text())["train"]["learning_rate"] is not None
    result = train(load_config(resolved), resume=True)
    assert result.steps == 2 and result.adapter_dir is not None
