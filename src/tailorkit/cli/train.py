"""CLI commands for the train area (thin: parse flags, call the Python API, print results)."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from .common import ConfigOption, load


console = Console()  # stdout; progress bars go to stderr


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command("train")
    def train_cmd(
        config: Path = ConfigOption,
        resume: bool = typer.Option(False, "--resume", help="continue from the newest checkpoint of the run"),
        lr: float = typer.Option(None, "--lr", help="peak learning rate (train.learning_rate)"),
        epochs: int = typer.Option(None, "--epochs", help="passes over the train split (train.epochs)"),
        max_steps: int = typer.Option(None, "--max-steps", help="stop after N optimizer steps (train.max_steps)"),
        method: str = typer.Option(None, "--method", help="lora | dora | qlora | full (train.method)"),
        lora_r: int = typer.Option(None, "--lora-r", help="LoRA rank (train.lora_r)"),
        batch_size: int = typer.Option(None, "--batch-size", help="rows per micro-batch (train.batch_size)"),
        run_name: str = typer.Option(None, "--run-name", help="run directory name under runs/ (train.run_name)"),
        seed: int = typer.Option(None, "--seed", help="seed for init, shuffling and dropout (train.seed)"),
    ) -> None:
        """Fine-tune the model on the prepared splits (LoRA by default); resumable."""
        from ..train.trainer import RESUME_HINT, train

        cfg = load(config, train__learning_rate=lr, train__epochs=epochs, train__max_steps=max_steps,
                   train__method=method, train__lora_r=lora_r, train__batch_size=batch_size,
                   train__run_name=run_name, train__seed=seed)
        result = train(cfg, resume=resume)
        if result.interrupted:
            typer.echo(f"interrupted at step {result.steps}/{result.total_steps}; checkpoint saved to "
                       f"{result.checkpoint}; {RESUME_HINT}", err=True)
            raise SystemExit(130)  # the shell convention for a run stopped by Ctrl-C
        from accelerate import PartialState

        if not PartialState().is_main_process:  # under `accelerate launch` one summary is enough
            return
        lines = [f"trained {result.steps}/{result.total_steps} steps, {result.epochs} epoch(s) "
                 f"({result.stopped}) in {result.seconds:.0f}s, {result.tokens_per_s:.0f} tokens/s"]
        if result.best_val_loss is not None:
            lines.append(f"best val loss {result.best_val_loss:.4f} (perplexity {result.best_val_perplexity:.2f}) "
                         f"at step {result.best_step}")
        if result.truncated_rows:
            lines.append(f"{result.truncated_rows} row(s) were truncated to data.max_length")
        lines.append(f"adapter: {result.adapter_dir}")
        lines.append(f"metrics: {result.metrics_path}" + (f", loss curve: {result.loss_plot}" if result.loss_plot else ""))
        for line in lines:
            console.print(line, highlight=False, soft_wrap=True)
