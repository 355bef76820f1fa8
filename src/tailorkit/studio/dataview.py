"""The Data screen's model: the inspect report and every row of the source with its flags.

Rows come from the source file as loaded (before overrides), so an excluded row stays visible and can
be brought back; flags come from `inspect_data(..., limit=None)`, which applies the overrides exactly
as prepare will, so an edited row is judged by its new text. The result is cached until the source
file, the overrides file or tailor.yaml changes.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TailorError

# problem text (from data/inspect.py) -> the short flag the table shows
FLAGS = (
    ("truncated to nothing", "truncated"),
    ("max_length", "truncated"),
    ("empty", "empty side"),
    ("exact duplicate", "duplicate"),
    ("near duplicate", "near duplicate"),
    ("different answers", "conflicting answers"),
)
FLAG_HELP = {
    "duplicate": "the same request and answer appear on an earlier row; prepare keeps only the first",
    "near duplicate": "almost the same request and answer as an earlier row; prepare keeps only the first",
    "truncated": "longer than data.max_length tokens: the end of the answer would be cut in training",
    "empty side": "the request or the answer is empty; prepare drops the row",
    "conflicting answers": "the same request appears with different answers; the model cannot learn both",
    "excluded": "you excluded this row; prepare skips it (the data file is unchanged)",
    "edited": "you edited this row; prepare uses your text (the data file is unchanged)",
}
PAGE_SIZE = 25


def flag_of(problem: str) -> str:
    return next((flag for key, flag in FLAGS if key in problem), "problem")


@dataclass
class Row:
    where: str
    user: str
    assistant: str
    original_user: str
    original_assistant: str
    override: str | None = None  # exclude | edit
    flags: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class DataView:
    source: str | None
    error: str | None = None
    report: Any = None  # DataReport
    rows: list[Row] = field(default_factory=list)

    def flag_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            for f in r.flags:
                out[f] = out.get(f, 0) + 1
        return out

    def page(self, q: str = "", flag: str = "", page: int = 1) -> tuple[list[Row], int, int]:
        """(rows of this page, number of matching rows, number of pages) for a search and a flag filter."""
        q = q.strip().casefold()
        rows = [r for r in self.rows
                if (not q or q in r.user.casefold() or q in r.assistant.casefold() or q in r.where.casefold())
                and (not flag or (flag == "any" and r.flags) or flag in r.flags)]
        pages = max(1, -(-len(rows) // PAGE_SIZE))
        page = min(max(1, page), pages)
        return rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], len(rows), pages


_cache: dict[str, tuple[tuple, DataView]] = {}
_lock = threading.Lock()


def _stamp(*paths: Path) -> tuple:
    return tuple((p.stat().st_mtime_ns, p.stat().st_size) if p.exists() else None for p in paths)


def data_view(cfg, config_path: Path) -> DataView:
    """The report and flagged rows of data.source (a TailorError becomes `error`, its one line)."""
    from ..data.inspect import inspect_data, resolve_source
    from ..data.load import load, location
    from ..data.overrides import overrides_path, read_overrides

    try:
        source = resolve_source(cfg, None)
    except TailorError as exc:
        return DataView(None, exc.one_line())
    key = str(source)
    stamp = _stamp(source, overrides_path(cfg), config_path)
    with _lock:
        hit = _cache.get(key)
        if hit and hit[0] == stamp:
            return hit[1]
        view = DataView(str(source))
        try:
            loaded = load(source, cfg.data)
            overrides = read_overrides(overrides_path(cfg))
            view.report = inspect_data(cfg, limit=None)
        except TailorError as exc:
            view.error = exc.one_line()
            return view
        problems: dict[str, list[str]] = {}
        for p in view.report.problems:
            problems.setdefault(p["where"], []).append(p["problem"])
        for ex in loaded.examples:
            where = location(ex)
            ov = overrides.get(where)
            row = Row(where, ex.user, ex.assistant, ex.user, ex.assistant, ov["action"] if ov else None)
            if ov and ov["action"] == "edit":
                row.user, row.assistant = ov["user"], ov["assistant"]
            row.problems = problems.get(where, [])
            row.flags = sorted({flag_of(p) for p in row.problems})
            if ov:
                row.flags.append("excluded" if ov["action"] == "exclude" else "edited")
            view.rows.append(row)
        _cache[key] = (stamp, view)
        return view


def find_example(cfg, where: str):
    """The Example at a location of data.source (as loaded, before overrides)."""
    from ..data.inspect import resolve_source
    from ..data.load import load, location
    from ..errors import DataError

    source = resolve_source(cfg, None)
    for ex in load(source, cfg.data).examples:
        if location(ex) == where:
            return ex
    raise DataError(f"no row at {where}", where=str(source), fix="reload the page; the data file may have changed")
