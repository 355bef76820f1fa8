"""A fake OpenAI-compatible judge for the pairwise-judge tests (a real local HTTP server).

`serve_judge(mode)` yields (base_url, log). The judge reads answers A and B out of the prompt and
picks by its mode: "first" (always A), "longer" (more words), "tuned" (the answer holding the word
TUNED), "malformed" (prose without JSON for requests containing [[bad]], else like "tuned").
"""
from __future__ import annotations

import json
import re
from contextlib import contextmanager

from local_http import QuietHandler, read_json, send_json, serve

_ANSWER = re.compile(r"\[Answer (A|B)\]\n(.*?)\n\[End of answer \1\]", re.S)


def pick(mode: str, prompt: str) -> str:
    answers = dict(_ANSWER.findall(prompt))
    if mode == "first":
        winner = "A"
    elif mode == "longer":
        winner = "A" if len(answers["A"].split()) >= len(answers["B"].split()) else "B"
    else:
        if mode == "malformed" and "[[bad]]" in prompt:
            return "I think the first one is better, it is nicer."
        winner = "A" if "TUNED" in answers["A"] else "B"
    return "```json\n" + json.dumps({"winner": winner, "reason": f"{mode} judge picked {winner}"}) + "\n```"


@contextmanager
def serve_judge(mode: str):
    log: list[dict] = []

    class Handler(QuietHandler):
        def do_GET(self):
            send_json(self, 200, {"object": "list", "data": [{"id": "judge", "object": "model"}]})

        def do_POST(self):
            body = read_json(self)
            log.append(body)
            prompt = body["messages"][-1]["content"]
            text = pick(mode, prompt)
            send_json(self, 200, {"id": "x", "object": "chat.completion", "model": body.get("model"),
                                  "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": text}}],
                                  "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": 20}})

    with serve(Handler) as url:
        yield f"{url}/v1", log
