"""Embedders: the bundled MiniLM, and an OpenAI-compatible /v1/embeddings endpoint served by a real local
HTTP server started here (batching, order, normalisation, errors)."""
from __future__ import annotations

import numpy as np
import pytest
from local_http import QuietHandler, free_port, read_json, send_json, serve

from tailorkit.config.kb import KBConfig
from tailorkit.errors import KBError
from tailorkit.kb.embed import get_embedder


class _Handler(QuietHandler):
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = read_json(self)
        type(self).requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if body["model"] == "broken":
            return send_json(self, 400, {"error": {"message": "no such model"}})
        texts = body["input"]
        # Vector = (len, vowels, 3) unnormalised, returned in reverse order to test re-sorting by index.
        data = [{"object": "embedding", "index": i,
                 "embedding": [float(len(t)), float(sum(c in "aeiou" for c in t)), 3.0]} for i, t in enumerate(texts)]
        payload = {"object": "list", "data": data[::-1], "model": body["model"],
                   "usage": {"prompt_tokens": 1, "total_tokens": 1}}
        send_json(self, 200, payload)


@pytest.fixture
def server():
    _Handler.requests = []
    with serve(_Handler) as url:
        yield url + "/v1"


def test_openai_embedder_batches_reorders_and_normalises(server, monkeypatch):
    monkeypatch.setenv("EMB_KEY", "secret")
    emb = get_embedder(KBConfig(embedder="openai:tiny-embed", embed_base_url=server, api_key_env="EMB_KEY"))
    assert emb.name == "openai:tiny-embed" and emb.dim == 3
    texts = ["a", "hello there", "", "xyz", "banana"]
    vecs = emb.embed_documents(texts, batch_size=2)
    assert vecs.shape == (5, 3) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0)
    expected = np.array([[len(t or " "), sum(c in "aeiou" for c in t), 3.0] for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(vecs, expected, atol=1e-6)  # right vector for the right text despite reversed replies
    calls = [r for r in _Handler.requests if r["path"].endswith("/embeddings")]
    assert [len(r["body"]["input"]) for r in calls] == [1, 2, 2, 1]  # probe, then batches of 2
    assert calls[-1]["auth"] == "Bearer secret"
    assert emb.embed_query("hello there").shape == (3,)


def test_openai_embedder_errors_are_kberrors(server, monkeypatch):
    with pytest.raises(KBError, match="answered 400"):
        get_embedder(KBConfig(embedder="openai:broken", embed_base_url=server))
    monkeypatch.delenv("MISSING_KEY", raising=False)
    with pytest.raises(KBError, match="MISSING_KEY"):
        get_embedder(KBConfig(embedder="openai:x", embed_base_url=server, api_key_env="MISSING_KEY"))
    cfg = KBConfig(embedder="openai:x", embed_base_url=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(KBError, match="cannot reach the embeddings endpoint"):
        get_embedder(cfg)


def test_bundled_minilm_is_normalised_float32():
    emb = get_embedder(KBConfig())
    vecs = emb.embed_documents(["a cat sat on the mat", "stock markets fell sharply"])
    assert vecs.shape == (2, emb.dim) == (2, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    q = emb.embed_query("a kitten on a rug")
    assert float(q @ vecs[0]) > float(q @ vecs[1])
    assert emb.embed_documents([]).shape == (0, 384)
