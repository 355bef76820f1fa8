"""Read a raw data file (CSV/TSV, JSONL, JSON, Parquet) into plain records, with positions.

Each reader returns `Records`: a list of dicts plus, for every record, where it came from (the file
line for text formats, the row number for JSON lists and Parquet), so that every later error can
name file:line. Bad bytes, unclosed CSV quotes, non-JSON lines and empty files raise DataError here.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError

SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class Records:
    """Rows of one file. `kind` is "line" (text formats) or "row" (JSON list, Parquet)."""

    path: Path
    rows: list[dict[str, Any]]
    numbers: list[int]
    kind: str
    columns: list[str] = field(default_factory=list)

    def where(self, i: int, fld: str | None = None) -> str:
        """file:line[:field] (or file:row N[:field]) of record i."""
        pos = f"{self.path}:{self.numbers[i]}" if self.kind == "line" else f"{self.path}:row {self.numbers[i]}"
        return f"{pos}:{fld}" if fld else pos


def read_records(path: str | Path) -> Records:
    """Read any supported file into Records; raises DataError naming file:line and the fix."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist", where=str(path),
                        fix="check the path, or set data.source in tailor.yaml")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a data file", where=str(path),
                        fix="point to one .csv, .tsv, .jsonl, .json or .parquet file")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"unsupported file type '{path.suffix or '(none)'}'", where=str(path),
                        fix=f"use one of {', '.join(sorted(SUFFIXES))} (rename the file if its content is one of these)")
    if kind == "parquet":
        recs = _read_parquet(path)
    else:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read the file ({exc.strerror or exc})", where=str(path),
                            fix="check that the file is readable (permissions) and that the path is right") from None
        text = decode_utf8(path, data)
        if kind in ("csv", "tsv"):
            recs = _read_csv(path, text, "\t" if kind == "tsv" else _csv_delimiter(text))
        elif kind == "jsonl":
            recs = _read_jsonl(path, text)
        else:
            recs = _read_json(path, text)
    if not recs.rows:
        what = "the file has a header but no data rows" if recs.columns and kind in ("csv", "tsv") else "the file has no rows"
        raise DataError(what, where=str(path), fix="add at least one row, or point data.source to the right file")
    return recs


def decode_utf8(path: Path, data: bytes) -> str:
    """Decode UTF-8 (a BOM is allowed); bad bytes name the line, column and byte offset."""
    if not data.strip():
        raise DataError("the file is empty", where=str(path), fix="add rows to it, or point data.source to the right file")
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start + (len(data) - len(body))
        line = data.count(b"\n", 0, start) + 1
        col = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise DataError(f"byte 0x{data[start]:02x} at byte offset {start} (column {col}) is not valid UTF-8",
                        where=f"{path}:{line}",
                        fix="re-save the file as UTF-8 (spreadsheets: Save As > CSV UTF-8)") from None


def _read_csv(path: Path, text: str, delimiter: str) -> Records:
    # The csv module refuses cells over 128 KiB (then reported as an unclosed quote in the wrong
    # column); a cell may be as long as the file. The limit is global to the module: restore it.
    previous = csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        return _read_csv_rows(path, text, delimiter)
    finally:
        csv.field_size_limit(previous)


def _read_csv_rows(path: Path, text: str, delimiter: str) -> Records:
    # Split lines exactly as the csv module sees them, so line numbers and error scans agree.
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(iter(lines), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    prev_end = 0
    while True:
        start = prev_end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad, col = _open_quote(lines, start - 1, reader.line_num, delimiter)
            fld = f":{header[col]}" if header and col < len(header) else ""
            raise DataError(f"a quoted field that starts on this line is never closed ({exc})",
                            where=f"{path}:{bad}{fld}",
                            fix='close the quote, or write a quote inside a quoted field as two quotes ("")') from None
        prev_end = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue  # blank line
        if header is None:
            header = [c.strip() for c in row]
            _check_header(path, header)
            continue
        if len(row) > len(header) and any(c.strip() for c in row[len(header):]):
            hint = (" (the row spans several lines: probably an unclosed quote)" if reader.line_num > start else "")
            raise DataError(f"row has {len(row)} fields but the header has {len(header)}{hint}",
                            where=f"{path}:{start}",
                            fix=f"quote fields that contain the delimiter {delimiter!r}, or close the open quote")
        row = row + [""] * (len(header) - len(row))  # spreadsheets drop trailing empty cells
        rows.append(dict(zip(header, row)))
        numbers.append(start)
    return Records(path, rows, numbers, "line", header or [])


def _csv_delimiter(text: str) -> str:
    """',' unless the header line has none but has ';' (European spreadsheets) or a tab."""
    first = text.lstrip("\r\n").split("\n", 1)[0]
    if "," in first:
        return ","
    return next((d for d in (";", "\t") if d in first), ",")


def _check_header(path: Path, header: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(header, 1):
        if not name:
            raise DataError(f"header column {i} has no name", where=f"{path}:1",
                            fix="give every column a name in the first row")
        if name in seen:
            raise DataError(f"header names column '{name}' twice", where=f"{path}:1:{name}",
                            fix="rename one of the two columns")
        seen.add(name)


def _open_quote(lines: list[str], first: int, last: int, delimiter: str) -> tuple[int, int]:
    """(line 1-based, field index) of the last field-opening quote in lines first..last of one record."""
    open_line, open_field = first + 1, 0
    in_quote = False
    fld = 0
    for ln in range(first, min(last, len(lines))):
        s = lines[ln]
        at_start = not in_quote
        j = 0
        while j < len(s):
            c = s[j]
            if in_quote:
                if c == '"':
                    if s[j + 1:j + 2] == '"':
                        j += 1  # escaped quote
                    else:
                        in_quote = False
            elif c == '"' and at_start:
                in_quote, open_line, open_field = True, ln + 1, fld
            else:
                at_start = c == delimiter
                fld += at_start
            j += 1
        if not in_quote:
            fld = 0  # the physical line ended the record
    return open_line, open_field


def jsonl_objects(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; a line that is not one JSON object raises DataError."""
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"line is not JSON ({exc.msg} at column {exc.colno})", where=f"{path}:{lineno}",
                            fix="make every line one JSON object, or delete that line") from None
        if not isinstance(obj, dict):
            raise DataError(f"line holds a JSON {type(obj).__name__}, not an object", where=f"{path}:{lineno}",
                            fix='make every line one JSON object, e.g. {"messages": [...]}')
        yield lineno, obj


def _read_jsonl(path: Path, text: str) -> Records:
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    for lineno, obj in jsonl_objects(path, text):
        rows.append(obj)
        numbers.append(lineno)
    return Records(path, rows, numbers, "line", _keys(rows))


def _read_json(path: Path, text: str) -> Records:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"the file is not valid JSON ({exc.msg} at column {exc.colno})", where=f"{path}:{exc.lineno}",
                        fix="fix the JSON there (or use .jsonl for one object per line)") from None
    if isinstance(obj, dict) and isinstance(obj.get("data"), list):
        obj = obj["data"]
    if not isinstance(obj, list):
        raise DataError("the JSON must be a list of objects or {\"data\": [...]}", where=str(path),
                        fix="wrap the rows in a list")
    for i, item in enumerate(obj):
        if not isinstance(item, dict):
            raise DataError(f"item is a JSON {type(item).__name__}, not an object", where=f"{path}:row {i + 1}",
                            fix="make every item of the list an object")
    return Records(path, obj, list(range(1, len(obj) + 1)), "row", _keys(obj))


def _read_parquet(path: Path) -> Records:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for corrupt/foreign files
        raise DataError(f"cannot read Parquet ({type(exc).__name__}: {exc})", where=str(path),
                        fix="check that the file is Parquet (or convert it to CSV/JSONL)") from None
    rows = table.to_pylist()
    return Records(path, rows, list(range(1, len(rows) + 1)), "row", list(table.column_names))


def _keys(rows: list[dict[str, Any]]) -> list[str]:
    """Keys in order of first appearance across rows."""
    seen: dict[str, None] = {}
    for row in rows:
        for k in row:
            seen.setdefault(str(k), None)
    return list(seen)
