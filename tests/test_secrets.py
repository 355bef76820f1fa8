"""A key goes only to the endpoint it was configured for: a real local stub records every header the
embeddings, answer and teacher clients send, with OPENAI_API_KEY and a Qdrant key in the environment."""
from __future__ import annotations

import asyncio

import pytest
from local_http import QuietHandler, read_json, send_json, serve

from tailorkit.config import build_config
from tailorkit.config.kb import KBConfig
from tailorkit.config.synth import TeacherConfig
from tailorkit.kb.answer import _generate_remote
from tailorkit.kb.embed import get_embedder
from tailorkit.synth.teacher import OpenAITeacher

USER_KEY, QDRANT_KEY, EMB_KEY = "sk-user-openai-secret", "qdrant-secret", "emb-secret"


class _Recorder(QuietHandler):
    seen: list[dict] = []

    def _record(self, body) -> None:
        type(self).seen.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self._record(None)
        send_json(self, 200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

    def do_POST(self) -> None:  # noqa: N802
        body = read_json(self)
        self._record(body)
        if self.path.endswith("/embeddings"):
            data = [{"object": "embedding", "index": i, "embedding": [1.0, float(len(t)), 2.0]}
                    for i, t in enumerate(body["input"])]
            return send_json(self, 200, {"object": "list", "data": data, "model": body["model"],
                                         "usage": {"prompt_tokens": 1, "total_tokens": 1}})
        send_json(self, 200, {"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                              "choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": "Meals are covered [1]."}}],
                              "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", USER_KEY)
    monkeypatch.setenv("QDRANT_KEY", QDRANT_KEY)
    monkeypatch.setenv("EMB_KEY", EMB_KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-user-account")  # the openai client sends these unasked
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-user-account")
    _Recorder.seen = []
    with serve(_Recorder) as url:
        yield url + "/v1"


def _sent(secret: str) -> list[str]:
    """Paths of recorded requests that carried `secret` in any header."""
    return [r["path"] for r in _Recorder.seen if any(secret in v for v in r["headers"].values())]


def _account_headers() -> list[str]:
    return [r["path"] for r in _Recorder.seen if {"openai-organization", "openai-project"} & set(r["headers"])]


def _auth() -> set[str]:
    return {r["headers"].get("authorization") for r in _Recorder.seen}


def test_a_third_party_embeddings_host_never_gets_openai_or_qdrant_keys(stub):
    get_embedder(KBConfig(embedder="openai:e", embed_base_url=stub)).embed_documents(["a", "bb"])
    # A Qdrant server's key (kb.api_key_env with kb.url set) is for the Qdrant server only.
    get_embedder(KBConfig(embedder="openai:e", embed_base_url=stub, url="http://127.0.0.1:6333",
                          api_key_env="QDRANT_KEY")).embed_query("c")
    assert len(_Recorder.seen) >= 3 and _sent(USER_KEY) == [] and _sent(QDRANT_KEY) == []
    assert _account_headers() == []
    assert _auth() == {"Bearer none"}


def test_the_configured_embeddings_key_is_sent(stub):
    get_embedder(KBConfig(embedder="openai:e", embed_base_url=stub, embed_api_key_env="EMB_KEY"))
    get_embedder(KBConfig(embedder="openai:e", embed_base_url=stub, api_key_env="EMB_KEY"))  # no Qdrant server
    assert _auth() == {f"Bearer {EMB_KEY}"} and _sent(USER_KEY) == []


def _answer(root, **kb) -> str:
    """One call of the answer endpoint client (what `tailor ask` uses when kb.answer_base_url is set)."""
    return _generate_remote(build_config({"kb": kb}, root=root), "m", [{"role": "user", "content": "Q?"}])


def test_answer_endpoint_and_teacher_get_no_unconfigured_key(stub, tmp_path):
    assert _answer(tmp_path, answer_base_url=stub, answer_model="m") == "Meals are covered [1]."
    teacher = OpenAITeacher(TeacherConfig(base_url=stub, model="m"))

    async def talk():
        await teacher.probe()
        return await teacher.complete([{"role": "user", "content": "hi"}], {})

    asyncio.run(talk())
    paths = [r["path"] for r in _Recorder.seen]
    assert "/v1/chat/completions" in paths and "/v1/models" in paths
    assert _sent(USER_KEY) == [] and _sent(QDRANT_KEY) == [] and _account_headers() == []
    _answer(tmp_path, answer_base_url=stub, answer_model="m", answer_api_key_env="EMB_KEY")
    assert _Recorder.seen[-1]["headers"]["authorization"] == f"Bearer {EMB_KEY}"


def test_openai_s_own_api_alone_gets_the_ambient_key(monkeypatch):
    from tailorkit.kb.remote import endpoint_key

    monkeypatch.setenv("OPENAI_API_KEY", USER_KEY)
    assert endpoint_key(None, "kb.embed_api_key_env", "https://api.openai.com/v1") == USER_KEY
    for url in ("https://api.openai.com.evil.example/v1", "http://127.0.0.1:8000/v1", "https://proxy.example/api.openai.com"):
        assert endpoint_key(None, "kb.embed_api_key_env", url) == "none"
