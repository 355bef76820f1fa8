"""CLI: `tailor synth backtranslate|expand|curate` (thin: parse flags, call tailorkit.synth.recipes, print)."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from typer.core import TyperGroup

from ..errors import ConfigError, RowsFailedError
from .common import ConfigOption, load

out = Console()


class _RecipeGroup(TyperGroup):
    """An unknown recipe is a one-line TailorError naming the valid ones (not click's usage block)."""

    def resolve_command(self, ctx, args):
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            raise ConfigError(f"unknown synth recipe '{args[0]}'", fix=f"use one of: {', '.join(self.commands)}")
        return super().resolve_command(ctx, args)


EXIT_CODES = ("Exit codes: 0 = every row done; 2 = bad input or an unreachable teacher (nothing sent or "
              "nothing written); 3 = finished with failed rows (the summary is printed, the output of the "
              "successful rows is written, the failed rows and their reasons are in the errors file; rerun to "
              "retry them).")
synth_app = typer.Typer(cls=_RecipeGroup, no_args_is_help=True, epilog=EXIT_CODES,
                        help="Teacher-made training data: backtranslate, expand, curate (rerun to resume).")

BaseUrl = typer.Option(None, "--base-url", help="OpenAI-compatible teacher URL (teacher.base_url; unset = local)")
Model = typer.Option(None, "--model", help="teacher model name or local model reference (teacher.model)")
KeyEnv = typer.Option(None, "--api-key-env", help="environment variable holding the teacher API key")
Out = typer.Option(None, "--out", "-o", help="output Example JSONL (default synth.output)")
DryRun = typer.Option(False, "--dry-run", help="print the request, token and cost estimate; send nothing")
Budget = typer.Option(None, "--budget", help="stop cleanly before this run spends more than USD")
Concurrency = typer.Option(None, "--concurrency", help="requests in flight (teacher.concurrency)")
Instructions = typer.Option(None, "--instructions", help="what the texts are, told to the teacher")


def _cfg(config, base_url, model, api_key_env, concurrency, instructions, **more):
    return load(config, teacher__base_url=base_url, teacher__model=model, teacher__api_key_env=api_key_env,
                teacher__concurrency=concurrency, synth__instructions=instructions, **more)


def _print(result) -> None:
    if result.dry_run:
        e = result.estimate
        cost = f"${e.cost_usd:.4f}" if e.cost_usd is not None else "unknown (add teacher.prices for this model)"
        out.print(f"[bold]dry run[/] {result.recipe} with {result.teacher}: {e.rows} rows to do "
                  f"({result.rows_in - e.rows} done or set aside), ~{e.requests} requests, "
                  f"~{e.prompt_tokens:,} prompt + ~{e.completion_tokens:,} completion tokens, est. cost {cost}")
        return
    out.print(f"[bold green]✓ synth {result.recipe}[/]  {result.summary()}")
    out.print(f"  wrote {result.output}, {result.aside.name}, {result.errors.name}, {result.card.name}")
    if result.stopped_by_budget:
        out.print(f"[yellow]stopped by the budget: {result.not_processed} rows not processed; rerun with a larger "
                  "--budget to continue[/]")
    elif result.not_processed:
        out.print(f"[yellow]{result.not_processed} rows not processed; rerun the same command to continue[/]")
    if result.failed:  # after the summary: the run finished, but not every row made it (exit code 3)
        raise RowsFailedError(f"{result.failed} of {result.rows_in} rows failed after retries (reasons in "
                              f"{result.errors}); the other rows are in {result.output}", fix="rerun to retry them")


@synth_app.command("backtranslate", epilog=EXIT_CODES)
def backtranslate_cmd(
    source: Path = typer.Argument(..., help="outputs: .txt (one per line or blank-line separated), .csv/.tsv, "
                                            ".jsonl/.json"),
    column: str = typer.Option(None, "--column", help="CSV/JSONL column holding the outputs (synth.column)"),
    n: int = typer.Option(None, "--n", help="candidate requests per output (synth.n_candidates)"),
    select: str = typer.Option(None, "--select", help="judge | likelihood | first | auto (synth.select)"),
    limit: int = typer.Option(None, "--limit", help="only the first N source rows"),
    demos: Path = typer.Option(None, "--demos", help="Examples whose requests show the wanted style (synth.demos)"),
    out_path: Path = Out, dry_run: bool = DryRun, budget: float = Budget, concurrency: int = Concurrency,
    instructions: str = Instructions, base_url: str = BaseUrl, model: str = Model, api_key_env: str = KeyEnv,
    config: Path = ConfigOption,
) -> None:
    """For each output you already have, the teacher writes the request that would produce it."""
    from ..synth.recipes import backtranslate

    cfg = _cfg(config, base_url, model, api_key_env, concurrency, instructions, synth__n_candidates=n,
               synth__select=select, synth__demos=str(demos.resolve()) if demos else None)
    _print(backtranslate(cfg, source, column=column, out=out_path, dry_run=dry_run, budget=budget, limit=limit))


@synth_app.command("expand", epilog=EXIT_CODES)
def expand_cmd(
    seed: Path = typer.Argument(..., help="seed Examples (Example JSONL or any format `tailor data` reads)"),
    n: int = typer.Option(None, "--n", help="new Examples to write (synth.expand_count)"),
    out_path: Path = Out, dry_run: bool = DryRun, budget: float = Budget, concurrency: int = Concurrency,
    instructions: str = Instructions, base_url: str = BaseUrl, model: str = Model, api_key_env: str = KeyEnv,
    config: Path = ConfigOption,
) -> None:
    """Self-instruct: new (request, answer) pairs in the style of the seeds; near-duplicates dropped."""
    from ..synth.recipes import expand

    cfg = _cfg(config, base_url, model, api_key_env, concurrency, instructions)
    _print(expand(cfg, seed, count=n, out=out_path, dry_run=dry_run, budget=budget))


@synth_app.command("curate", epilog=EXIT_CODES)
def curate_cmd(
    data: Path = typer.Argument(..., help="Examples to score (Example JSONL or any format `tailor data` reads)"),
    threshold: int = typer.Option(None, "--threshold", help="keep rows scoring at least this (synth.curate_threshold)"),
    limit: int = typer.Option(None, "--limit", help="only the first N rows"),
    out_path: Path = Out, dry_run: bool = DryRun, budget: float = Budget, concurrency: int = Concurrency,
    instructions: str = Instructions, base_url: str = BaseUrl, model: str = Model, api_key_env: str = KeyEnv,
    config: Path = ConfigOption,
) -> None:
    """The teacher scores each Example 1-5 with a reason; rows below the threshold are set aside."""
    from ..synth.recipes import curate

    cfg = _cfg(config, base_url, model, api_key_env, concurrency, instructions, synth__curate_threshold=threshold)
    _print(curate(cfg, data, out=out_path, dry_run=dry_run, budget=budget, limit=limit))


def register(app: typer.Typer) -> None:
    """Add `tailor synth ...` to the main app."""
    app.add_typer(synth_app, name="synth")
