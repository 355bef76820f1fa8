"""CLI: `tailor init`, `tailor run`, `tailor config show` (thin wrappers over tailorkit.project/config)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from .common import ConfigOption, load

out = Console()


def _summary(name: str, result: Any) -> None:
    """One line per finished step; compare prints its full table."""
    if name == "compare":
        from .evaluate import print_compare

        print_compare(result)
        return
    if hasattr(result, "summary"):
        text = result.summary()
    elif name == "prepare":
        text = (f"{result.rows_read} rows read, {result.kept} kept (dropped {result.dropped}), "
                f"splits {result.split_sizes}, leakage violations {len(result.leakage_violations)}")
    elif name == "train":
        ppl = f"{result.best_val_perplexity:.2f}" if result.best_val_perplexity is not None else "n/a"
        text = (f"{result.steps}/{result.total_steps} steps, {result.epochs} epochs ({result.stopped}), "
                f"best val perplexity {ppl}, adapter {result.adapter_dir}")
    else:
        text = type(result).__name__
    out.print(f"[bold green]✓ {name}[/]  {text}")


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        folder: Path = typer.Argument(..., help="project folder to create"),
        example: str = typer.Option(None, "--example", "-e", help="copy an example project (midjourney)"),
        force: bool = typer.Option(False, "--force", help="write into an existing non-empty folder"),
    ) -> None:
        """Create a project: tailor.yaml + data/ (or a copy of an example)."""
        from ..project import init_project

        dest = init_project(folder, example=example, force=force)
        out.print(f"created [bold]{dest}[/]; next: cd {dest} && tailor data inspect && tailor run")

    @app.command()
    def run(
        config: Path = ConfigOption,
        steps: str = typer.Option(None, "--steps", help="comma-separated subset: synth,prepare,train,compare,export"),
        force: bool = typer.Option(False, "--force", help="let prepare replace the splits of a run that has trained "
                                   "(its adapter and checkpoints are moved aside into runs/<name>/superseded/)"),
    ) -> None:
        """Run the whole pipeline from tailor.yaml: (synth) -> prepare -> train -> compare -> export.

        Exit code 3: every step ran, but the synth step had rows that failed (the later steps used the others)."""
        from ..errors import RowsFailedError
        from ..project import run_pipeline

        cfg = load(config)
        wanted = [s.strip() for s in steps.split(",") if s.strip()] if steps else None
        result = run_pipeline(cfg, wanted, on_step=_summary, force=force)
        synth = result.steps.get("synth")
        if getattr(synth, "failed", 0):
            raise RowsFailedError(f"the pipeline finished, but {synth.failed} of {synth.rows_in} synth rows failed "
                                  f"(reasons in {synth.errors}); the other steps used the rows that succeeded",
                                  fix="rerun `tailor synth` to retry them, then `tailor run --steps prepare,train,...`")

    @app.command()
    def serve(
        config: Path = ConfigOption,
        host: str = typer.Option(None, "--host", help="interface to bind (default serve.host)"),
        port: int = typer.Option(None, "--port", help="TCP port (default serve.port)"),
    ) -> None:
        """Serve base, tuned and kb through an OpenAI-compatible API (/v1/chat/completions)."""
        from ..serve.app import serve as run_server

        run_server(load(config), host=host, port=port)

    config_app = typer.Typer(help="Inspect the resolved configuration.", no_args_is_help=True)

    @config_app.command("show")
    def show(config: Path = ConfigOption) -> None:
        """Print the fully resolved config (defaults + tailor.yaml)."""
        typer.echo(load(config).to_yaml())

    app.add_typer(config_app, name="config")
