"""Token-aware recursive chunking with overlap; heading paths and page / line ranges kept per chunk.

Sizes are counted in tokens of the embedder's own tokenizer (MiniLM reads at most 256 word pieces,
so a 200-token chunk plus its heading context still fits). Each block of a document is split at the
coarsest separator that makes pieces fit (paragraph > line > sentence > word > hard token cut), the
pieces are packed greedily up to the budget, and each new chunk starts with about `overlap` tokens
taken from the end of the previous one (cut at a sentence boundary when possible, else a word).

The heading path (and title) is embedded with the chunk for context but kept separately in the
payload, so snippets and citations show the document's own text.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from .types import Chunk
from .readers import Block, Document

_SEPARATORS = [
    re.compile(r"\n[ \t]*\n\s*"),                    # paragraph
    re.compile(r"\n"),                               # line
    re.compile(r"(?<=[.!?;\u3002\uff01\uff1f])[\"')\]\u201d\u2019]*\s+"),  # sentence
    re.compile(r"\s+"),                              # word
]
_SENTENCE, _WORD = 2, 3


class TokenCounter(Protocol):
    """Gives the character offset where each token of a text starts."""

    name: str

    def starts(self, text: str) -> list[int]: ...


class HFTokenCounter:
    """Exact counts from a Hugging Face fast tokenizer file (tokenizer.json)."""

    def __init__(self, tokenizer_json: Path, name: str) -> None:
        from tokenizers import Tokenizer

        self.name = name
        self._tok = Tokenizer.from_file(str(tokenizer_json))
        self._tok.no_truncation()  # the file ships with max_length=128; we count whole blocks
        self._tok.no_padding()

    def starts(self, text: str) -> list[int]:
        return [start for start, _ in self._tok.encode(text, add_special_tokens=False).offsets]


class ApproxTokenCounter:
    """For embedders whose tokenizer is not local (openai:*): words and punctuation marks, about
    one BPE token each for English prose."""

    name = "approx"
    _TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)

    def starts(self, text: str) -> list[int]:
        return [m.start() for m in self._TOKEN.finditer(text)]


@lru_cache(maxsize=4)
def token_counter(embedder: str) -> TokenCounter:
    """The tokenizer of the configured embedder when it is local, else the approximate counter."""
    if embedder.startswith("openai:"):
        return ApproxTokenCounter()
    from ..embedders import resolve_embedder

    try:
        folder = Path(resolve_embedder(embedder))
    except Exception:
        return ApproxTokenCounter()
    if (folder / "tokenizer.json").exists():
        return HFTokenCounter(folder / "tokenizer.json", embedder)
    return ApproxTokenCounter()


def context_prefix(heading_path: list[str], title: str | None) -> str:
    """'Title > Section > Subsection': what a chunk is about, embedded in front of its text."""
    parts = list(heading_path)
    if title and (not parts or parts[0] != title):
        parts.insert(0, title)
    return " > ".join(p for p in parts if p)


def embedding_text(chunk: Chunk) -> str:
    """The text that is embedded (dense and BM25) for a chunk: context prefix + chunk text."""
    prefix = context_prefix(chunk.heading_path, chunk.title)
    return f"{prefix}\n\n{chunk.text}" if prefix else chunk.text


class _Spans:
    """Token counts of character spans of one text, from its token start offsets (O(log n) each)."""

    def __init__(self, text: str, counter: TokenCounter) -> None:
        self.text = text
        self.starts = counter.starts(text)

    def count(self, a: int, b: int) -> int:
        return bisect_left(self.starts, b) - bisect_left(self.starts, a)

    def cuts(self, a: int, b: int, level: int) -> list[int]:
        """Positions inside (a, b) where the text may be cut at this separator level."""
        return [m.end() for m in _SEPARATORS[level].finditer(self.text, a, b) if a < m.end() < b]

    def split(self, a: int, b: int, budget: int, level: int = 0) -> list[tuple[int, int]]:
        """Recursively split [a, b) into contiguous pieces of at most `budget` tokens."""
        if self.count(a, b) <= budget:
            return [(a, b)]
        if level >= len(_SEPARATORS):  # one 'word' longer than the budget (a URL, a table row)
            i0, i1 = bisect_left(self.starts, a), bisect_left(self.starts, b)
            edges = [a] + [self.starts[i] for i in range(i0 + budget, i1, budget)] + [b]
            return list(zip(edges[:-1], edges[1:]))
        cuts = self.cuts(a, b, level)
        if not cuts:
            return self.split(a, b, budget, level + 1)
        edges = [a, *cuts, b]
        out: list[tuple[int, int]] = []
        for s, e in zip(edges[:-1], edges[1:]):
            out.extend(self.split(s, e, budget, level + 1))
        return out

    def overlap_start(self, a: int, b: int, overlap: int, limit_end: int, budget: int) -> int | None:
        """Earliest sentence (else word) boundary in (a, b) leaving <= overlap tokens before b,
        such that the next chunk [start, limit_end) still fits the budget."""
        if overlap <= 0:
            return None
        for level in (_SENTENCE, _WORD):
            for cut in self.cuts(a, b, level):
                if self.count(cut, b) <= overlap and self.count(cut, limit_end) <= budget:
                    if self.count(cut, b) > 0:
                        return cut
                    break
        return None

    def pack(self, pieces: list[tuple[int, int]], budget: int, overlap: int) -> list[tuple[int, int]]:
        """Greedily pack contiguous pieces into chunks of <= budget tokens, with overlap."""
        chunks: list[tuple[int, int]] = []
        i, start = 0, pieces[0][0] if pieces else 0
        while i < len(pieces):
            j = i
            while j + 1 < len(pieces) and self.count(start, pieces[j + 1][1]) <= budget:
                j += 1
            end = pieces[j][1]
            chunks.append((start, end))
            i = j + 1
            if i < len(pieces):
                ov = self.overlap_start(start, end, overlap, pieces[i][1], budget)
                start = ov if ov is not None else pieces[i][0]
        return chunks


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def split_block(block: Block, counter: TokenCounter, size: int, overlap: int,
                prefix_tokens: int = 0) -> list[tuple[str, int, int]]:
    """(text, start, end) character spans of one block's chunks, trimmed of surrounding whitespace."""
    budget = max(size - prefix_tokens, max(size // 2, 8))
    spans = _Spans(block.text, counter)
    a, b = _trim(block.text, 0, len(block.text))
    if a >= b:
        return []
    pieces = spans.split(a, b, budget)
    out = []
    for s, e in spans.pack(pieces, budget, min(overlap, budget // 2)):
        s, e = _trim(block.text, s, e)
        if s < e:
            out.append((block.text[s:e], s, e))
    return out


def chunk_document(doc: Document, counter: TokenCounter, size: int = 200, overlap: int = 30,
                   tags: list[str] | None = None) -> list[Chunk]:
    """All chunks of a document, positions numbered from 0 across its blocks."""
    title = doc.title
    if title is None and "#" not in doc.doc_id:  # a file name often says what a document is about
        title = Path(doc.doc_id).stem.replace("_", " ").replace("-", " ").strip() or None
    chunks: list[Chunk] = []
    for block in doc.blocks:
        prefix = context_prefix(block.heading_path, title)
        prefix_tokens = len(counter.starts(prefix)) if prefix else 0
        for text, s, e in split_block(block, counter, size, overlap, prefix_tokens):
            line_start = line_end = None
            if block.line_span is not None:
                line_start, line_end = block.line_span
            elif block.line_start is not None:
                line_start = block.line_start + block.text.count("\n", 0, s)
                line_end = block.line_start + block.text.count("\n", 0, e)
            chunks.append(Chunk(doc_id=doc.doc_id, doc_hash=doc.doc_hash, position=len(chunks), text=text,
                                heading_path=list(block.heading_path), page=block.page,
                                line_start=line_start, line_end=line_end, tags=list(tags or []), title=title))
    return chunks
