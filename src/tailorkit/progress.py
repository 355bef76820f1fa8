"""Progress bars for long steps (rich). Quiet when stderr is not a terminal and TAILOR_QUIET is set."""
from __future__ import annotations

import os
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

console = Console(stderr=True)
if not console.is_terminal and "COLUMNS" not in os.environ:
    # A log file or CI: rich would assume 80 columns and squeeze "155/289 0:18:16" into "155… 0:…".
    console.width = 132


def progress(*extra_columns, enabled: bool = True) -> Progress:
    """A rich Progress with bar, count, elapsed, ETA and any extra columns (e.g. loss, tok/s).

    enabled=False for work that runs inside another bar (e.g. one batch of the synth runner's rows).
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        *extra_columns,
        console=console,
        disable=not enabled or bool(os.environ.get("TAILOR_QUIET")),
        transient=False,
    )


@contextmanager
def local_io_bars_off():
    """Hide transformers' per-tensor "Loading weights" / "Writing model shards" bars while reading or
    writing a LOCAL folder: they flash by in under a second and bury tailorkit's own progress lines.
    Only wrap calls that never download; Hub downloads keep their bars. The previous state is restored.
    """
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    if not was_on:
        yield
        return
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()
