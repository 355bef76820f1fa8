"""`tailor init` and `tailor run` (project folders and the pipeline sequencing)."""
from __future__ import annotations

import pytest

from tailorkit.cli import main
from tailorkit.config import load_config
from tailorkit.errors import ConfigError
from tailorkit.project import init_project, run_pipeline


def test_init_copies_the_example(tmp_path):
    dest = init_project(tmp_path / "p", example="midjourney")
    cfg = load_config(dest / "tailor.yaml")
    assert cfg.path(cfg.data.source).exists() and cfg.data.columns.assistant == "Prompt"


def test_init_skeleton_is_a_valid_config(tmp_path):
    dest = init_project(tmp_path / "blank")
    cfg = load_config(dest)
    assert cfg.name == "blank" and (dest / "data").is_dir()


def test_init_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["init", str(tmp_path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "mine" and not (tmp_path / "tailor.yaml").exists()


def test_unknown_step_is_rejected(tmp_path):
    cfg = load_config(init_project(tmp_path / "p"))
    with pytest.raises(ConfigError, match="unknown pipeline step"):
        run_pipeline(cfg, ["prepare", "fly"])
