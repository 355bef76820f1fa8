"""The `kb:` section (owned by the kb package; extend here additively).

Store location, embedder, BM25 parameters and fusion settings for search. Search defaults were
measured on the SciFact *train* split only (benchmarks/bench_kb_scifact.py) and are standard values,
not fitted ones: BM25 k1=0.9, b=0.4 (the Anserini/Pyserini defaults for passages; chunks are near
uniform in length, so strong length normalisation mostly over-rewards short tail chunks) and
weighted fusion of min-max-normalised scores with equal weights, which beat reciprocal-rank fusion
by about 0.01-0.02 nDCG@10 at every chunking tried.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class KBConfig(Section):
    """Knowledge base: embedded Qdrant Edge in a project folder, or a Qdrant server when url is set."""

    path: str = Field(".tailor/kb", description="folder of the embedded store, relative to tailor.yaml")
    url: str | None = Field(
        None,
        description="unset = embedded Qdrant Edge in `path`; http(s)://host:6333 = a Qdrant server; "
                    "':memory:' or 'local:<dir>' = qdrant-client local mode (tests, small setups)",
    )
    api_key_env: str | None = Field(
        None, description="environment variable holding the API key for the Qdrant server (kb.url); with no Qdrant "
                          "server, also the key for the embeddings endpoint when embed_api_key_env is unset"
    )
    embed_api_key_env: str | None = Field(
        None, description="environment variable holding the API key for the embeddings endpoint. Unset: no key is "
                          "sent, except OPENAI_API_KEY when the endpoint is api.openai.com (embed_base_url unset)"
    )
    collection: str = Field("tailor", description="collection name")
    embedder: str = Field("all-minilm-l6-v2", description="bundled name, sentence-transformers path, or openai:<model>")
    embed_base_url: str | None = Field(
        None, description="OpenAI-compatible base URL for embedder 'openai:<model>' (e.g. http://localhost:8000/v1)"
    )
    embed_batch_size: int = Field(64, ge=1, description="texts per embedding batch")
    bm25_k1: float = Field(0.9, ge=0.0, description="BM25 term-frequency saturation k1")
    bm25_b: float = Field(0.4, ge=0.0, le=1.0, description="BM25 length normalisation b (0 = none, 1 = full)")
    bm25_avgdl: float | None = Field(
        None, gt=0.0,
        description="average chunk length in BM25 tokens for length normalisation; unset = 0.4 x chunk_size (stopwords "
                    "dropped, about 74 for 200-token SciFact chunks). Fixed rather than measured so that incremental "
                    "ingest never has to rescale chunks already stored",
    )
    bm25_stem: bool = Field(True, description="Snowball (Porter2) stemming of BM25 terms")
    bm25_stopwords: bool = Field(True, description="drop English stopwords from BM25 terms")
    fusion: Literal["rrf", "weighted"] = Field(
        "weighted", description="hybrid fusion: weighted (min-max-normalised scores, dense_weight) | rrf (reciprocal rank, rrf_k)"
    )
    rrf_k: int = Field(60, ge=1, description="RRF constant k: score = sum 1/(k + rank)")
    dense_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="share of the dense retriever in hybrid fusion (BM25 gets 1 - dense_weight)"
    )
    candidates: int = Field(100, ge=1, description="hits fetched from each retriever before fusion")
    # --- ingest (kb/readers.py, kb/chunking.py, kb/ingest.py) ---
    chunk_size: int = Field(
        200, ge=16,
        description="chunk size in tokens of the embedder's tokenizer, heading context included (MiniLM reads at most 256)",
    )
    chunk_overlap: int = Field(30, ge=0, description="tokens repeated from the end of one chunk at the start of the next")
    ingest_batch: int = Field(
        256, ge=1, description="chunks embedded and written per ingest step (a crash redoes at most one step)"
    )
    text_column: str = Field("text", description="CSV/TSV/JSONL: the column holding each row's text (each row is a document)")
    title_column: str | None = Field("title", description="CSV/TSV/JSONL: optional column with each row's title")
    id_column: str | None = Field(
        None, description="CSV/TSV/JSONL: optional column with a stable row id (document id path#id); unset = row number"
    )
    # --- answers (kb/answer.py, `tailor ask`) ---
    top_k: int = Field(5, ge=1, description="sources retrieved for an answer")
    min_score: float = Field(
        0.35, ge=-1.0, le=1.0,
        description="minimum dense cosine similarity between the question and a source for it to count as relevant; "
                    "when no hit reaches it, ask says the knowledge base has no answer. 0.35 for all-minilm-l6-v2 keeps "
                    "93% of answerable SciFact claims and refuses 97% of off-topic questions "
                    "(benchmarks/bench_kb_min_score.py); recalibrate for other embedders",
    )
    answer_model: str = Field(
        "smollm2-135m", description="model that writes answers: bundled name, local folder, Hub id, a run's adapter folder, "
                                    "or the model name sent to answer_base_url"
    )
    answer_base_url: str | None = Field(None, description="OpenAI-compatible base URL for answers; unset = generate locally")
    answer_api_key_env: str | None = Field(None, description="environment variable holding the API key for answer_base_url")
    answer_mode: Literal["auto", "generative", "extractive"] = Field(
        "auto", description="generative = the model's answer as written; extractive = the retrieved sentences that "
                            "best answer the question, each cited (no model call); auto = the model's answer when it "
                            "is grounded in its sources, else extractive")
    grounding_min: float = Field(
        0.6, ge=0.0, le=1.0, description="auto mode: share of a generated answer's new content words (beyond the "
                                         "question) that the sources must contain for it to count as grounded")
