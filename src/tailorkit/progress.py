"""Progress bars for long steps (rich). Quiet when stderr is not a terminal and TAILOR_QUIET is set."""
from __future__ import annotations

import os

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

console = Console(stderr=True)


def progress(*extra_columns) -> Progress:
    """A rich Progress with bar, count, elapsed, ETA and any extra columns (e.g. loss, tok/s)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        *extra_columns,
        console=console,
        disable=bool(os.environ.get("TAILOR_QUIET")),
        transient=False,
    )
