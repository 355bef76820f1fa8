"""Helpers for knowledge-base tests: real PDF and DOCX files written here, and a counting embedder."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF (Helvetica text, one content stream per page), written by hand."""
    objects: list[bytes] = []
    n_pages = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    font_obj = 3 + 2 * n_pages
    for i, text in enumerate(pages):
        lines = text.split("\n")
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            safe = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({safe}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
                       f"/Resources << /Font << /F1 {font_obj} 0 R >> >> >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def make_docx(path: Path, title: str, sections: list[tuple[int, str, list[str]]], table: list[list[str]] | None = None) -> Path:
    """A real .docx written with python-docx: (heading level, heading, paragraphs) per section."""
    import docx

    doc = docx.Document()
    doc.add_heading(title, level=0)
    for level, heading, paragraphs in sections:
        doc.add_heading(heading, level=level)
        for p in paragraphs:
            doc.add_paragraph(p)
    if table:
        t = doc.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                t.cell(r, c).text = value
    doc.save(str(path))
    return path


class CountingEmbedder:
    """Deterministic bag-of-words hashing embedder that counts what it embeds (no model needed)."""

    name = "counting-fake"
    dim = 32

    def __init__(self) -> None:
        self.calls = 0
        self.texts: list[str] = []

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for word in text.lower().split():
            h = int(hashlib.md5(word.encode()).hexdigest(), 16)
            v[h % self.dim] += 1.0 if (h >> 8) % 2 else -1.0
        v[0] += 0.01  # never the zero vector
        return v / np.linalg.norm(v)

    def embed_documents(self, texts, batch_size: int = 64, **_) -> np.ndarray:
        texts = list(texts)
        self.calls += 1
        self.texts.extend(texts)
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vec(text)
