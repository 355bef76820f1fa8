"""Property-based fuzzing of the server's request bodies (hypothesis) against a real server on loopback:
whatever body a client sends to chat, completions or embeddings, the answer is a 2xx or a 4xx with an
OpenAI-style error object naming the problem, never a 5xx, and the server stays up.

Bodies are random JSON built from the schema's own field names with values of every JSON type (so most
reach pydantic's validation and many are valid requests), raw random bytes, and truncated valid bodies.
Budget: derandomized; 2,000 field-level bodies, 1,000 byte strings; generation capped at 2 tokens.
"""
from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_fixtures import one_thread, running, tiny_config  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")

FUZZ = settings(max_examples=2000, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
PATHS = ["/chat/completions", "/completions", "/embeddings"]
FIELDS = ["model", "messages", "prompt", "input", "max_tokens", "max_completion_tokens", "temperature", "top_p",
          "seed", "stream", "stream_options", "n", "stop", "echo", "encoding_format", "role", "content"]

scalar = st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(max_size=12), st.sampled_from(["base", "tuned", "user", "assistant", "text", "float"]))
json_value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                          st.dictionaries(st.sampled_from(FIELDS + ["type", "text"]),
                                                                          inner, max_size=3)), max_leaves=8)
message = st.fixed_dictionaries({"role": st.one_of(st.sampled_from(["system", "developer", "user", "assistant", "tool"]),
                                                   json_value),
                                 "content": st.one_of(st.text(max_size=20), json_value,
                                                      st.lists(st.fixed_dictionaries({"type": st.just("text"),
                                                                                      "text": st.text(max_size=8)}),
                                                               max_size=2))})
body = st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=6).flatmap(
    lambda extra: st.fixed_dictionaries({"model": st.one_of(st.sampled_from(["base", "nope"]), json_value),
                                         "messages": st.one_of(st.lists(message, max_size=3), json_value)}).map(
        lambda core: {**core, **extra}))


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    cfg = tiny_config(tiny_model_dir, tmp_path_factory.mktemp("fuzz-serve"), max_tokens_limit=2, batch_wait_ms=0,
                      max_body_bytes=4096)
    with running(cfg) as (url, _srv):
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["message"] and "\n" not in error["message"] and "Traceback" not in error["message"]


@FUZZ
@given(payload=body, path=st.sampled_from(PATHS))
def test_random_json_bodies_get_an_answer_or_a_4xx(server, payload, path):
    if payload.get("stream") is True:
        with server.stream("POST", path, json=payload) as response:
            if response.status_code >= 400:
                response.read()
            else:
                assert "".join(response.iter_text())  # the stream runs to its end
        _check(response)
        return
    _check(server.post(path, json=payload))


@settings(FUZZ, max_examples=1000)
@given(raw=st.one_of(st.binary(max_size=64), st.text(max_size=40).map(str.encode),
                     st.sampled_from([b'{"model": "base", "messages": [{"role": "user", "content": "hi"}], '
                                      b'"temperature": ' + v + b'}' for v in (b"NaN", b"Infinity", b"-Infinity", b"1e999")]),
                     st.integers(1, 60).map(lambda n: json.dumps({"model": "base", "messages": [
                         {"role": "user", "content": "hi"}], "max_tokens": 1})[:n].encode())),
       path=st.sampled_from(PATHS))
def test_random_bytes_get_a_4xx(server, raw, path):
    _check(server.post(path, content=raw, headers={"content-type": "application/json"}))


def test_the_server_still_answers_after_the_fuzzing(server):
    ok = server.post("/chat/completions", json={"model": "base", "messages": [{"role": "user", "content": "hi"}]})
    assert ok.status_code == 200 and ok.json()["choices"][0]["finish_reason"] in ("stop", "length")
