"""CLI commands for the data area: `tailor data inspect` and `tailor data prepare` (thin shells)."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .common import ConfigOption, load

data_app = typer.Typer(help="Inspect raw data and prepare leakage-free splits.", no_args_is_help=True)


@data_app.command("inspect")
def inspect_cmd(
    path: Path = typer.Argument(None, help="data file (default: data.source in tailor.yaml)"),
    config: Path = ConfigOption,
    max_length: int = typer.Option(None, "--max-length", help="override data.max_length"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Rows, columns, duplicates, token lengths and problem rows of a data file. Writes nothing."""
    from ..data.inspect import inspect_data

    cfg = load(config, data__max_length=max_length)
    report = inspect_data(cfg, path)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    _print_report(report)


@data_app.command("prepare")
def prepare_cmd(
    source: Path = typer.Option(None, "--source", help="data file (default: data.source in tailor.yaml)"),
    config: Path = ConfigOption,
    val_fraction: float = typer.Option(None, "--val-fraction", help="override data.val_fraction"),
    test_fraction: float = typer.Option(None, "--test-fraction", help="override data.test_fraction"),
    max_length: int = typer.Option(None, "--max-length", help="override data.max_length"),
    force: bool = typer.Option(False, "--force", help="replace the splits of a run that has trained; its adapter "
                               "and checkpoints are moved aside into runs/<name>/superseded/"),
) -> None:
    """Clean, deduplicate and split the data into run_dir/data/{train,val,test}.jsonl.

    A run that has trained keeps its splits: preparing different ones is refused unless --force."""
    from ..data.prepare import prepare

    cfg = load(config, data__val_fraction=val_fraction, data__test_fraction=test_fraction,
               data__max_length=max_length)
    r = prepare(cfg, source, force=force)
    console = Console()
    dropped = ", ".join(f"{k}: {v}" for k, v in r.dropped.items()) or "none"
    sizes = " / ".join(f"{r.split_sizes[s]}" for s in ("train", "val", "test"))
    console.print(f"[bold]{r.source}[/] ({r.format}): {r.rows_read} rows read, {r.kept} kept")
    console.print(f"dropped: {dropped}; quoting artifacts fixed: {r.quoting_fixed}")
    if any(r.overrides.values()):
        console.print(f"overrides: {r.overrides['excluded']} rows excluded, {r.overrides['edited']} edited")
    console.print(f"train / val / test: {sizes} rows ({r.split_groups} groups); "
                  f"leakage violations: {len(r.leakage_violations)}")
    if r.rows_over_max_length:
        console.print(f"[yellow]{r.rows_over_max_length} rows exceed max_length={r.max_length} "
                      f"({r.answer_tokens_lost} answer tokens would be cut)[/]")
    for p in r.problems[:10]:
        console.print(f"[yellow]{escape(p['where'])}: {escape(p['problem'])}[/]", soft_wrap=True)
    if len(r.problems) > 10:
        console.print(f"[yellow]... and {len(r.problems) - 10} more such rows (see prepare.json)[/]")
    for name, p in r.paths.items():
        console.print(f"  {name}: {p}")
    if r.superseded:
        console.print(f"[yellow]the earlier adapter and checkpoints were moved to {r.superseded}; train again[/]")


def _print_report(report) -> None:
    console = Console()
    console.print(f"[bold]{report.source}[/]  format: {report.format}  columns: {', '.join(report.columns)}")
    t = Table(title="rows", show_header=False)
    for label, value in (
        ("rows read", report.rows_read),
        ("excluded by overrides", report.overrides.get("excluded", 0)),
        ("edited by overrides", report.overrides.get("edited", 0)),
        ("empty request", report.empty_requests),
        ("empty answer", report.empty_answers),
        ("quoting artifacts", report.quoting_artifacts),
        ("exact duplicates", report.exact_duplicates),
        ("near duplicates", report.near_duplicates),
        ("requests with conflicting answers", report.conflicting_requests),
        ("answers reached by several requests", report.shared_answers),
        ("rows after cleaning", report.rows_after_cleaning),
        ("groups for the split", report.split_groups),
    ):
        t.add_row(label, str(value))
    console.print(t)
    lengths = report.lengths
    if lengths is not None:
        lt = Table(title=f"tokens (max_length {lengths.max_length})")
        for col in ("", "min", "median", "p95", "max"):
            lt.add_column(col, justify="right" if col else "left")
        for name in ("prompt", "answer", "total"):
            s = getattr(lengths, name)
            lt.add_row(name, str(s.min), f"{s.median:g}", str(s.p95), str(s.max))
        console.print(lt)
        console.print(f"rows over max_length: {len(lengths.over)} ({lengths.answer_tokens_lost} answer tokens "
                      f"would be cut); answers cut to nothing: {len(lengths.empty_after_truncation)}")
    if report.checks:
        ct = Table(title="task checks on the answers (compare.checks)")
        ct.add_column("check")
        ct.add_column("answers passing", justify="right")
        ct.add_column("")
        for c in report.checks:
            ct.add_row(c["label"], f"{100 * c['reference_pass_rate']:.1f}%",
                       "[yellow]likely wrong check[/]" if c["likely_wrong"] else "")
        console.print(ct)
    if report.problems:
        pt = Table(title="problem rows")
        pt.add_column("where")
        pt.add_column("problem")
        for p in report.problems:
            pt.add_row(p["where"], p["problem"])
        console.print(pt)
        if report.problems_total > len(report.problems):
            console.print(f"... and {report.problems_total - len(report.problems)} more (see --json for counts)")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(data_app, name="data")
