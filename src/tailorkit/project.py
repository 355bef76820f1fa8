"""Projects: `tailor init` writes a project folder; `tailor run` runs the whole pipeline from tailor.yaml.

The pipeline is synth (when configured) -> prepare -> train -> compare -> export. Each step is the
same public function the CLI calls on its own; this module only sequences them.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import CONFIG_NAME, TailorConfig
from .errors import ConfigError

EXAMPLES_DIR = Path(__file__).parent / "examples"
STEPS = ("synth", "prepare", "train", "compare", "export")

SKELETON = """\
# tailor.yaml: only what differs from the defaults (see `tailor config show` for all of them).
name: {name}

model:
  base: smollm2-135m        # bundled; or a Hugging Face id, or a local folder

data:
  source: data/train.csv    # your (request, ideal answer) rows: csv, tsv, jsonl, json or parquet
  columns:
    user: request           # the column holding the request
    assistant: answer       # the column holding the ideal answer

train:
  run_name: first
"""


def available_examples() -> list[str]:
    return sorted(p.name for p in EXAMPLES_DIR.iterdir() if (p / CONFIG_NAME).exists()) if EXAMPLES_DIR.exists() else []


def init_project(dest: str | Path, example: str | None = None, force: bool = False) -> Path:
    """Create a project folder: a copy of an example, or a commented tailor.yaml skeleton plus data/."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()) and not force:
        raise ConfigError(f"{dest} already exists and is not empty",
                          fix="choose a new folder name, or pass --force to write into it")
    if example is not None:
        names = available_examples()
        if example not in names:
            raise ConfigError(f"unknown example '{example}'", fix=f"use one of: {', '.join(names) or '(none installed)'}")
        shutil.copytree(EXAMPLES_DIR / example, dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "runs", ".tailor"))
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "data").mkdir(exist_ok=True)
    (dest / CONFIG_NAME).write_text(SKELETON.format(name=dest.resolve().name), encoding="utf-8")
    return dest


@dataclass
class PipelineResult:
    """What each step returned, by step name, in the order they ran."""

    steps: dict[str, Any] = field(default_factory=dict)


def run_pipeline(cfg: TailorConfig, steps: list[str] | None = None, on_step=None, *,
                 force: bool = False) -> PipelineResult:
    """Run the configured pipeline. `on_step(name, result)` is called after each step (the CLI prints).

    force: let prepare replace the splits of a run that has trained (see data/trained.py)."""
    wanted = list(steps) if steps else [s for s in STEPS if s != "synth" or cfg.synth.recipe]
    unknown = [s for s in wanted if s not in STEPS]
    if unknown:
        raise ConfigError(f"unknown pipeline step(s): {', '.join(unknown)}", fix=f"choose from {', '.join(STEPS)}")
    result = PipelineResult()
    for name in STEPS:
        if name not in wanted:
            continue
        out = _prepare(cfg, force=force) if name == "prepare" else _STEP_FUNCS[name](cfg)
        result.steps[name] = out
        if on_step is not None:
            on_step(name, out)
    return result


def _synth(cfg: TailorConfig):
    from .synth.recipes import run_synth_step

    out = run_synth_step(cfg)
    # The synthetic rows become the training source for the following prepare step.
    cfg.data.source = str(cfg.path(cfg.synth.output))
    cfg.data.format = "messages"
    return out


def _prepare(cfg: TailorConfig, force: bool = False):
    from .data.prepare import prepare

    return prepare(cfg, force=force)


def _train(cfg: TailorConfig):
    from .train.trainer import train

    return train(cfg)


def _compare(cfg: TailorConfig):
    from .evaluate.compare import compare

    return compare(cfg)


def _export(cfg: TailorConfig):
    from .train.export import export

    return export(cfg)


_STEP_FUNCS = {"synth": _synth, "prepare": _prepare, "train": _train, "compare": _compare, "export": _export}
