"""Read recipe inputs: outputs to backtranslate (text, CSV/TSV, JSONL/JSON column) and Example sets.

Each source row gets a stable id from its position and content, so the journal recognises it on a
rerun and an edited row counts as new work.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.base import nearest
from ..data.example import Example
from ..errors import DataError

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}


@dataclass
class SourceRow:
    """One input unit. `skip` names a reason to drop it without asking the teacher."""

    id: str
    index: int
    text: str
    ref: dict[str, Any]
    skip: str | None = None
    example: Example | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def row_id(index: int, text: str) -> str:
    return f"{index}:{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}"


def clean_cell(text: str) -> str:
    """Trim spaces and spreadsheet quoting (`\"\"\"a prompt\"\"\"` -> `a prompt`)."""
    text = text.strip()
    while len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1].strip()
    return text


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise DataError(f"source file {path} does not exist", fix="check the path (relative paths start at the "
                                                                   "current folder on the command line)")
    if path.is_dir():
        raise DataError(f"source {path} is a folder", fix="pass one file: .txt, .csv, .tsv, .jsonl or .json")
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise DataError(f"cannot read the source file ({exc.strerror or exc})", where=str(path),
                        fix="check the file's permissions") from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"the file is not UTF-8 text (byte {exc.start})", where=str(path),
                        fix="re-save it as UTF-8") from None


def _pick_column(available: list[str], column: str | None, where: str) -> str:
    if column is not None:
        if column not in available:
            guess = nearest(column, available)
            hint = f"did you mean --column {guess}?" if guess else f"columns are: {', '.join(available)}"
            raise DataError(f"no column '{column}'", where=where, fix=hint)
        return column
    if len(available) == 1:
        return available[0]
    raise DataError(f"the file has several columns ({', '.join(available)})", where=where,
                    fix="pick the one holding the outputs with --column NAME (synth.column)")


def read_outputs(path: Path, column: str | None = None) -> list[SourceRow]:
    """Texts to backtranslate, one SourceRow each (empty ones marked skip="empty")."""
    path = Path(path)
    _check_readable(path)
    suffix = path.suffix.lower()
    items: list[tuple[str, dict[str, Any]]] = []  # (text, ref)
    if suffix in TABLE_SUFFIXES:
        reader = csv.DictReader(io.StringIO(_read_text(path), newline=""), delimiter=TABLE_SUFFIXES[suffix])
        col = _pick_column([c for c in (reader.fieldnames or []) if c], column, str(path))
        for i, rec in enumerate(reader, 1):  # data rows, 1-based, header not counted
            items.append((rec.get(col) or "", {"source": str(path), "row": i, "column": col}))
    elif suffix in (".jsonl", ".json"):
        items = _json_items(path, column, suffix)
    else:
        text = _read_text(path).replace("\r\n", "\n")
        lines = text.split("\n")
        blank_separated = any(not ln.strip() for ln in text.strip("\n").split("\n"))
        if blank_separated:  # blocks of one or more lines separated by blank lines
            block: list[str] = []
            start = 0
            for i, ln in enumerate(lines + [""], 1):
                if ln.strip():
                    if not block:
                        start = i
                    block.append(ln)
                elif block:
                    items.append(("\n".join(block), {"source": str(path), "line": start}))
                    block = []
        else:
            items = [(ln, {"source": str(path), "line": i}) for i, ln in enumerate(lines, 1) if ln.strip()]
    rows = []
    for index, (raw, ref) in enumerate(items):
        text = clean_cell(raw)
        rows.append(SourceRow(row_id(index, text), index, text, ref, skip=None if text else "empty"))
    if not rows:
        raise DataError("the source holds no rows", where=str(path), fix="add at least one output")
    return rows


def _json_items(path: Path, column: str | None, suffix: str) -> list[tuple[str, dict[str, Any]]]:
    values: list[tuple[Any, int]] = []
    if suffix == ".json":
        try:
            data = json.loads(_read_text(path))
        except ValueError as exc:
            raise DataError(f"invalid JSON ({exc})", where=str(path), fix="fix the JSON or use JSONL") from None
        if not isinstance(data, list):
            raise DataError("a .json source must hold a list", where=str(path),
                            fix="write a list of strings or objects")
        values = [(v, i) for i, v in enumerate(data)]
    else:
        for lineno, line in enumerate(_read_text(path).splitlines(), 1):
            if line.strip():
                try:
                    values.append((json.loads(line), lineno))
                except ValueError as exc:
                    raise DataError(f"not a JSON value ({exc})", where=f"{path}:{lineno}",
                                    fix="each line must be one JSON object or string") from None
    key = "line" if suffix == ".jsonl" else "row"
    items = []
    for value, pos in values:
        where = f"{path}:{pos}"
        if isinstance(value, str):
            items.append((value, {"source": str(path), key: pos}))
            continue
        if not isinstance(value, dict):
            raise DataError("row is neither a string nor an object", where=where, fix="use strings or objects")
        col = _pick_column([k for k, v in value.items() if isinstance(v, str)] or list(value), column, where)
        text = value.get(col)
        if not isinstance(text, str):
            raise DataError(f"'{col}' is not a string", where=f"{where}:{col}", fix="give each row a text value")
        items.append((text, {"source": str(path), key: pos, "column": col}))
    return items


def read_example_rows(path: Path, data_cfg=None) -> list[SourceRow]:
    """Examples (for curate and expand) as rows; any format `tailor data` reads when its loader exists."""
    path = Path(path)
    _check_readable(path)
    try:
        from ..data.load import load_examples
    except ImportError:  # the data area's loader is optional here; Example JSONL always works
        from ..data.example import read_examples

        examples = read_examples(path)
        for i, ex in enumerate(examples):
            ex.meta.setdefault("source", str(path))
            ex.meta.setdefault("row", i + 1)
    else:
        from ..config.data import DataConfig

        examples = load_examples(path, data_cfg or DataConfig())
    if not examples:
        raise DataError("the file holds no Examples", where=str(path), fix="add rows with a user and an assistant turn")
    rows = []
    for index, ex in enumerate(examples):
        blob = json.dumps(ex.messages, ensure_ascii=False, sort_keys=True)
        ref = {k: ex.meta[k] for k in ("source", "row", "line") if k in ex.meta}
        rows.append(SourceRow(row_id(index, blob), index, ex.assistant, ref, example=ex))
    return rows
