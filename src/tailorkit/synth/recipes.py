"""The synth API: backtranslate, expand and curate, and the `tailor run` step.

Each function reads its input, builds the teacher from `cfg.teacher` (endpoint when base_url is
set, else the local bundled model), runs the recipe through the bulk runner and returns a
SynthResult (nothing is printed). Rerunning the same call resumes where the last one stopped.

    from tailorkit import load_config
    from tailorkit.synth.recipes import backtranslate
    result = backtranslate(load_config("tailor.yaml"), Path("data/outputs.txt"), dry_run=True)
"""
from __future__ import annotations

from pathlib import Path

from ..config import TailorConfig
from ..errors import ConfigError
from .driver import Estimate, SynthResult, run_recipe
from .sources import read_example_rows, read_outputs
from .teacher import make_teacher

RECIPES = ("backtranslate", "expand", "curate")

__all__ = ["RECIPES", "Estimate", "SynthResult", "backtranslate", "curate", "expand", "run_synth_step"]


def _source(cfg: TailorConfig, given: Path | str | None, flag: str) -> Path:
    if given is not None:
        return Path(given).expanduser()
    if cfg.synth.source:
        return cfg.path(cfg.synth.source)
    raise ConfigError("no input file given for the recipe", fix=f"pass {flag} or set synth.source in tailor.yaml")


def _output(cfg: TailorConfig, out: Path | str | None, source: Path, default_suffix: str | None = None) -> Path:
    if out is not None:
        path = Path(out).expanduser()
    elif default_suffix and "output" not in cfg.synth.model_fields_set:
        path = source.with_name(source.name.rsplit(".", 1)[0] + default_suffix)
    else:
        path = cfg.path(cfg.synth.output)
    if path.resolve() == source.resolve():
        raise ConfigError(f"the output {path} would overwrite the input", fix="pass --out with another file")
    return path


def backtranslate(cfg: TailorConfig, source: Path | str | None = None, *, column: str | None = None,
                  out: Path | str | None = None, dry_run: bool = False, budget: float | None = None,
                  limit: int | None = None) -> SynthResult:
    """For each output in `source` (text, CSV/TSV or JSONL/JSON column) the teacher writes the request."""
    from .backtranslate import Backtranslate

    src = _source(cfg, source, "SOURCE")
    rows = read_outputs(src, column or cfg.synth.column)
    rows = rows[: limit or cfg.synth.limit or len(rows)]
    _skip_duplicates(rows)
    teacher = make_teacher(cfg.teacher)
    return run_recipe(cfg, Backtranslate(cfg, teacher), teacher, rows, _output(cfg, out, src), dry_run=dry_run,
                      budget=budget if budget is not None else cfg.synth.budget_usd)


def expand(cfg: TailorConfig, seed: Path | str | None = None, *, count: int | None = None,
           out: Path | str | None = None, dry_run: bool = False, budget: float | None = None) -> SynthResult:
    """Write `count` (default synth.expand_count) new Examples in the style of the seed Examples."""
    from .expand import Expand, plan_expand

    src = _source(cfg, seed, "SEED")
    seeds = read_example_rows(src, cfg.data)
    rows = plan_expand(seeds, count or cfg.synth.expand_count, cfg.synth.expand_demos, cfg.synth.seed)
    teacher = make_teacher(cfg.teacher)
    return run_recipe(cfg, Expand(cfg, teacher, seeds), teacher, rows, _output(cfg, out, src, ".expanded.jsonl"),
                      dry_run=dry_run, budget=budget if budget is not None else cfg.synth.budget_usd)


def curate(cfg: TailorConfig, data: Path | str | None = None, *, out: Path | str | None = None,
           dry_run: bool = False, budget: float | None = None, limit: int | None = None) -> SynthResult:
    """Score each Example 1-5; rows below synth.curate_threshold go to the aside file with their score."""
    from .curate import Curate, prefilter

    src = _source(cfg, data, "DATA")
    rows = read_example_rows(src, cfg.data)
    rows = rows[: limit or cfg.synth.limit or len(rows)]
    prefilter(rows, cfg)
    teacher = make_teacher(cfg.teacher)
    return run_recipe(cfg, Curate(cfg, teacher), teacher, rows, _output(cfg, out, src, ".curated.jsonl"),
                      dry_run=dry_run, budget=budget if budget is not None else cfg.synth.budget_usd)


def run_synth_step(cfg: TailorConfig) -> SynthResult:
    """`tailor run`'s synth step: synth.recipe on synth.source into synth.output (paths from tailor.yaml)."""
    recipe = cfg.synth.recipe
    if recipe not in RECIPES:
        what = "synth.recipe is not set" if recipe is None else f"unknown synth recipe '{recipe}'"
        raise ConfigError(what, where="synth.recipe", fix=f"use one of: {', '.join(RECIPES)}")
    src = _source(cfg, None, "synth.source")
    out = cfg.path(cfg.synth.output)
    if recipe == "backtranslate":
        return backtranslate(cfg, src, out=out)
    if recipe == "expand":
        return expand(cfg, src, out=out)
    return curate(cfg, src, out=out)


def _skip_duplicates(rows) -> None:
    """Outputs seen before are set aside unasked: the same output twice would only repeat the work."""
    seen: set[str] = set()
    for row in rows:
        if row.skip is None:
            if row.text in seen:
                row.skip = "duplicate_source"
            seen.add(row.text)
