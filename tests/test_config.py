"""tailor.yaml loading: defaults, overrides, nearest-key errors, resolved copy, shipped examples."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tailorkit.cli import main
from tailorkit.config import load_config, write_resolved
from tailorkit.errors import ConfigError
from tailorkit.project import EXAMPLES_DIR, available_examples


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "tailor.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_match_the_documented_lora_recipe(tmp_path):
    cfg = load_config(write(tmp_path, "name: x\n"))
    assert (cfg.train.method, cfg.train.lora_r, cfg.train.lora_alpha) == ("lora", 16, 32)
    assert cfg.train.target_modules == "all-linear"
    assert cfg.root == tmp_path.resolve()


def test_unknown_key_names_the_nearest_valid_key(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "train:\n  lerning_rate: 0.001\n"))
    assert "train.lerning_rate" in str(err.value) and "train.learning_rate" in str(err.value)


def test_unknown_top_level_section(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'train'"):
        load_config(write(tmp_path, "trian:\n  epochs: 2\n"))


def test_overrides_win_over_the_file_and_none_means_unset(tmp_path):
    cfg = load_config(write(tmp_path, "train:\n  learning_rate: 0.001\n"),
                      {"train.learning_rate": 1e-4, "train.epochs": None, "data.max_length": 128})
    assert cfg.train.learning_rate == 1e-4 and cfg.train.epochs is None and cfg.data.max_length == 128


def test_invalid_value_and_bad_yaml_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="train.lora_r"):
        load_config(write(tmp_path, "train:\n  lora_r: many\n"))
    with pytest.raises(ConfigError, match=r"tailor.yaml:2"):
        load_config(write(tmp_path, "train:\n  lora_r: [1\n"))


@pytest.mark.parametrize("text, line, expected", [
    ("name: x\ntrain:\n  epochs: true\n", 3, "'train.epochs' is invalid: expected a number, got the boolean true"),
    ("train:\n  lora_r: 8\n  learning_rate: false\n", 3, "'train.learning_rate' is invalid: expected a number"),
    ("data:\n  max_length: yes\n", 2, "'data.max_length' is invalid"),
    ("train:\n  epochs: 3\n  batch_size: 4\n  epochs: 1\n", 4, "duplicate key 'epochs' (also on line 2)"),
    ("train:\n  epochs: 3\ndata:\n  seed: 1\ntrain:\n  lora_r: 4\n", 5, "duplicate key 'train' (also on line 1)"),
])
def test_a_boolean_for_a_number_and_a_duplicate_key_are_errors_with_the_line(tmp_path, capsys, text, line, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.where == f"{path}:{line}" and expected in err.value.what, err.value.one_line()
    assert main(["config", "show", "-c", str(path)]) == 2
    out = capsys.readouterr()
    assert not out.out and len(out.err.strip().splitlines()) == 1 and f"tailor.yaml:{line}: " in out.err


def test_numbers_and_booleans_still_load_where_they_belong(tmp_path):
    cfg = load_config(write(tmp_path, "train:\n  epochs: 2\n  learning_rate: 1\nkb:\n  bm25_stem: false\n"))
    assert cfg.train.epochs == 2 and cfg.train.learning_rate == 1.0 and cfg.kb.bm25_stem is False
    # an invalid value given as a flag has no line in the file
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "train:\n  epochs: 2\n"), {"train.epochs": True})
    assert err.value.where == str(tmp_path / "tailor.yaml")


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(write(tmp_path, "train:\n  run_name: r1\n  lora_r: 8\n"))
    out = write_resolved(cfg, cfg.run_dir)
    again = load_config(out)
    assert again.train.lora_r == 8
    assert again.model_dump(exclude={"root", "project_dir"}) == cfg.model_dump(exclude={"root", "project_dir"})
    assert "root" not in yaml.safe_load(out.read_text())
    # The copy in runs/r1/ resolves paths against the project, not against runs/r1/ ...
    assert again.root == cfg.root.resolve() and again.run_dir == cfg.run_dir.resolve()
    # ... and still does after the whole project moves.
    moved = tmp_path.parent / (tmp_path.name + "-moved")
    tmp_path.rename(moved)
    assert load_config(moved / "runs" / "r1" / "config.yaml").root == moved.resolve()


def test_cli_reports_a_config_typo_in_one_line_with_exit_2(tmp_path, capsys):
    path = write(tmp_path, "data:\n  sorce: x.csv\n")
    assert main(["config", "show", "-c", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data.source" in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize("name", available_examples())
def test_every_shipped_example_config_loads(name):
    cfg = load_config(EXAMPLES_DIR / name / "tailor.yaml")
    assert cfg.data.source and cfg.path(cfg.data.source).exists()


def test_there_is_at_least_one_example():
    assert "midjourney" in available_examples()
