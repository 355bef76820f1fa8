"""BM25 sparse vectors: the store's sparse search equals a plain BM25 computed by hand, on both backends."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from tailorkit.config.kb import KBConfig
from tailorkit.kb.sparse import BM25Encoder, term_id
from tailorkit.kb.store import open_store
from tailorkit.kb.types import Chunk

CORPUS = [
    "The mitochondria is the powerhouse of the cell.",
    "Cells divide by mitosis; mitosis has four phases.",
    "Insulin regulates glucose uptake in muscle cells and fat cells.",
    "Glucose is stored as glycogen in the liver.",
    "The liver also produces bile, which helps digest fat.",
    "Running increases glucose uptake by muscles.",
]
QUERIES = ["glucose uptake in muscle", "liver fat", "cell division mitosis", "the powerhouse"]


def reference_bm25(enc: BM25Encoder, docs: list[str], query: str) -> list[float]:
    """Textbook Okapi BM25 with Lucene's idf, over the encoder's own tokens."""
    toks = [enc.tokens(d) for d in docs]
    n = len(docs)
    df = Counter(t for ts in toks for t in set(ts))
    scores = []
    for ts in toks:
        tf = Counter(ts)
        s = 0.0
        for q in enc.tokens(query):
            if q not in tf:
                continue
            idf = math.log(1 + (n - df[q] + 0.5) / (df[q] + 0.5))
            s += idf * tf[q] * (enc.k1 + 1) / (tf[q] + enc.k1 * (1 - enc.b + enc.b * len(ts) / enc.avgdl))
        scores.append(s)
    return scores


def test_tokens_lowercase_stem_and_drop_stopwords():
    enc = BM25Encoder()
    assert enc.tokens("The Cells are DIVIDING, cell-division!") == ["cell", "divid", "cell", "divis"]
    assert BM25Encoder(stem=False, stopwords=False).tokens("The Cells") == ["the", "cells"]
    assert enc.tokens("Größe über Maß") == ["größe", "über", "maß"]  # unicode words survive
    assert term_id("cell") == term_id("cell") and 0 <= term_id("cell") < 2**32


def test_document_weights_saturate_and_normalise_length():
    enc = BM25Encoder(k1=1.2, b=0.75, avgdl=4)
    one = enc.encode_document("glucose")
    many = enc.encode_document("glucose glucose glucose glucose")
    assert len(one) == 1 and many.values[0] > one.values[0]  # more occurrences, more weight...
    assert many.values[0] < enc.k1 + 1  # ...but saturating below k1 + 1
    long = enc.encode_document("glucose " + " ".join(f"w{i}" for i in range(20)))
    assert dict(zip(long.indices, long.values))[term_id("glucos")] < one.values[0]  # longer doc, lower weight
    q = enc.encode_query("glucose glucose liver")
    assert dict(zip(q.indices, q.values)) == {term_id("glucos"): 2.0, term_id("liver"): 1.0}
    assert len(enc.encode_document("the of and")) == 0


@pytest.mark.parametrize("url", [None, ":memory:"])
def test_store_sparse_scores_equal_reference_bm25(tmp_path, url):
    enc = BM25Encoder(k1=1.2, b=0.75, avgdl=float(np.mean([BM25Encoder().doc_length(d) for d in CORPUS])))
    store = open_store(KBConfig(path=str(tmp_path / "kb"), url=url, embedder="fake"), tmp_path, 4)
    try:
        chunks = [Chunk(doc_id=f"d{i}", doc_hash="h", position=0, text=t) for i, t in enumerate(CORPUS)]
        store.upsert(chunks, np.eye(len(CORPUS), 4, dtype=np.float32) + 0.1, [enc.encode_document(t) for t in CORPUS])
        for q in QUERIES:
            ref = reference_bm25(enc, CORPUS, q)
            hits = store.search_sparse(enc.encode_query(q), k=len(CORPUS))
            got = {h.chunk.doc_id: h.score for h in hits}
            expected = {f"d{i}": s for i, s in enumerate(ref) if s > 0}
            assert got.keys() == expected.keys()
            for doc_id, score in expected.items():
                assert got[doc_id] == pytest.approx(score, rel=1e-4)
    finally:
        store.close()
