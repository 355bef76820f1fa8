"""CLI: `tailor compare` and `tailor export` (thin: parse flags, call the Python API, print results)."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .common import ConfigOption, load

out = Console()


def print_compare(result) -> None:
    """The base-vs-tuned table and where the report went."""
    from ..evaluate.report import fmt
    from ..evaluate.metrics import METRICS

    keys = {m.label: m.key for m in METRICS}
    table = Table(title=f"base vs tuned on {result.n_rows} test rows")
    table.add_column("metric")
    table.add_column("base", justify="right")
    table.add_column("tuned", justify="right")
    table.add_column("better?")
    style = {"tuned": "[green]tuned[/]", "base": "[red]base[/]", "tie": "tie", None: "–"}
    for label, base, tuned, win in result.table():
        key = keys[label]
        if key in result.reference:  # "closer is better": show the target
            label = f"{label} (references: {fmt(key, result.reference[key])})"
        table.add_row(label, fmt(key, base), fmt(key, tuned), style[win])
    out.print(table)
    out.print(f"report: {result.report_path}\ndetails: {result.compare_path}")


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(
        config: Path = ConfigOption,
        max_rows: int = typer.Option(None, "--max-rows", min=1, help="evaluate at most N test rows"),
    ) -> None:
        """Base vs tuned on the held-out test split: table here, report.html + compare.json in the run."""
        from ..evaluate.compare import compare as run_compare

        print_compare(run_compare(load(config, compare__max_rows=max_rows)))

    @app.command()
    def export(
        config: Path = ConfigOption,
        merge: bool = typer.Option(None, "--merge/--no-merge", help="also write a merged full model"),
        push: str = typer.Option(None, "--push", metavar="REPO", help="upload to this Hugging Face Hub repo"),
        gguf: bool = typer.Option(None, "--gguf/--no-gguf",
                                  help="also write GGUF files (merged model, LoRA adapter) and an Ollama Modelfile"),
        quant: str = typer.Option(None, "--quant", help="GGUF tensor type: f32 f16 bf16 q8_0 q5_1 q5_0 q4_1 q4_0"),
        check: bool = typer.Option(None, "--check/--no-check",
                                   help="answer the test prompts with the tuned model and the GGUF and compare"),
    ) -> None:
        """Export the adapter (PEFT format), optionally a merged model and GGUF files, optionally push to the Hub."""
        from ..export import export as run_export

        # a failed GGUF check is an ExportCheckError: one line naming export/gguf_check.json, exit 2
        result = run_export(load(config), merge=merge, push=push, gguf=gguf, quant=quant, check=check)
        out.print(f"[bold green]✓ export[/]  {result.summary()}")
        for name, path in result.paths.items():
            out.print(f"  {name}: {path}")
        for line in result.check_lines():
            out.print(f"  GGUF check: {line}")
        for note in result.notes:
            out.print(f"  [yellow]note[/]: {note}")
