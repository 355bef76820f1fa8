"""Read source files into Documents made of text Blocks, keeping structure for chunking and citations.

Formats: plain text, Markdown (heading path + source line numbers), HTML (heading path), PDF (one block
per page), DOCX (heading path from paragraph styles, tables as rows) and CSV/TSV/JSONL rows (each row
its own document `path#row`, text from a mapped column). A file that cannot be read raises Unreadable
with a reason a user can act on; the ingest loop reports it and carries on with the other files.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

TEXT_EXT = {".txt", ".text", ".rst", ".log"}
MARKDOWN_EXT = {".md", ".markdown", ".mdx"}
HTML_EXT = {".html", ".htm", ".xhtml"}
ROW_EXT = {".csv", ".tsv", ".jsonl", ".ndjson"}
SUPPORTED = TEXT_EXT | MARKDOWN_EXT | HTML_EXT | ROW_EXT | {".pdf", ".docx"}


class Unreadable(Exception):
    """A whole file cannot be ingested; `reason` says why and what to do."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass
class Block:
    """A run of text under one heading path (or one PDF page, or one row).

    `line_start` is the source line of the text's first line when text lines map 1:1 to source lines
    (text, Markdown), so chunk line ranges can be computed; `line_span` is a fixed range for blocks
    whose text is not a verbatim slice of the file (CSV/JSONL rows).
    """

    text: str
    heading_path: list[str] = field(default_factory=list)
    page: int | None = None
    line_start: int | None = None
    line_span: tuple[int, int] | None = None


@dataclass
class Document:
    doc_id: str
    source: Path
    doc_hash: str
    blocks: list[Block]
    title: str | None = None


@dataclass
class RowColumns:
    """Which columns of a CSV/JSONL file hold the text, the title and a stable row id."""

    text: str = "text"
    title: str | None = "title"
    id: str | None = None


@dataclass
class ReadResult:
    documents: list[Document]
    problems: list[tuple[str, str]] = field(default_factory=list)  # (where, reason) for single rows


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED


def read_source(path: Path, doc_id: str, data: bytes, columns: RowColumns | None = None) -> ReadResult:
    """Parse the bytes of one file into documents (one, or one per row). Raises Unreadable."""
    ext = path.suffix.lower()
    doc_hash = sha256(data)
    if ext in ROW_EXT:
        return _read_rows(path, doc_id, data, columns or RowColumns())
    if ext in (".pdf", ".docx"):
        from .readers_binary import read_docx, read_pdf

        blocks, title = (read_pdf if ext == ".pdf" else read_docx)(data)
    elif ext in HTML_EXT:
        blocks, title = _read_html(_decode(data))
    elif ext in MARKDOWN_EXT:
        blocks, title = read_markdown(_decode(data))
    elif ext in TEXT_EXT:
        blocks, title = [Block(_decode(data), line_start=1)], None
    else:
        raise Unreadable(f"unsupported file type '{ext or path.name}' (supported: {', '.join(sorted(SUPPORTED))})")
    blocks = [b for b in blocks if b.text.strip()]
    if not blocks:
        raise Unreadable("no text found in the file")
    return ReadResult([Document(doc_id, path, doc_hash, blocks, title)])


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise Unreadable("binary file (contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:  # legacy Windows files are common in document folders
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise Unreadable("not UTF-8 text; save it as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- Markdown -------------------------------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


def read_markdown(text: str) -> tuple[list[Block], str | None]:
    """Split Markdown at ATX/setext headings (not inside code fences); each block keeps its heading path."""
    lines = text.split("\n")
    title = None
    start = 0
    if lines and lines[0].strip() == "---":  # YAML front matter: metadata, not content
        for i in range(1, min(len(lines), 200)):
            if lines[i].strip() in ("---", "..."):
                for meta in lines[1:i]:
                    if meta.lower().startswith("title:"):
                        title = meta.split(":", 1)[1].strip().strip("'\"") or None
                start = i + 1
                break
    blocks: list[Block] = []
    stack: list[tuple[int, str]] = []
    buf: list[str] = []
    buf_start = start + 1
    fence: str | None = None

    def flush(next_line: int) -> None:
        nonlocal buf, buf_start
        if "".join(buf).strip():
            blocks.append(Block("\n".join(buf), [h for _, h in stack], line_start=buf_start))
        buf, buf_start = [], next_line

    def push(level: int, heading: str) -> None:
        nonlocal title
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
        if level == 1 and title is None:
            title = heading

    for i in range(start, len(lines)):
        line, lineno = lines[i], i + 1
        m = _FENCE.match(line)
        if m:
            marker = m.group(1)[0]
            fence = None if fence == marker else (marker if fence is None else fence)
        if fence is None and not m:
            atx = _ATX.match(line)
            if atx and (atx.group(2) or "").strip():
                flush(lineno + 1)
                push(len(atx.group(1)), atx.group(2).strip())
                continue
            setext = _SETEXT.match(line)
            if setext and buf and buf[-1].strip() and not (len(buf) > 1 and buf[-2].strip()):
                heading = buf.pop().strip()
                flush(lineno + 1)
                push(1 if setext.group(1)[0] == "=" else 2, heading)
                continue
        buf.append(line)
    flush(len(lines) + 1)
    return blocks, title


# --- HTML -----------------------------------------------------------------------------------------

_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_DROP = {"script", "style", "noscript", "template", "svg", "head", "nav", "footer", "iframe", "form", "button"}
_BLOCK_TAGS = {"p", "div", "li", "ul", "ol", "pre", "blockquote", "table", "tr", "section", "article", "br",
               "dt", "dd", "figcaption", "caption", "hr", "main", "header", "aside", "details", "summary"}


def _read_html(text: str) -> tuple[list[Block], str | None]:
    from bs4 import BeautifulSoup, NavigableString, Tag

    soup = BeautifulSoup(text, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup.find_all(list(_DROP)):
        tag.decompose()
    blocks: list[Block] = []
    stack: list[tuple[int, str]] = []
    buf: list[str] = []

    def flush() -> None:
        body = re.sub(r"[ \t]*\n\s*\n\s*", "\n\n", "".join(buf))
        body = re.sub(r"[ \t\u00a0]+", " ", body).strip()
        if body:
            blocks.append(Block(body, [h for _, h in stack]))
        buf.clear()

    def walk(node) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if type(child).__name__ in ("Comment", "Doctype", "Declaration", "ProcessingInstruction"):
                    continue
                buf.append(str(child) if child.parent.name == "pre" else re.sub(r"\s+", " ", str(child)))
            elif isinstance(child, Tag):
                level = _HEADINGS.get(child.name)
                if level:
                    flush()
                    while stack and stack[-1][0] >= level:
                        stack.pop()
                    heading = child.get_text(" ", strip=True)
                    if heading:
                        stack.append((level, heading))
                    continue
                block = child.name in _BLOCK_TAGS
                if block:
                    buf.append("\n\n" if child.name in ("p", "pre", "table", "blockquote") else "\n")
                if child.name in ("td", "th"):
                    buf.append(" | ")
                walk(child)
                if block:
                    buf.append("\n\n" if child.name in ("p", "pre", "table", "blockquote") else "\n")

    walk(soup.body or soup)
    flush()
    if title is None:
        first = soup.find("h1")
        title = first.get_text(" ", strip=True) if first else None
    return blocks, title


# --- CSV / TSV / JSONL rows -----------------------------------------------------------------------

def _row_doc(path: Path, doc_id: str, row_key: str, text, title, lines: tuple[int, int]) -> Document | None:
    text = "" if text is None else str(text)
    if not text.strip():
        return None
    title = str(title).strip() if title not in (None, "") else None
    row_hash = sha256(json.dumps([text, title], ensure_ascii=False).encode("utf-8"))
    block = Block(text.strip(), [title] if title else [], line_span=lines)
    return Document(f"{doc_id}#{row_key}", path, row_hash, [block], title)


def _read_rows(path: Path, doc_id: str, data: bytes, cols: RowColumns) -> ReadResult:
    text = _decode(data)
    docs: list[Document] = []
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(row: dict, key_default: str, lines: tuple[int, int], where: str) -> None:
        key = key_default
        if cols.id and row.get(cols.id) not in (None, ""):
            key = str(row[cols.id])
        if key in seen:
            problems.append((where, f"duplicate row id '{key}' (kb.id_column); row skipped"))
            return
        doc = _row_doc(path, doc_id, key, row.get(cols.text), row.get(cols.title) if cols.title else None, lines)
        if doc is None:
            problems.append((where, f"empty '{cols.text}' column; row skipped"))
            return
        seen.add(key)
        docs.append(doc)

    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append((f"{doc_id}:{lineno}", f"invalid JSON ({exc.msg}); row skipped"))
                continue
            if not isinstance(row, dict):
                problems.append((f"{doc_id}:{lineno}", "the line is not a JSON object; row skipped"))
                continue
            if cols.text not in row and not docs:
                raise Unreadable(f"no '{cols.text}' field in the rows (fields: {', '.join(list(row)[:12])}); "
                                 f"set kb.text_column to the field that holds the text")
            add(row, str(lineno), (lineno, lineno), f"{doc_id}:{lineno}")
    else:
        try:
            dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
            reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
            header = reader.fieldnames or []
            if cols.text not in header:
                raise Unreadable(f"no '{cols.text}' column (columns: {', '.join(header[:12]) or 'none'}); "
                                 f"set kb.text_column to the column that holds the text")
            last = 1
            for number, row in enumerate(reader, start=1):
                add(row, str(number), (last + 1, reader.line_num), f"{doc_id}:{reader.line_num}")
                last = reader.line_num
        except csv.Error as exc:
            raise Unreadable(f"malformed CSV ({exc})") from None
    if not docs:
        raise Unreadable(f"no rows with text in the '{cols.text}' column")
    return ReadResult(docs, problems)
