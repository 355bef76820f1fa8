"""Progress bars for long steps (rich). Quiet when stderr is not a terminal and TAILOR_QUIET is set.

When TAILOR_PROGRESS_FILE names a file, every bar also writes its tasks there as JSON
(`{"tasks": [{"description", "completed", "total"}]}`, atomically, at most 4 times a second): that is
how `tailor studio` shows the progress of a job running in another process.

`progress()` makes a bar; `subtask()` shows one step of work as a line in the bar already on screen
(rich shows one live display at a time), or as its own bar when none is."""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

console = Console(stderr=True)
if not console.is_terminal and "COLUMNS" not in os.environ:
    # A log file or CI: rich would assume 80 columns and squeeze "155/289 0:18:16" into "155… 0:…".
    console.width = 132


_live: list[Progress] = []  # bars started by progress() and not yet stopped, innermost last


class _TrackedProgress(Progress):
    """A Progress that records while it is on screen, so that subtask() can add its line to it."""

    def start(self) -> None:
        super().start()
        _live.append(self)

    def stop(self) -> None:
        if self in _live:
            _live.remove(self)
        super().stop()


class _ReportingProgress(_TrackedProgress):
    """A Progress that also writes its tasks to a JSON file for another process to read."""

    def __init__(self, *args, report_to: Path, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._report_to = report_to
        self._reported = 0.0

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._reported < 0.25:
            return
        self._reported = now
        tasks = [{"description": t.description, "completed": t.completed, "total": t.total} for t in self.tasks]
        tmp = self._report_to.with_name(f".{self._report_to.name}.tmp")
        tmp.write_text(json.dumps({"tasks": tasks}), encoding="utf-8")
        tmp.replace(self._report_to)

    def add_task(self, *args, **kwargs):
        task = super().add_task(*args, **kwargs)
        self._report(force=True)
        return task

    def update(self, *args, **kwargs) -> None:
        super().update(*args, **kwargs)
        self._report()

    def advance(self, *args, **kwargs) -> None:
        super().advance(*args, **kwargs)
        self._report()

    def stop(self) -> None:
        super().stop()
        self._report(force=True)


def progress(*extra_columns, enabled: bool = True) -> Progress:
    """A rich Progress with bar, count, elapsed, ETA and any extra columns (e.g. loss, tok/s).

    enabled=False for work that runs inside another bar (e.g. one batch of the synth runner's rows).
    """
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn(), *extra_columns)
    options = dict(console=console, disable=not enabled or bool(os.environ.get("TAILOR_QUIET")), transient=False)
    report_to = os.environ.get("TAILOR_PROGRESS_FILE")
    if report_to and enabled:
        return _ReportingProgress(*columns, report_to=Path(report_to), **options)
    return _TrackedProgress(*columns, **options)


@contextmanager
def subtask(description: str, total: int, min_total: int = 20_000) -> Iterator[Callable[[int], None]]:
    """Yield advance(n) for one long step: a line in the live tailorkit bar (removed when done), or
    its own bar; silent below min_total units, where a bar would only flicker."""
    if total < min_total:
        yield lambda n: None
        return
    if _live:
        bar = _live[-1]
        task = bar.add_task(f"  {description}", total=total)
        try:
            yield lambda n: bar.advance(task, n)
        finally:
            bar.remove_task(task)
        return
    with progress() as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


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
