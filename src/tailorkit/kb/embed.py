"""Dense embedders for the knowledge base: sentence-transformers (bundled MiniLM or any path/Hub id)
or an OpenAI-compatible /v1/embeddings endpoint.

Every embedder returns float32, L2-normalised vectors so cosine similarity == dot product, whichever
backend produced them. Large batches show a progress bar.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import numpy as np

from ..config.kb import KBConfig
from ..errors import KBError
from ..progress import progress
from ..endpoints import OPENAI_API_URL
from .remote import endpoint_errors, endpoint_key, openai_client

_BAR_MIN = 256  # below this many texts a progress bar is noise


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0  # an all-zero vector (empty text) stays zero instead of becoming NaN
    return x / norms


@contextmanager
def _maybe_bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar for large jobs; silent for small ones or when the caller already shows a live bar."""
    from rich.errors import LiveError

    if total < _BAR_MIN:
        yield lambda n: None
        return
    bar = progress()
    try:
        bar.start()
    except LiveError:  # an outer stage (e.g. ingest) owns the live display; it reports progress itself
        yield lambda n: None
        return
    try:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
    finally:
        bar.stop()


class Embedder:
    """Base class. Subclasses implement `_embed(texts) -> array (n, dim)` for one batch."""

    name: str
    dim: int

    def _embed(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def embed_documents(self, texts: Sequence[str], batch_size: int = 64, *, description: str = "embedding") -> np.ndarray:
        """Embed many texts in batches -> float32 (n, dim), rows L2-normalised."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Batch texts of similar length together (longest first): far less padding, same vectors.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with _maybe_bar(description, len(texts)) as advance:
            for start in range(0, len(texts), batch_size):
                idx = order[start:start + batch_size]
                out[idx] = _normalise(self._embed([texts[i] for i in idx]))
                advance(len(idx))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query -> float32 (dim,), L2-normalised."""
        return _normalise(self._embed([text]))[0]


class SentenceTransformerEmbedder(Embedder):
    """The bundled all-MiniLM-L6-v2, a local sentence-transformers folder, or a Hub id."""

    def __init__(self, name: str, device: str | None = None) -> None:
        from ..embedders import load_sentence_transformer

        self.name = name
        self.model = load_sentence_transformer(name, device)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def _embed(self, texts: list[str]) -> np.ndarray:
        # One call per batch so our progress bar (not sentence-transformers') reports progress.
        return self.model.encode(texts, batch_size=len(texts), convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)


class OpenAIEmbedder(Embedder):
    """Any OpenAI-compatible /v1/embeddings endpoint (OpenAI, vLLM, Ollama, llama.cpp, TEI...)."""

    def __init__(self, model: str, base_url: str | None, api_key_env: str | None,
                 key_field: str = "kb.embed_api_key_env") -> None:
        """base_url None = api.openai.com (which alone may receive OPENAI_API_KEY); api_key_env names the
        variable holding this endpoint's key (see remote.py)."""
        if not base_url and not api_key_env and not os.environ.get("OPENAI_API_KEY"):
            raise KBError(f"embedder 'openai:{model}' needs an endpoint", where="tailor.yaml:kb.embed_base_url",
                          fix="set kb.embed_base_url to an OpenAI-compatible /v1 URL, or export OPENAI_API_KEY for api.openai.com")
        base_url = base_url or OPENAI_API_URL  # explicit, so the client never picks OPENAI_BASE_URL up on its own
        key = endpoint_key(api_key_env, key_field, base_url)
        self.name = f"openai:{model}"
        self.model = model
        self.client = openai_client(base_url, key, max_retries=3, timeout=120)
        self.dim = int(self._embed(["dimension probe"]).shape[1])

    def _embed(self, texts: list[str]) -> np.ndarray:
        import httpx

        # Empty strings are rejected by some servers; a single space embeds to "nothing" just as well.
        texts = [t if t.strip() else " " for t in texts]
        with endpoint_errors("embeddings", self.client.base_url, "kb.embed_base_url", "kb.embedder"):
            # The raw path: the SDK's parser raises a bare ValueError on a reply without data and an
            # AttributeError on a web page; _vectors checks the reply and says what was wrong.
            resp = self.client.post("/embeddings", body={"model": self.model, "input": texts}, cast_to=httpx.Response)
        return _vectors(resp, len(texts), self.client.base_url)


def embed_key_env(kb_cfg: KBConfig) -> tuple[str | None, str]:
    """The variable holding the embeddings endpoint's key, and the config field that named it.

    kb.embed_api_key_env when set. kb.api_key_env only while no Qdrant server is configured: it is
    the Qdrant server's key otherwise, and must not travel to the embeddings host.
    """
    if kb_cfg.embed_api_key_env:
        return kb_cfg.embed_api_key_env, "kb.embed_api_key_env"
    server = str(kb_cfg.url or "").startswith(("http://", "https://"))
    return (None, "kb.embed_api_key_env") if server else (kb_cfg.api_key_env, "kb.api_key_env")


def _vectors(resp, n: int, url) -> np.ndarray:
    """The vectors of an /embeddings reply in input order; anything but one vector per input is a KBError."""
    where, fix = "tailor.yaml:kb.embed_base_url", ("point kb.embed_base_url at an OpenAI-compatible /v1 URL: "
                                                   'POST /embeddings must answer {"data": [{"embedding": [...]}]}')
    try:
        body = resp.json()
    except ValueError:
        kind = resp.headers.get("content-type", "").split(";")[0] or "no content type"
        raise KBError(f"the embeddings endpoint {url} did not answer JSON ({kind})", where=where, fix=fix) from None
    rows = body.get("data") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not rows:
        raise KBError(f"the embeddings endpoint {url} answered without embedding data", where=where, fix=fix)
    try:
        rows = sorted(rows, key=lambda d: d.get("index", 0))  # the API may return them out of order
        vectors = np.asarray([_floats(r["embedding"]) for r in rows], dtype=np.float32)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise KBError(f"the embeddings endpoint {url} answered with malformed embeddings ({type(exc).__name__})",
                      where=where, fix=fix) from None
    if vectors.ndim != 2 or len(vectors) != n or not vectors.shape[1]:
        raise KBError(f"the embeddings endpoint returned {len(rows)} vectors for {n} texts",
                      fix="check the server; it must return one embedding per input")
    return vectors


def _floats(embedding) -> np.ndarray:
    """A float list, or the base64 float32 form some servers send."""
    if isinstance(embedding, str):
        import base64

        return np.frombuffer(base64.b64decode(embedding), dtype=np.float32)
    return np.asarray(embedding, dtype=np.float32)

def get_embedder(kb_cfg: KBConfig) -> Embedder:
    """The embedder named by kb.embedder: 'openai:<model>' for an endpoint, else sentence-transformers."""
    name = kb_cfg.embedder
    if name.startswith("openai:"):
        env, field = embed_key_env(kb_cfg)
        return OpenAIEmbedder(name.split(":", 1)[1], kb_cfg.embed_base_url, env, field)
    return SentenceTransformerEmbedder(name)
