"""The package's layering, checked from the source: which packages may import which.

`train/` and `evaluate/` never import each other (what both need lives below them: template.py,
scoreboard.py, infer/, models.py); `data/` never imports `train/`; `infer/` imports no stage; no
library module imports the CLI. Every import counts, including those inside functions.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tailorkit"
FORBIDDEN = {
    "train": {"evaluate", "cli", "serve", "studio"},
    "evaluate": {"train", "cli", "serve", "studio"},
    "data": {"train", "evaluate", "infer", "cli"},
    "infer": {"train", "evaluate", "kb", "synth", "serve", "cli", "studio"},
    "kb": {"train", "evaluate", "cli"},
    "synth": {"train", "evaluate", "cli"},
    "serve": {"train", "evaluate", "cli"},
}


def imported_packages(path: Path) -> set[str]:
    """First-level tailorkit subpackages/modules `path` imports (absolute or relative)."""
    rel = path.relative_to(SRC).with_suffix("").parts
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: the dots name a package above this module
                base = ["tailorkit", *rel[: len(rel) - node.level]]
                names = ([".".join([*base, node.module])] if node.module
                         else [".".join([*base, a.name]) for a in node.names])
            else:
                names = [node.module or ""]
        for name in names:
            parts = name.split(".")
            if parts[0] == "tailorkit" and len(parts) > 1:
                out.add(parts[1])
    return out


def test_the_layering_checker_sees_relative_and_function_level_imports():
    probe = SRC / "train" / "export.py"
    assert {"infer", "scoreboard", "template", "config"} <= imported_packages(probe)
    assert "train" in imported_packages(SRC / "project.py")  # `from .train.trainer import train` in a function


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_lies_below_it(package):
    bad = []
    for path in sorted((SRC / package).rglob("*.py")):
        hits = imported_packages(path) & FORBIDDEN[package]
        bad += [f"{path.relative_to(SRC)} imports tailorkit.{h}" for h in sorted(hits)]
    assert not bad, "\n".join(bad)
