"""Model references: bundled names, local folders, Hub ids; tokenizer padding rules."""
from __future__ import annotations

import pytest

from tailorkit.cli import main
from tailorkit.errors import ModelError
from tailorkit.models import load_model, load_tokenizer, pick_dtype, prepare_tokenizer, resolve_model


def test_local_folder_resolves_and_loads(tiny_model_dir):
    ref = resolve_model(str(tiny_model_dir))
    assert ref.kind == "local"
    tok = load_tokenizer(ref)
    model = load_model(ref, tokenizer=tok, device="cpu")
    assert model.config.pad_token_id == tok.pad_token_id != tok.eos_token_id


def test_unknown_name_is_one_clear_error():
    with pytest.raises(ModelError, match="smollm2-135m"):
        resolve_model("not-a-model")


def test_uncached_hub_id_offline_says_how_to_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as err:
        resolve_model("nobody-here/no-such-model-123")
    assert "huggingface-cli download" in str(err.value)


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(ModelError, match="config.json"):
        resolve_model(str(tmp_path))


def test_pad_token_is_never_the_terminator(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.pad_token = tok.eos_token  # the common misconfiguration
    tok = prepare_tokenizer(tok)
    assert tok.pad_token_id != tok.eos_token_id


def test_cpu_trains_in_fp32():
    import torch

    assert pick_dtype("auto", "cpu") == torch.float32


def test_cli_unknown_model_exit_2(tmp_path, capsys, monkeypatch):
    (tmp_path / "tailor.yaml").write_text("model:\n  base: gpt-17\n")
    (tmp_path / "d.csv").write_text("User,Prompt\na,b\n")
    monkeypatch.chdir(tmp_path)
    code = main(["data", "inspect", "d.csv"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "gpt-17" in err[0] and "Fix:" in err[0]


@pytest.mark.slow
def test_bundled_model_resolves_offline():
    ref = resolve_model("smollm2-135m")
    tok = load_tokenizer(ref)
    assert ref.kind == "bundled" and tok.eos_token == "<|im_end|>" and tok.pad_token != "<|im_end|>"


def test_loading_a_local_folder_shows_no_per_tensor_bar_and_restores_the_setting(tiny_model_dir, capfd):
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    load_model(str(tiny_model_dir), device="cpu")
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # Hub downloads elsewhere keep their bars
