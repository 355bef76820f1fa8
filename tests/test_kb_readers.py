"""Readers: every supported format from a real file, structure kept, unreadable files explained."""
from __future__ import annotations

from pathlib import Path

import pytest

from kb_files import make_docx, make_pdf
from tailorkit.kb.readers import RowColumns, Unreadable, read_markdown, read_source


def _read(path: Path, columns: RowColumns | None = None):
    return read_source(path, path.name, path.read_bytes(), columns)


def test_markdown_heading_path_and_lines(tmp_path):
    text = ("---\ntitle: Handbook\n---\n# Handbook\n\nIntro.\n\n## Leave\n### Vacation\nEmployees get 25 days.\n"
            "```\n# a comment in code, not a heading\n```\n## Travel\nTrains are fine.\n"
            "\nSetext Section\n--------------\nUnder setext.\n")
    blocks, title = read_markdown(text)
    assert title == "Handbook"
    got = [(b.heading_path, b.line_start, b.text.strip().split("\n")[0]) for b in blocks]
    assert got[0] == (["Handbook"], 5, "Intro.")
    assert got[1][0] == ["Handbook", "Leave", "Vacation"] and got[1][2] == "Employees get 25 days."
    assert "# a comment in code" in blocks[1].text  # fenced code is not split at '#'
    assert got[2][0] == ["Handbook", "Travel"]
    assert got[3][0] == ["Handbook", "Setext Section"]
    lines = text.split("\n")
    for b in blocks:  # line_start points at the block's first source line
        assert lines[b.line_start - 1] == b.text.split("\n")[0]


def test_html_keeps_headings_and_drops_scripts(tmp_path):
    p = tmp_path / "page.html"
    p.write_text("<html><head><title>Guide</title><script>var x = 'secret';</script></head><body>"
                 "<h1>Guide</h1><p>Welcome <b>all</b>.</p><h2>Setup</h2><ul><li>Install it</li><li>Run it</li></ul>"
                 "<h3>Linux</h3><p>Use apt.</p><h2>FAQ</h2><table><tr><td>Q</td><td>A</td></tr></table></body></html>")
    doc = _read(p).documents[0]
    assert doc.title == "Guide"
    paths = [b.heading_path for b in doc.blocks]
    assert paths == [["Guide"], ["Guide", "Setup"], ["Guide", "Setup", "Linux"], ["Guide", "FAQ"]]
    assert "Welcome all." in doc.blocks[0].text and "secret" not in " ".join(b.text for b in doc.blocks)
    assert "Install it" in doc.blocks[1].text and "Run it" in doc.blocks[1].text


def test_pdf_one_block_per_page(tmp_path):
    p = tmp_path / "report.pdf"
    p.write_bytes(make_pdf(["Page one talks about apples.", "Page two talks about pears.\nSecond line."]))
    doc = _read(p).documents[0]
    assert [b.page for b in doc.blocks] == [1, 2]
    assert "apples" in doc.blocks[0].text and "pears" in doc.blocks[1].text


def test_corrupt_encrypted_and_fake_pdfs_are_unreadable(tmp_path):
    from pypdf import PdfReader, PdfWriter

    good = make_pdf(["Some text here."])
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(good[: len(good) // 3])
    fake = tmp_path / "fake.pdf"
    fake.write_bytes(b"this is not a pdf at all")
    import io

    writer = PdfWriter()
    writer.add_page(PdfReader(io.BytesIO(good)).pages[0])
    writer.encrypt("secret")
    locked = tmp_path / "locked.pdf"
    with open(locked, "wb") as fh:
        writer.write(fh)
    for path, word in [(truncated, "PDF"), (fake, "not a PDF"), (locked, "encrypted")]:
        with pytest.raises(Unreadable) as info:
            _read(path)
        assert word in info.value.reason


def test_docx_headings_by_style_and_tables(tmp_path):
    p = make_docx(tmp_path / "policy.docx", "Travel Policy",
                  [(1, "Flights", ["Economy class for flights under 6 hours."]),
                   (2, "Exceptions", ["Business class needs approval."]),
                   (1, "Hotels", ["Up to 150 EUR per night."])],
                  table=[["City", "Limit"], ["Paris", "200"]])
    doc = _read(p).documents[0]
    assert doc.title == "Travel Policy"
    by_path = {tuple(b.heading_path): b.text for b in doc.blocks}
    assert "Economy class" in by_path[("Travel Policy", "Flights")]
    assert "approval" in by_path[("Travel Policy", "Flights", "Exceptions")]
    assert "Paris | 200" in by_path[("Travel Policy", "Hotels")]


def test_csv_and_jsonl_rows_are_documents(tmp_path):
    csv_path = tmp_path / "faq.csv"
    csv_path.write_text('id,question,answer\n7,"Refunds?","Within 30 days,\nwith receipt."\n8,Hours?,9 to 5\n9,Empty,\n')
    res = _read(csv_path, RowColumns(text="answer", title="question"))
    assert [d.doc_id for d in res.documents] == ["faq.csv#1", "faq.csv#2"]
    assert res.documents[0].title == "Refunds?" and res.documents[0].blocks[0].line_span == (2, 3)
    assert res.problems and "empty" in res.problems[0][1]
    by_id = _read(csv_path, RowColumns(text="answer", title="question", id="id"))
    assert [d.doc_id for d in by_id.documents] == ["faq.csv#7", "faq.csv#8"]
    jl = tmp_path / "c.jsonl"
    jl.write_text('{"_id": "a", "title": "T", "text": "alpha"}\nnot json\n{"_id": "b", "text": "beta"}\n')
    res = _read(jl, RowColumns(id="_id"))
    assert [d.doc_id for d in res.documents] == ["c.jsonl#a", "c.jsonl#b"]
    assert res.problems[0][0] == "c.jsonl:2"
    with pytest.raises(Unreadable, match="kb.text_column"):
        _read(csv_path)  # no 'text' column


def test_binary_and_unsupported_files(tmp_path):
    b = tmp_path / "blob.txt"
    b.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(Unreadable, match="binary"):
        _read(b)
    u = tmp_path / "x.xyz"
    u.write_text("hi")
    with pytest.raises(Unreadable, match="unsupported"):
        _read(u)
    cp = tmp_path / "legacy.txt"
    cp.write_bytes("caf\xe9 cr\xe8me".encode("cp1252"))
    assert _read(cp).documents[0].blocks[0].text == "café crème"
