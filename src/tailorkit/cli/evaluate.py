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
    print_checks(result.checks)
    print_judge(result.judge)
    out.print(f"report: {result.report_path}\ndetails: {result.compare_path}")


def print_checks(checks, models=("base", "tuned")) -> None:
    """Pass rate per check per model, and on the references (flagging checks the references fail)."""
    if not checks:
        out.print("task checks: none configured (compare.checks)")
        return
    table = Table(title="task checks: share of answers passing")
    table.add_column("check")
    for name in (*models, "references"):
        table.add_column(name, justify="right")
    table.add_column("")
    for c in checks["checks"]:
        ref = c["reference_pass_rate"]
        table.add_row(c["label"], *(f"{100 * c['pass_rate'][m]:.1f}%" for m in models),
                      "–" if ref is None else f"{100 * ref:.1f}%",
                      "[yellow]likely wrong check[/]" if c["likely_wrong"] else "")
    allp = checks["all_pass_rate"]
    table.add_row("[bold]all checks[/]", *(f"{100 * allp[m]:.1f}%" for m in models),
                  f"{100 * allp['reference']:.1f}%" if "reference" in allp else "–", "")
    out.print(table)


def print_judge(judge) -> None:
    if not judge:
        out.print("judge: off (set compare.judge.base_url or pass --judge URL)")
        return
    if judge.get("warning"):
        out.print(f"[yellow]warning: {judge['warning']}[/]")
    if judge["win_rate"] is None:
        out.print(f"judge {judge['judge']}: no row could be judged ({judge['parse_failures']} parse failures)")
        return
    lo, hi = judge["interval"]
    out.print(f"judge {judge['judge']}: tuned win rate {100 * judge['win_rate']:.1f}% (95% CI {100 * lo:.1f}-"
              f"{100 * hi:.1f}%), length-controlled {100 * judge['length_controlled']:.1f}% on {judge['judged']} rows "
              f"[bold]{judge['verdict']}[/]; {judge['parse_failures']} parse failures, {judge['errors']} errors")


def print_advise(result) -> None:
    """Each route's figures, then the recommendation and where the page went."""
    from ..advise.routes import ROUTES

    routes = result.routes
    has_checks = "checks_all" in routes["base"]
    table = Table(title=f"advise: four routes on the same held-out rows (pilot LoRA: {result.train_steps} steps)")
    for col in ("route", *(("checks",) if has_checks else ()), "judge", "sim.", "NLL", "tokens", "latency",
                "extr."):
        table.add_column(col, justify="left" if col == "route" else "right")
    for name in ROUTES:
        r = routes[name]
        win = r.get("judge_win_rate")
        table.add_row(name, *((f"{100 * r['checks_all']:.0f}%",) if has_checks else ()),
                      "–" if win is None else f"{100 * win:.0f}%", f"{r['similarity']:.3f}", f"{r['nll']:.2f}",
                      f"{r['prompt_tokens']:.0f}", f"{r['latency_s']:.2f} s", f"{100 * r['extractive_rate']:.0f}%")
    out.print(table)
    out.print("checks = answers passing every task check; judge = win rate vs base; sim. = similarity to the "
              "references; NLL = reference NLL per token; tokens = prompt tokens per request; extr. = extractive answers")
    if all(routes[n].get("judge_win_rate") is None for n in ROUTES):
        out.print("judge: off (set compare.judge.base_url or pass --judge URL)")
    out.print(f"[bold]recommendation:[/] {result.recommendation['headline']}")
    out.print(result.recommendation["reason"])
    out.print(f"page: {result.html_path}\ndetails: {result.json_path}")


def with_judge(cfg, url: str | None, model: str | None, off: bool):
    """The config with --judge / --judge-model / --no-judge applied to compare.judge."""
    from ..config.judge import JudgeConfig

    if off:
        return cfg.model_copy(update={"compare": cfg.compare.model_copy(update={"judge": None})})
    if url is None and model is None:
        return cfg
    current = cfg.compare.judge.model_dump() if cfg.compare.judge is not None else {}
    if url is not None:
        current["base_url"] = None if url == "local" else url
    if model is not None:
        current["model"] = model
    judge = JudgeConfig.model_validate(current)
    return cfg.model_copy(update={"compare": cfg.compare.model_copy(update={"judge": judge})})


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(
        config: Path = ConfigOption,
        max_rows: int = typer.Option(None, "--max-rows", min=1, help="evaluate at most N test rows"),
        judge: str = typer.Option(None, "--judge", metavar="URL",
                                  help="pairwise judge: an OpenAI-compatible base URL, or 'local' for the weak "
                                       "bundled model (sets compare.judge)"),
        judge_model: str = typer.Option(None, "--judge-model", help="model name sent to the judge endpoint"),
        no_judge: bool = typer.Option(False, "--no-judge", help="turn the judge off for this run"),
    ) -> None:
        """Base vs tuned on the held-out test split: table here, report.html + compare.json in the run."""
        from ..evaluate.compare import compare as run_compare

        cfg = load(config, compare__max_rows=max_rows)
        print_compare(run_compare(with_judge(cfg, judge, judge_model, no_judge)))

    @app.command()
    def advise(
        config: Path = ConfigOption,
        minutes: float = typer.Option(None, "--minutes", help="time budget of the pilot (advise.minutes)"),
        docs: str = typer.Option(None, "--docs", metavar="DIR", help="documents for the retrieval routes (advise.docs)"),
        max_rows: int = typer.Option(None, "--max-rows", min=2, help="held-out rows per route (advise.max_rows)"),
        judge: str = typer.Option(None, "--judge", metavar="URL", help="pairwise judge base URL, or 'local'"),
        judge_model: str = typer.Option(None, "--judge-model", help="model name sent to the judge endpoint"),
    ) -> None:
        """Fine-tune, knowledge base, or both? Pilot four routes on held-out rows and recommend one."""
        from ..advise import advise as run_advise

        cfg = with_judge(load(config, advise__max_rows=max_rows), judge, judge_model, False)
        print_advise(run_advise(cfg, minutes=minutes, docs=docs))

    @app.command()
    def export(
        config: Path = ConfigOption,
        merge: bool = typer.Option(None, "--merge/--no-merge", help="also write a merged full model"),
        push: str = typer.Option(None, "--push", metavar="REPO", help="upload to this Hugging Face Hub repo"),
        gguf: bool = typer.Option(None, "--gguf/--no-gguf",
                                  help="also write GGUF files (merged model, LoRA adapter) and an Ollama Modelfile"),
        quant: str = typer.Option(None, "--quant", help="GGUF tensor type: f32 f16 bf16 q8_0 q5_1 q5_0 q4_1 q4_0 (gguf-py), "
                                                             "q6_k q5_k_m q4_k_m q3_k_m q2_k iq4_nl iq4_xs ... (llama.cpp)"),
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
