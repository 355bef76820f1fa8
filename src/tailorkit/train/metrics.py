"""metrics.jsonl (train loss every few steps, validation loss each epoch) and the loss-curve PNG.

Lines are `{"kind": "train", "step", "epoch", "loss", "lr", "tokens_per_s", ...}` and
`{"kind": "val", "step", "epoch", "val_loss", "val_perplexity"}`. On resume, lines written after the
checkpoint being resumed are dropped, so the file reads as one uninterrupted run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class MetricsLog:
    """Append-only JSONL log, flushed per line so that a killed run keeps what it logged."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled

    def reset(self) -> None:
        if self.enabled and self.path.exists():
            self.path.unlink()

    def truncate_after(self, step: int) -> None:
        """Keep only lines up to `step` (the checkpoint a resumed run continues from)."""
        if not self.enabled or not self.path.exists():
            return
        kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= step]
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        tmp.replace(self.path)

    def write(self, **record: Any) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Parsed lines of a metrics.jsonl (a torn last line from a killed run is ignored)."""
    out = []
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def plot_loss(metrics_path: Path, out: Path) -> Path | None:
    """Draw train and validation loss against the step into a PNG (atomically); None if nothing logged."""
    rows = read_metrics(metrics_path)
    train = [(r["step"], r["loss"]) for r in rows if r.get("kind") == "train"]
    val = [(r["step"], r["val_loss"]) for r in rows if r.get("kind") == "val"]
    if not train and not val:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; also avoids GUI backends in worker processes
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot(*zip(*train), label="train loss", color="#4c72b0", linewidth=1.2)
    if val:
        ax.plot(*zip(*val), label="validation loss", color="#dd8452", marker="o")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss per trained token")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
    return out
