"""Chunking: token budgets in the embedder's tokenizer, overlap, separators, heading paths, line ranges."""
from __future__ import annotations

from pathlib import Path

from tailorkit.kb.chunking import chunk_document, embedding_text, split_block, token_counter
from tailorkit.kb.readers import Block, Document, read_source


def _counter():
    return token_counter("all-minilm-l6-v2")


def _doc(text: str, doc_id: str = "notes.txt") -> Document:
    return Document(doc_id, Path(doc_id), "h", [Block(text, line_start=1)])


def test_uses_the_embedders_wordpiece_tokenizer():
    c = _counter()
    assert c.name == "all-minilm-l6-v2"
    assert len(c.starts("Tokenization isn't whitespace")) > 3  # word pieces, not words


def test_chunks_fit_the_budget_with_heading_context_and_overlap():
    c = _counter()
    sentences = [f"Clause {i} says the tenant must water plant number {i} weekly." for i in range(80)]
    md = "# Lease\n\n## Duties of the tenant\n\n" + " ".join(sentences) + "\n"
    doc = read_source(Path("lease.md"), "lease.md", md.encode()).documents[0]
    chunks = chunk_document(doc, c, size=64, overlap=16)
    assert len(chunks) > 5
    for ch in chunks:
        assert len(c.starts(embedding_text(ch))) <= 64  # heading path counted inside the budget
        assert ch.heading_path == ["Lease", "Duties of the tenant"]
        assert embedding_text(ch).startswith("Lease > Duties of the tenant\n\n")
        assert not ch.text.startswith("Lease")  # the payload text is the document's own text
    for a, b in zip(chunks, chunks[1:]):
        tail = a.text.split(". ")[-1]
        assert tail and tail in b.text  # each chunk starts with the end of the previous one
    # split at sentence ends (the separator above word), not mid-sentence, apart from overlap starts
    assert all(ch.text.endswith(".") for ch in chunks)
    covered = " ".join(ch.text for ch in chunks)
    assert all(s in covered for s in sentences)


def test_paragraphs_preferred_over_lines_and_huge_words_hard_cut():
    c = _counter()
    paras = ["First paragraph line one.\nline two.", "Second paragraph is here.", "Third one."]
    spans = split_block(Block("\n\n".join(paras)), c, size=12, overlap=0)
    assert [t for t, _, _ in spans] == ["First paragraph line one.\nline two.", "Second paragraph is here.\n\nThird one."]
    long_word = "id," * 1000  # no whitespace at all: only a hard token cut can split it
    spans = split_block(Block(long_word), c, size=50, overlap=0)
    assert len(spans) > 1 and "".join(t for t, _, _ in spans) == long_word
    assert all(len(c.starts(t)) <= 50 for t, _, _ in spans)


def test_line_ranges_and_deterministic_ids():
    c = _counter()
    text = "\n".join(f"Line {i} of the log says event {i} happened at noon." for i in range(1, 41))
    chunks = chunk_document(_doc(text), c, size=40, overlap=0)
    lines = text.split("\n")
    for ch in chunks:
        first, last = ch.text.split("\n")[0], ch.text.split("\n")[-1]
        assert lines[ch.line_start - 1] == first and lines[ch.line_end - 1] == last
    assert chunks[0].line_start == 1 and chunks[-1].line_end == 40
    again = chunk_document(_doc(text), c, size=40, overlap=0)
    assert [x.id for x in chunks] == [x.id for x in again]
    assert chunks[0].title == "notes"  # file name as context when the document has no title
