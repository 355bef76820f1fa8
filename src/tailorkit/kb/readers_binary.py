"""Readers for binary office formats: PDF (one block per page, text cleaned of ligatures and
line-end hyphenation) and DOCX (heading path from paragraph styles, tables as ' | ' rows)."""
from __future__ import annotations

import io
import re

from .readers import Block, Unreadable

# --- PDF ------------------------------------------------------------------------------------------

_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                            "\u00ad": ""})


def _clean_pdf_text(text: str) -> str:
    text = text.translate(_LIGATURES)
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)  # words hyphenated across line breaks
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def read_pdf(data: bytes) -> tuple[list[Block], str | None]:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns loudly about benign quirks
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise Unreadable("not a PDF file (no %PDF header); the file is corrupt or misnamed")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")  # many PDFs are 'encrypted' with an empty user password
            except Exception:
                ok = 0
            if not ok:
                raise Unreadable("encrypted PDF (password-protected); save an unprotected copy and add that")
        pages = list(reader.pages)
        meta_title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except Unreadable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise Unreadable(f"corrupt PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    except Exception as exc:  # pypdf raises many internal types on damaged files
        raise Unreadable(f"corrupt PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    blocks: list[Block] = []
    failed = 0
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception:
            failed += 1
            continue
        text = _clean_pdf_text(text)
        if text:
            blocks.append(Block(text, page=number))
    if not blocks:
        why = f"{failed} page(s) failed to parse" if failed else "no extractable text (a scanned PDF? run OCR first)"
        raise Unreadable(f"PDF with {len(pages)} page(s) but {why}")
    title = str(meta_title).strip() if meta_title else None
    return blocks, title or None


# --- DOCX -----------------------------------------------------------------------------------------

_DOCX_HEADING = re.compile(r"^(?:heading|titre|überschrift|titolo|encabezado|kop)\s*(\d)$", re.I)


def read_docx(data: bytes) -> tuple[list[Block], str | None]:
    import zipfile

    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise Unreadable(f"corrupt or not a .docx file ({type(exc).__name__}); re-save it from Word as .docx") from None
    except Exception as exc:
        raise Unreadable(f"cannot open the .docx ({type(exc).__name__}: {str(exc)[:120]})") from None
    title = (document.core_properties.title or "").strip() or None
    blocks: list[Block] = []
    stack: list[tuple[int, str]] = []
    buf: list[str] = []

    def flush() -> None:
        body = "\n".join(buf).strip()
        if body:
            blocks.append(Block(body, [h for _, h in stack]))
        buf.clear()

    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells = []
                for cell in row.cells:
                    value = cell.text.strip()
                    if value and (not cells or cells[-1] != value):  # merged cells repeat their text
                        cells.append(value)
                if cells:
                    buf.append(" | ".join(cells))
            buf.append("")
            continue
        text = item.text.strip()
        style = (item.style.name if item.style is not None else "") or ""
        m = _DOCX_HEADING.match(style.strip())
        level = int(m.group(1)) if m else (0 if style.strip().lower() == "title" else None)
        if level is not None and text:
            flush()
            if level == 0:  # the Title style: the root of the heading path
                title = title or text
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
        else:
            buf.append(text)
    flush()
    if title is None and stack:
        title = stack[0][1]
    return blocks, title
