"""`tailor serve` speaks the OpenAI protocol: a real uvicorn server, the official openai client."""
from __future__ import annotations

import pytest
from serve_fixtures import one_thread, running, tiny_config  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def server(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_SERVE_KEY", "sekrit")
    with running(tiny_config(tiny_model_dir, tmp_path, api_key_env="TEST_SERVE_KEY")) as (url, _):
        yield url


def test_chat_completion_with_the_openai_client(server):
    import openai

    client = openai.OpenAI(base_url=server, api_key="sekrit")
    assert [m.id for m in client.models.list().data] == ["base", "all-minilm-l6-v2"]  # no run, no kb yet
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
