"""Load a raw data file into Examples: the entry point of the data stage.

`load_examples(path, data_cfg)` reads CSV/TSV, JSONL, JSON or Parquet (readers.py), maps each row
to an Example (formats.py) and stamps meta with {"source": file name, "line" or "row": n}.
Every problem raises DataError naming file:line[:field] and the fix.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.data import DataConfig
from .example import Example
from .formats import detect_format, to_examples
from .readers import Records, read_records


@dataclass
class Loaded:
    """What loading found: the Examples plus the facts `inspect` reports about the file."""

    path: Path
    examples: list[Example]
    columns: list[str]
    format: str
    records: Records


def load(path: str | Path, data_cfg: DataConfig) -> Loaded:
    """Read and convert one file, keeping the raw records for reporting."""
    recs = read_records(path)
    examples, fmt = to_examples(recs, data_cfg)
    return Loaded(Path(path), examples, recs.columns, fmt, recs)


def load_examples(path: str | Path, data_cfg: DataConfig) -> list[Example]:
    """Read one data file into Examples (meta has "source" and "row" or "line")."""
    return load(path, data_cfg).examples


def location(ex: Example) -> str:
    """Where an Example came from, as file:line or file:row N (for messages and reports)."""
    meta: dict[str, Any] = ex.meta
    src = meta.get("source", "?")
    if "line" in meta:
        return f"{src}:{meta['line']}"
    if "row" in meta:
        return f"{src}:row {meta['row']}"
    return str(src)


__all__ = ["Loaded", "detect_format", "load", "load_examples", "location"]
