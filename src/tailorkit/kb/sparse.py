"""BM25 as sparse vectors, so the vector store can score it next to the dense vectors.

score(q, d) = sum over query terms t of  idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))

The document side (everything after idf) is computed here and stored as the sparse vector's values;
the query side is the term counts; idf(t) = ln(1 + (N - n_t + 0.5) / (n_t + 0.5)) is applied by
Qdrant's `modifier: idf` over the live collection, so it stays right as documents come and go.
Term ids are a stable 32-bit hash (CRC32) of the normalised token: no vocabulary file to keep.
"""
from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from ..config.kb import KBConfig

_WORD = re.compile(r"\w+", re.UNICODE)

# The NLTK English list minus negations ("no", "not", "nor") and their contractions: in claims and
# policies they flip the meaning, and BM25 can use them.
STOPWORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
herself it its itself they them their theirs themselves what which who whom this that these those am is
are was were be been being have has had having do does did doing a an the and but if or because as until
while of at by for with about against between into through during before after above below to from up
down in out on off over under again further then once here there when where why how all any both each
few more most other some such only own same so than too very s t can will just don should now d ll m o
re ve y
""".split())


@dataclass
class SparseVec:
    """A sparse vector: parallel lists of term ids (uint32) and weights."""

    indices: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.indices)


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


@lru_cache(maxsize=200_000)
def term_id(token: str) -> int:
    """Stable 32-bit id of a normalised token (the same on every machine and Python version)."""
    return zlib.crc32(token.encode("utf-8"))


class BM25Encoder:
    """Tokenise and weight text for BM25. One instance per (k1, b, avgdl, stem, stopwords) setting."""

    def __init__(self, k1: float = 0.9, b: float = 0.4, avgdl: float = 80.0, *,
                 stem: bool = True, stopwords: bool = True) -> None:
        if avgdl <= 0:
            raise ValueError("avgdl must be positive")
        self.k1, self.b, self.avgdl = float(k1), float(b), float(avgdl)
        self.stem, self.stopwords = stem, stopwords

    def tokens(self, text: str) -> list[str]:
        """Lowercased unicode words, minus stopwords, stemmed (as configured)."""
        words = _WORD.findall(text.lower())
        if self.stopwords:
            words = [w for w in words if w not in STOPWORDS]
        if self.stem:
            words = [_stem(w) for w in words]
        return words

    def doc_length(self, text: str) -> int:
        return len(self.tokens(text))

    def _counts(self, text: str) -> tuple[Counter, int]:
        toks = self.tokens(text)
        # Count by id, not by token: on the (rare) CRC collision two terms simply share a dimension.
        return Counter(term_id(t) for t in toks), len(toks)

    def encode_document(self, text: str) -> SparseVec:
        """BM25 document weights (tf saturation with length normalisation; idf is applied at query time)."""
        counts, dl = self._counts(text)
        if not counts:
            return SparseVec()
        norm = self.k1 * (1.0 - self.b + self.b * dl / self.avgdl)
        ids = sorted(counts)
        return SparseVec(ids, [counts[i] * (self.k1 + 1.0) / (counts[i] + norm) for i in ids])

    def encode_query(self, text: str) -> SparseVec:
        """Query term counts (a repeated query word counts twice, as in classic BM25)."""
        counts, _ = self._counts(text)
        ids = sorted(counts)
        return SparseVec(ids, [float(counts[i]) for i in ids])


AVGDL_PER_CHUNK_TOKEN = 0.4  # BM25 tokens per embedder token in a full chunk (stopwords dropped; SciFact, docs)


def default_avgdl(kb_cfg: KBConfig) -> float:
    """kb.bm25_avgdl, or an estimate from the chunk size (chunks are near uniform in length)."""
    if kb_cfg.bm25_avgdl:
        return kb_cfg.bm25_avgdl
    return AVGDL_PER_CHUNK_TOKEN * float(getattr(kb_cfg, "chunk_size", 200))


def sparse_encoder(kb_cfg: KBConfig | None = None, avgdl: float | None = None) -> BM25Encoder:
    """The BM25 encoder configured by the `kb:` section (what ingest writes and search queries with)."""
    kb_cfg = kb_cfg or KBConfig()
    return BM25Encoder(kb_cfg.bm25_k1, kb_cfg.bm25_b, avgdl or default_avgdl(kb_cfg),
                       stem=kb_cfg.bm25_stem, stopwords=kb_cfg.bm25_stopwords)


@lru_cache(maxsize=1)
def _default() -> BM25Encoder:
    return sparse_encoder()


def encode_document(text: str, kb_cfg: KBConfig | None = None) -> SparseVec:
    """BM25 document vector with the given (or default) kb settings."""
    return (sparse_encoder(kb_cfg) if kb_cfg is not None else _default()).encode_document(text)


def encode_query(text: str, kb_cfg: KBConfig | None = None) -> SparseVec:
    """BM25 query vector with the given (or default) kb settings."""
    return (sparse_encoder(kb_cfg) if kb_cfg is not None else _default()).encode_query(text)
