"""Helpers shared by the CLI modules: the --config option and dotted overrides."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..config import TailorConfig, load_config

ConfigOption = typer.Option(None, "--config", "-c", help="path to tailor.yaml (default: ./tailor.yaml)")


def load(config: Path | None, **overrides: Any) -> TailorConfig:
    """Load the config and apply flags given as dotted keys (train__learning_rate -> train.learning_rate)."""
    return load_config(config, {k.replace("__", "."): v for k, v in overrides.items()})
