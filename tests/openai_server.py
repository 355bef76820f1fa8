"""A real local HTTP server speaking the OpenAI chat-completions protocol, for synth tests and benchmarks.

It logs every request and injects faults chosen by directives written into the message text, so a
test decides per source row what goes wrong:

    [[fault:429:2]]      the first 2 attempts of this request get 429 with Retry-After
    [[fault:500:1]]      the first attempt gets a 500
    [[fault:slow:1]]     the first attempt sleeps past the client's timeout
    [[fault:badjson:1]]  the first attempt gets a 200 whose body is not JSON
    [[fault:length:all]] every attempt finishes with finish_reason=length
    [[fault:500:all]]    every attempt fails (the row must land in the errors file)
    [[fault:refuse:all]] every attempt answers with a refusal

Attempts are counted per identical request body. Replies are deterministic and depend on the task
the prompt asks for (a JSON list of requests, a judge's pick, a 1-5 score, a new Example, or a
plain request), with words drawn from a hash so that different rows get different text.

Run in a thread (`with FakeOpenAI(latency=0.05) as srv: srv.url`) or as a separate process:
`python tests/openai_server.py --latency 0.1` prints `PORT <n>` on stdout once listening.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import sys
import threading
import time
from collections import Counter

from local_http import free_port

WORDS = ("amber harbor lantern quiet meadow copper falcon velvet canyon orchid glacier ember willow "
         "nebula marble tundra saffron cobalt prism thunder lotus garnet cedar vapor quartz sparrow "
         "dune coral ivory jade lilac maple onyx pearl raven sable topaz violet zephyr aurora basalt").split()
FAULT = re.compile(r"\[\[fault:(\w+):(\w+)\]\]")
SCORE = re.compile(r"\[\[score:(\d)\]\]")


def _words(seed: str, n: int) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return " ".join(WORDS[b % len(WORDS)] for b in digest[:n])


def reply_for(body: dict) -> str:
    """The deterministic answer to a chat request, shaped for the task the prompt asks for."""
    msgs = body.get("messages") or []
    text = "\n".join(str(m.get("content", "")) for m in msgs)
    system = next((str(m.get("content", "")) for m in msgs if m.get("role") == "system"), "")
    key = json.dumps(msgs, sort_keys=True) + str(body.get("temperature")) + str(body.get("seed"))
    if "rate" in system.lower() and "1 to 5" in system:
        found = SCORE.search(text)
        score = int(found.group(1)) if found else 4
        return f"```json\n{json.dumps({'score': score, 'reason': 'clear and specific'})}\n```"
    if "pick the request" in system.lower():
        return 'The best one is {"best": 2} because it is most specific.'
    if "json list" in system.lower():
        n = int(m.group(1)) if (m := re.search(r"(\d+) different", text)) else 3
        return json.dumps([f"make a picture about {_words(key + str(i), 4)}" for i in range(n)])
    if "new example" in system.lower():
        return json.dumps({"request": f"describe {_words(key, 5)}", "answer": f"{_words(key + 'a', 12)}."})
    return f"make a picture about {_words(key, 5)}"


class FakeOpenAI:
    """The server. `requests` is the log: dicts with t, body, status (shared with the serving thread)."""

    def __init__(self, latency: float = 0.0, slow_s: float = 3.0, retry_after: float = 0.2,
                 host: str = "127.0.0.1", port: int = 0, log_path: str | None = None,
                 reject_response_format: bool = False) -> None:
        self.latency, self.slow_s, self.retry_after = latency, slow_s, retry_after
        self.reject_response_format = reject_response_format  # like servers without structured outputs
        self.host, self.port = host, port or free_port()
        self.requests: list[dict] = []
        self.attempts: Counter[str] = Counter()
        self.log_path = log_path
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- ASGI ------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        raw = b""
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return  # the client died mid-request (kill -9): nothing complete arrived, nothing to log
            raw += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        if scope["method"] == "GET" and scope["path"].endswith("/models"):
            await self._send(send, 200, {"object": "list", "data": [{"id": "fake-teacher", "object": "model"}]})
            return
        if not scope["path"].endswith("/chat/completions"):
            await self._send(send, 404, {"error": {"message": "not found"}})
            return
        body = json.loads(raw or b"{}")
        # Logged on arrival: a request counts as sent even if the client gives up before the reply.
        entry = {"t": time.time(), "body": body, "status": None}
        self.requests.append(entry)
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")
        status, payload, headers = await self._answer(body)
        entry["status"] = status
        await self._send(send, status, payload, headers)

    async def _answer(self, body: dict):
        text = json.dumps(body.get("messages"))
        attempt_key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        self.attempts[attempt_key] += 1
        attempt = self.attempts[attempt_key]
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.reject_response_format and "response_format" in body:
            return 400, {"error": {"message": "response_format is not supported", "type": "invalid_request_error"}}, []
        finish = "stop"
        content = reply_for(body)
        for kind, count in FAULT.findall(text):
            if count != "all" and attempt > int(count):
                continue
            if kind == "429":
                return 429, {"error": {"message": "rate limited", "type": "rate_limit"}}, \
                    [(b"retry-after", str(self.retry_after).encode())]
            if kind == "500":
                return 500, {"error": {"message": "internal error"}}, []
            if kind == "slow":
                await asyncio.sleep(self.slow_s)
            if kind == "badjson":
                return 200, b'{"id": "x", "choices": [', []
            if kind == "length":
                finish = "length"
            if kind == "refuse":
                content = "I'm sorry, but I can't help with that request."
        prompt_tokens = max(1, len(text) // 4)
        return 200, {
            "id": "chatcmpl-" + attempt_key[:12], "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake-teacher"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": max(1, len(content) // 4),
                      "total_tokens": prompt_tokens + max(1, len(content) // 4)},
        }, []

    @staticmethod
    async def _send(send, status: int, payload, headers=()) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), *headers]})
        await send({"type": "http.response.body", "body": data})

    # -- running -----------------------------------------------------------------------------
    def start(self) -> "FakeOpenAI":
        import uvicorn

        config = uvicorn.Config(self, host=self.host, port=self.port, log_level="error", lifespan="on",
                                access_log=False, backlog=4096)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.time() + 10
        while not self._server.started:
            if time.time() > deadline:
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- helpers for the synth tests ------------------------------------------------------------
SYLLABLES = "ka lo mi ne ru ta so vi ze pa do gu fe hi jo be ly qu ix or an el um ap".split()


def phrases(n: int, seed: int = 0, words: int = 12) -> list[str]:
    """Diverse made-up texts: different rows never look like near-duplicates of each other."""
    rng = random.Random(seed)
    return [" ".join("".join(rng.choice(SYLLABLES) for _ in range(3)) for _ in range(words)) for _ in range(n)]


def make_cfg(tmp_path, url: str, teacher: dict | None = None, **synth):
    """A TailorConfig whose teacher is this server, with fast retries and a cache in tmp_path."""
    from tailorkit.config import build_config

    t = {"base_url": url, "model": "fake-teacher", "timeout_s": 0.5, "retry_base_s": 0.02, "retry_max_s": 0.2,
         "max_retries": 3, "concurrency": 8, "prices": {"fake-teacher": {"input": 1.0, "output": 4.0}}}
    t.update(teacher or {})
    return build_config({"teacher": t, "synth": {"cache": str(tmp_path / "cache.sqlite"), **synth}}, root=tmp_path)


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]




def main(argv: list[str]) -> None:
    import argparse

    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default=None, help="append every request to this JSONL file")
    args = ap.parse_args(argv)
    srv = FakeOpenAI(latency=args.latency, port=args.port, log_path=args.log)
    print(f"PORT {srv.port}", flush=True)
    uvicorn.run(srv, host=srv.host, port=srv.port, log_level="error", access_log=False, backlog=4096)


if __name__ == "__main__":
    main(sys.argv[1:])
