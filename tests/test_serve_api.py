"""The server under real clients (openai sync/async/streaming, LangChain's ChatOpenAI, raw httpx):
every model name, batching, cancellation, limits, and every bad input a clear 4xx with the server up."""
from __future__ import annotations

import asyncio
import json
import time

import httpx
import numpy as np
import pytest
from serve_fixtures import LONG, one_thread, running  # noqa: F401  (fixture)
from test_kb_answer import write_corpus

from tailorkit.config import build_config

pytestmark = pytest.mark.usefixtures("one_thread")


def _adapter(cfg, run: str) -> None:
    from peft import LoraConfig, get_peft_model

    from tailorkit.infer.loading import load_base
    from tailorkit.train.load import save_tuned

    model, tok = load_base(cfg, device="cpu")
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    save_tuned(model, tok, cfg.path(cfg.runs_dir) / run / "adapter", cfg)


@pytest.fixture(scope="module")
def project(tiny_model_dir, tmp_path_factory):
    from tailorkit.kb.ingest import kb_add

    root = tmp_path_factory.mktemp("serve-project")
    cfg = build_config({"model": {"base": str(tiny_model_dir)}, "train": {"run_name": "demo"},
                        "generation": LONG, "kb": {"answer_model": str(tiny_model_dir)},
                        "serve": {"max_batch_size": 8, "batch_wait_ms": 50}}, root=root)
    for run in ("demo", "other"):
        _adapter(cfg, run)
    write_corpus(root)
    kb_add(cfg, [root / "policies", root / "it"])
    return cfg


@pytest.fixture(scope="module")
def served(project):
    with running(project) as (url, srv):
        yield url, srv.pool


def _client(url, **kw):
    import openai

    return openai.OpenAI(base_url=url, api_key="none", max_retries=0, **kw)


MSG = [{"role": "user", "content": "a lighthouse in a storm"}]


def test_models_lists_exactly_what_can_be_served(served):
    import openai

    url, pool = served
    assert [m.id for m in _client(url).models.list().data] == ["base", "tuned", "demo", "other", "kb",
                                                                "all-minilm-l6-v2"]
    assert _client(url).models.retrieve("demo").id == "demo"
    with pytest.raises(openai.NotFoundError, match="available: base, tuned, demo, other, kb"):
        _client(url).models.retrieve("gpt-9")


def test_every_run_answers_and_tuned_shares_its_runs_engine(served):
    url, pool = served
    client = _client(url)
    for name in ("tuned", "demo", "other", "base"):
        resp = client.chat.completions.create(model=name, messages=MSG, max_tokens=4)
        assert resp.model == name and resp.usage.completion_tokens <= 4
    assert len(pool.stats()) == 3  # tuned and demo are one loaded engine


def test_stream_chunks_usage_and_done(served):
    url, _ = served
    with httpx.stream("POST", f"{url}/chat/completions", timeout=30, json={
            "model": "base", "messages": MSG, "max_tokens": 6, "stream": True, "temperature": 1.0, "seed": 1,
            "stream_options": {"include_usage": True}}) as resp:  # sampled: greedy here repeats newlines
        lines = [ln for ln in resp.iter_lines() if ln]
    assert resp.status_code == 200 and lines[-1] == "data: [DONE]"
    chunks = [json.loads(ln[6:]) for ln in lines[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-2]["choices"][0]["finish_reason"] in ("stop", "length") and chunks[-1]["choices"] == []
    assert 0 < chunks[-1]["usage"]["completion_tokens"] <= 6
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:-2]]
    assert all(pieces) and len(pieces) >= 2  # token by token, not one delta


def test_text_completions_sync_and_streaming(served):
    url, _ = served
    client = _client(url)
    full = client.completions.create(model="demo", prompt="Once upon a time", max_tokens=6)
    assert full.object == "text_completion" and full.usage.completion_tokens <= 6
    parts = [c.choices[0].text for c in client.completions.create(model="demo", prompt="Once upon a time",
                                                                   max_tokens=6, stream=True) if c.choices]
    assert "".join(parts) == full.choices[0].text


def test_embeddings_float_and_base64(served):
    url, _ = served
    client = _client(url)
    b64 = client.embeddings.create(model="all-minilm-l6-v2", input=["refund policy", "guest wifi"])  # base64
    flt = client.embeddings.create(model="all-minilm-l6-v2", input="refund policy", encoding_format="float")
    vecs = np.array([d.embedding for d in b64.data])
    assert vecs.shape == (2, 384) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-4)
    assert np.allclose(vecs[0], flt.data[0].embedding, atol=1e-5) and b64.usage.prompt_tokens > 2


def test_async_clients_are_batched_together(served):
    import openai

    url, pool = served

    async def main():
        client = openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0)

        async def one(i):
            if i % 2:
                return (await client.chat.completions.create(model="other", messages=MSG, max_tokens=5)).choices[0]
            text = ""
            async for chunk in await client.chat.completions.create(model="other", messages=MSG, max_tokens=5,
                                                                    stream=True):
                text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
            return text

        return await asyncio.gather(*[one(i) for i in range(6)])

    out = asyncio.run(main())
    assert len(out) == 6
    # continuous batching on HF (the default): requests decoded in the same token steps
    assert pool.stats()["other"]["largest_batch"] >= 3


def test_langchain_chat_openai(served):
    from langchain_openai import ChatOpenAI

    url, _ = served
    llm = ChatOpenAI(base_url=url, api_key="none", model="demo", max_tokens=5, max_retries=0, temperature=0)
    reply = llm.invoke("a fox in the snow")
    streamed = "".join(chunk.content for chunk in llm.stream("a fox in the snow"))
    assert isinstance(reply.content, str) and streamed == reply.content
    assert reply.response_metadata["finish_reason"] in ("stop", "length")


def test_seed_gives_the_same_sample_and_another_seed_another(served):
    client = _client(served[0])

    def sample(seed):
        return client.chat.completions.create(model="base", messages=MSG, max_tokens=12, temperature=1.5,
                                              seed=seed).choices[0].message.content

    assert sample(3) == sample(3) != sample(4)


def test_concurrent_kb_requests_share_one_searcher(served):
    url, _ = served

    async def main():
        import openai

        client = openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0)
        return await asyncio.gather(*[client.chat.completions.create(
            model="kb", messages=[{"role": "user", "content": "How many vacation days do employees receive?"}])
            for _ in range(4)])

    for resp in asyncio.run(main()):
        assert "policies/vacation.md" in resp.choices[0].message.content


BAD = [
    (b"{not json", 400, None),
    ({"model": "base", "messages": MSG, "max_tokens": "abc"}, 400, "max_tokens"),
    ({"model": "base", "messages": MSG, "temperature": "hot"}, 400, "temperature"),
    ({"model": "base", "messages": MSG, "max_tokens": 0}, 400, "max_tokens"),
    ({"model": "base", "messages": MSG, "max_tokens": 100000}, 400, "max_tokens"),
    ({"model": "base", "messages": MSG, "max_tokens": 2045}, 400, "max_tokens"),  # prompt + 2045 > context 2048
    ({"model": "base", "messages": []}, 400, "messages"),
    ({"model": "base", "messages": [{"role": "wizard", "content": "x"}]}, 400, "messages.0.role"),
    ({"model": "base", "messages": [{"role": "user"}]}, 400, "messages.0.content"),
    ({"messages": MSG}, 400, "model"),
    ({"model": "base", "messages": MSG, "n": 3}, 400, "n"),
    ({"model": "base", "messages": MSG, "stop": ["\n"]}, 400, "stop"),
    ([1, 2], 400, None),
    ({"model": "base", "messages": [{"role": "user", "content": "x" * 1_000_000}]}, 400, "messages"),
    ({"model": "gpt-9", "messages": MSG}, 404, "model"),
    ({"model": "kb", "messages": [{"role": "system", "content": "only a system message"}]}, 400, "messages"),
    ({"model": "kb", "messages": [{"role": "user", "content": "why? " * 200_000}]}, 400, "messages"),
]


@pytest.mark.parametrize("body,status,param", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_is_a_clear_4xx_and_the_server_stays_up(served, body, status, param):
    url, _ = served
    t0 = time.perf_counter()
    kw = {"content": body} if isinstance(body, bytes) else {"json": body}
    resp = httpx.post(f"{url}/chat/completions", timeout=30, headers={"content-type": "application/json"}, **kw)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["message"] and err["type"] and err["param"] == param
    if status == 404:
        assert "available: base, tuned, demo, other, kb" in err["message"]
    assert time.perf_counter() - t0 < 5  # the 1 MB prompt is refused on its length, not tokenized
    assert httpx.get(f"{url}/models", timeout=10).status_code == 200


def test_other_endpoints_validate_too(served):
    url, _ = served
    big = httpx.post(f"{url}/chat/completions", content=b"x" * (5 * 1024 * 1024), timeout=30)
    assert big.status_code == 413 and "max_body_bytes" in big.json()["error"]["message"]
    assert httpx.post(f"{url}/completions", json={"model": "kb", "prompt": "x"}, timeout=10).status_code == 404
    assert httpx.post(f"{url}/completions", json={"model": "base", "prompt": 5}, timeout=10).json()["error"]["param"] == "prompt"
    emb = httpx.post(f"{url}/embeddings", json={"model": "base", "input": "x"}, timeout=10)
    assert emb.status_code == 404 and "all-minilm-l6-v2" in emb.json()["error"]["message"]
    assert httpx.post(f"{url}/embeddings", json={"model": "all-minilm-l6-v2", "input": []}, timeout=10).status_code == 400
    assert httpx.get(f"{url}/nope", timeout=10).json()["error"]["message"] == "Not Found"


def test_a_client_that_disconnects_cancels_its_generation(served):
    url, pool = served
    _client(url).chat.completions.create(model="base", messages=MSG, max_tokens=1)  # loaded
    before = pool.stats()["base"]["cancelled"]
    tokens_before = pool.stats()["base"]["tokens"]
    with httpx.stream("POST", f"{url}/chat/completions", timeout=30, json={
            "model": "base", "messages": MSG, "max_tokens": 480, "stream": True}) as resp:
        assert next(resp.iter_lines()).startswith("data: ")  # the role chunk; the answer is still running
    deadline = time.time() + 10
    while pool.stats()["base"]["cancelled"] == before and time.time() < deadline:
        time.sleep(0.05)
    stats = pool.stats()["base"]
    assert stats["cancelled"] == before + 1
    assert stats["tokens"] - tokens_before < 400  # stopped early, not after all 480


def test_a_waiting_non_streaming_client_that_leaves_cancels_too(served):
    url, pool = served
    _client(url).chat.completions.create(model="base", messages=MSG, max_tokens=1)  # loaded
    before = pool.stats()["base"]["cancelled"]
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/chat/completions", timeout=httpx.Timeout(10, read=0.5),
                   json={"model": "base", "messages": MSG, "max_tokens": 480})
    deadline = time.time() + 10
    while pool.stats()["base"]["cancelled"] == before and time.time() < deadline:
        time.sleep(0.05)
    assert pool.stats()["base"]["cancelled"] == before + 1


def test_unset_api_key_env_refuses_to_start(tiny_model_dir, tmp_path, monkeypatch):
    from tailorkit.errors import ConfigError
    from tailorkit.serve.run import server

    monkeypatch.delenv("NO_SUCH_SERVE_KEY", raising=False)
    cfg = build_config({"model": {"base": str(tiny_model_dir)}, "serve": {"api_key_env": "NO_SUCH_SERVE_KEY"}},
                       root=tmp_path)
    with pytest.raises(ConfigError, match="NO_SUCH_SERVE_KEY"):
        server(cfg)


def test_a_request_past_its_time_limit_is_stopped(tiny_model_dir, tmp_path):
    cfg = build_config({"model": {"base": str(tiny_model_dir)}, "generation": LONG,
                        "serve": {"request_timeout_s": 0.3}}, root=tmp_path)
    with running(cfg) as (url, srv):
        resp = httpx.post(f"{url}/chat/completions", timeout=30, json={
            "model": "base", "messages": MSG, "max_tokens": 480})
        assert resp.status_code == 504 and "request_timeout_s" in resp.json()["error"]["message"]
        assert srv.pool.stats()["base"]["tokens"] < 480
