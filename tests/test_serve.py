"""`tailor serve` speaks the OpenAI protocol: a real uvicorn server, the official openai client."""
from __future__ import annotations

import threading
import time

import pytest
from local_http import free_port

from tailorkit.config import build_config


@pytest.fixture
def server(tiny_model_dir, tmp_path, monkeypatch):
    import uvicorn

    from tailorkit.serve.app import create_app

    monkeypatch.setenv("TEST_SERVE_KEY", "sekrit")
    cfg = build_config({"model": {"base": str(tiny_model_dir)}, "generation": {"max_new_tokens": 8},
                        "serve": {"api_key_env": "TEST_SERVE_KEY"}}, root=tmp_path)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(cfg), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    srv.should_exit = True
    thread.join(timeout=10)


def test_chat_completion_with_the_openai_client(server):
    import openai

    client = openai.OpenAI(base_url=server, api_key="sekrit")
    assert [m.id for m in client.models.list().data] == ["base", "kb"]  # no run yet -> no tuned model
    resp = client.chat.completions.create(model="base", messages=[{"role": "user", "content": "a girl on roller skates"}],
                                          max_tokens=5)
    choice = resp.choices[0]
    assert isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert 0 < resp.usage.completion_tokens <= 5 and resp.usage.prompt_tokens > 3


def test_streaming_gives_the_same_text(server):
    import openai

    client = openai.OpenAI(base_url=server, api_key="sekrit")
    msgs = [{"role": "user", "content": "steampunk car"}]
    full = client.chat.completions.create(model="base", messages=msgs, max_tokens=6).choices[0].message.content
    parts = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="base", messages=msgs, max_tokens=6, stream=True) if c.choices]
    assert "".join(parts) == full


def test_errors_follow_the_openai_shape(server):
    import openai

    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server, api_key="wrong").models.list()
    client = openai.OpenAI(base_url=server, api_key="sekrit", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="available: base"):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="base", messages=[])
