"""Knowledge-base data shapes shared by ingest, store, search and answer.

A Document has a stable id (its path relative to the ingest root, or the given id) and a content hash.
A Chunk keeps its text, its position in the document, the heading path, the page (PDF) or line range,
tags given at ingest, and the document's id and hash.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

_NS = uuid.UUID("6f1c2a8e-4b7d-4c55-9a57-3f1e2d9c0b11")


@dataclass
class Chunk:
    doc_id: str
    doc_hash: str
    position: int
    text: str
    heading_path: list[str] = field(default_factory=list)
    page: int | None = None
    line_start: int | None = None
    line_end: int | None = None
    tags: list[str] = field(default_factory=list)
    title: str | None = None

    @property
    def id(self) -> str:
        """Deterministic point id: the same chunk of the same document version always maps to one id."""
        return str(uuid.uuid5(_NS, f"{self.doc_id}\x00{self.doc_hash}\x00{self.position}"))

    def payload(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id, "doc_hash": self.doc_hash, "position": self.position, "text": self.text,
            "heading_path": self.heading_path, "page": self.page, "line_start": self.line_start,
            "line_end": self.line_end, "tags": self.tags, "title": self.title,
        }

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> "Chunk":
        return cls(**{k: p.get(k) for k in ("doc_id", "doc_hash", "position", "text", "page", "line_start",
                                             "line_end", "title")},
                   heading_path=list(p.get("heading_path") or []), tags=list(p.get("tags") or []))

    def citation(self) -> str:
        """Human-readable location: path, page or lines."""
        if self.page is not None:
            return f"{self.doc_id}, page {self.page}"
        if self.line_start is not None:
            return f"{self.doc_id}:{self.line_start}-{self.line_end}"
        return self.doc_id


@dataclass
class Hit:
    """A search result. `score` is the ranking score of the mode that produced it (cosine for dense, BM25
    for bm25, the fused score for hybrid); hybrid hits also carry each retriever's own score (None when
    that retriever did not return the chunk), e.g. for a relevance threshold on the cosine."""

    chunk: Chunk
    score: float
    dense_score: float | None = None
    bm25_score: float | None = None
