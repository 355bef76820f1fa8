"""What the studio reads from a project's run directories: status, dates, rows, losses, compare headline.

Read-only and cheap (small JSON files and metrics.jsonl), so the runs page answers quickly while a job
writes into the same folders. A run's status is the furthest step whose output exists: prepared
(data/train.jsonl) -> stopped (a checkpoint, no tuned model) -> trained (adapter/) -> compared
(compare.json); "training" while a studio job trains it.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..train.metrics import read_metrics

STATUS_HELP = {
    "prepared": "data split into train / validation / test; not trained yet",
    "training": "a training job is running now",
    "stopped": "training was stopped; a checkpoint is saved and can be resumed",
    "trained": "a tuned model exists; compare it with the base model next",
    "compared": "base and tuned answers were scored on the held-out test rows",
    "empty": "the folder holds nothing the studio recognises yet",
}


@dataclass
class RunInfo:
    name: str
    status: str
    updated: str
    rows: dict[str, int] = field(default_factory=dict)
    best_val_loss: float | None = None
    steps: int | None = None
    headline: str | None = None

    @property
    def status_help(self) -> str:
        return STATUS_HELP.get(self.status, "")


def read_json(path: Path) -> Any:
    """Parsed JSON, or None when the file is missing or torn (a job may be writing it)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def metric_points(run_dir: Path) -> dict[str, list[list[float]]]:
    """Train loss and validation loss as [step, value] pairs, from the first logged step."""
    rows = read_metrics(run_dir / "metrics.jsonl")
    return {"train": [[r["step"], r["loss"]] for r in rows if r.get("kind") == "train" and "loss" in r],
            "val": [[r["step"], r["val_loss"]] for r in rows if r.get("kind") == "val" and "val_loss" in r]}


def compare_headline(doc: dict[str, Any]) -> str:
    """One line: on how many metrics the tuned model beats the base, and the first text metric."""
    better = doc.get("better") or {}
    judged = [v for v in better.values() if v is not None]
    wins = sum(1 for v in judged if v == "tuned")
    text = f"tuned better on {wins} of {len(judged)} metrics"
    base, tuned = doc.get("base") or {}, doc.get("tuned") or {}
    if "rouge_l" in base and "rouge_l" in tuned:
        text += f"; word overlap (ROUGE-L) {base['rouge_l']:.3f} → {tuned['rouge_l']:.3f}"
    return text


def run_info(run_dir: Path, training: bool = False) -> RunInfo:
    files = [run_dir / p for p in ("config.yaml", "prepare.json", "metrics.jsonl", "compare.json", "adapter")]
    mtimes = [p.stat().st_mtime for p in files if p.exists()] or [run_dir.stat().st_mtime]
    info = RunInfo(run_dir.name, "empty", time.strftime("%Y-%m-%d %H:%M", time.localtime(max(mtimes))))
    prep = read_json(run_dir / "prepare.json")
    if prep:
        info.rows = dict(prep.get("split_sizes") or {})
    if (run_dir / "data" / "train.jsonl").exists():
        info.status = "prepared"
    points = metric_points(run_dir)
    if points["val"]:
        info.best_val_loss = min(v for _, v in points["val"])
    steps = [s for s, _ in points["train"] + points["val"]]
    info.steps = max(steps) if steps else None
    if (run_dir / "checkpoints").exists() and any((run_dir / "checkpoints").iterdir()):
        info.status = "stopped"
    if (run_dir / "adapter").exists():
        info.status = "trained"
    doc = read_json(run_dir / "compare.json")
    if doc and info.status == "trained":
        info.status = "compared"
        info.headline = compare_headline(doc)
    if training:
        info.status = "training"
    return info


def list_runs(runs_dir: Path, training_run: str | None = None) -> list[RunInfo]:
    """Every run folder, newest first."""
    if not runs_dir.is_dir():
        return []
    runs = [run_info(d, training=d.name == training_run) for d in runs_dir.iterdir() if d.is_dir()]
    return sorted(runs, key=lambda r: r.updated, reverse=True)


def trained_runs(runs_dir: Path) -> list[str]:
    """Names of runs with a tuned model (for chat and compare pickers)."""
    if not runs_dir.is_dir():
        return []
    return sorted(d.name for d in runs_dir.iterdir() if (d / "adapter").exists())


METRIC_HELP = {
    "nll": "how surprised the model is by your reference answers",
    "perplexity": "the same, as the number of equally likely next words",
    "rouge_l": "word overlap with the reference, 0-1",
    "chrf": "character overlap with the reference, 0-100",
    "embed_sim": "closeness in meaning to the reference, by sentence embeddings",
    "preamble_rate": "answers that open with chatter such as 'Sure! Here is'",
    "never_stops_rate": "answers cut at the token limit instead of ending",
    "median_words": "typical answer length; the references' is the target",
}
WORSE_METRIC = "chrf"  # per-row: character n-gram overlap with the reference, 0-100, finer than ROUGE-L


def tuned_worse(row: dict[str, Any]) -> bool:
    """A compare row where the tuned answer is further from the reference than the base answer."""
    base, tuned = (row.get("base") or {}).get(WORSE_METRIC), (row.get("tuned") or {}).get(WORSE_METRIC)
    return base is not None and tuned is not None and tuned < base
