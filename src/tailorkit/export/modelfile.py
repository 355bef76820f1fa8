"""An Ollama Modelfile for an exported GGUF: FROM, an explicit TEMPLATE equal to the training chat
template, one `PARAMETER stop` per end token, and the generation defaults compare used.

The Go TEMPLATE is written from the chat template's role markers, found by rendering probe
conversations with the training (jinja) template: what comes before and after a system, user and
assistant message, the generation prompt, and the text a template puts first when there is no system
message (SmolLM2 adds a default system turn). The result is then rendered with `gotemplate.render`
for several conversations and compared with the jinja rendering; a template whose turns are not a
fixed wrapper around each message (one that rewrites content, say) is refused rather than guessed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import ModelError
from .gotemplate import render

_S, _U, _A, _V = "SYSTEMQZX", "USERQZX", "ASSISTANTQZX", "FOLLOWUPQZX"


@dataclass
class Markers:
    with_system: str  # text before the system message's content (including anything the template puts first)
    post_system: str
    no_system: str  # text the template puts first when the conversation has no system message
    pre_user: str
    post_user: str
    pre_assistant: str
    post_assistant: str
    generation: str  # the generation prompt after the last message


def _render(tok, messages, gen: bool) -> str:
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)


def _between(text: str, *marks: str) -> list[str]:
    """The pieces of `text` around the sentinel contents `marks`, which must occur once each, in order."""
    pieces, pos = [], 0
    for mark in marks:
        at = text.find(mark, pos)
        if at < 0 or text.count(mark) != 1:
            raise ValueError(mark)
        pieces.append(text[pos:at])
        pos = at + len(mark)
    pieces.append(text[pos:])
    return pieces


def _cut_prefix(text: str, prefix: str) -> str:
    if not text.startswith(prefix):
        raise ValueError(prefix)
    return text[len(prefix):]


def chat_markers(tok) -> Markers:
    sys_, user, asst, user2 = ({"role": r, "content": c} for r, c in
                               (("system", _S), ("user", _U), ("assistant", _A), ("user", _V)))
    try:
        full = _render(tok, [sys_, user, asst, user2], False)
        p0, m1, m2, m3, post_user = _between(full, _S, _U, _A, _V)
        generation = _cut_prefix(_render(tok, [sys_, user, asst, user2], True), full)
        post_assistant = _between(_render(tok, [user, asst], False), _U, _A)[-1]
        try:
            post_system = _between(_render(tok, [sys_], False), _S)[-1]
        except Exception:  # a template that wants a user turn after the system one
            post_system = post_user
        pre_user = _cut_prefix(m1, post_system)
        if m3 != post_assistant + pre_user:
            raise ValueError("assistant turn")
        q0 = _between(_render(tok, [user, asst, user2], False), _U, _A, _V)[0]
        if not q0.endswith(pre_user):
            raise ValueError("no-system head")
        return Markers(with_system=p0, post_system=post_system, no_system=q0[:len(q0) - len(pre_user)],
                       pre_user=pre_user, post_user=post_user, pre_assistant=_cut_prefix(m2, post_user),
                       post_assistant=post_assistant, generation=generation)
    except Exception as exc:
        raise ModelError(f"cannot derive an Ollama TEMPLATE from the chat template ({type(exc).__name__}: {exc})",
                         fix="the Modelfile needs a template that wraps every message in fixed text; "
                             "write TEMPLATE by hand") from None


def _lit(text: str) -> str:
    """Template text as itself, or as a Go string action when it would start an action."""
    return "{{ " + json.dumps(text) + " }}" if "{{" in text or '"""' in text else text


def go_template(m: Markers) -> str:
    """System messages arrive as .System (Ollama collects them), so the range renders user and assistant turns."""
    return ("{{ if .System }}" + _lit(m.with_system) + "{{ .System }}" + _lit(m.post_system) + "{{ else }}"
            + _lit(m.no_system) + "{{ end }}{{ range .Messages }}"
            + '{{ if eq .Role "user" }}' + _lit(m.pre_user) + "{{ .Content }}" + _lit(m.post_user)
            + '{{ else if eq .Role "assistant" }}' + _lit(m.pre_assistant) + "{{ .Content }}"
            + _lit(m.post_assistant) + "{{ end }}{{ end }}" + _lit(m.generation))


def ollama_render(template: str, messages: list[dict]) -> str:
    """Render as Ollama does: system contents collected into .System, every message in .Messages."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    items = [{"Role": m["role"], "Content": m["content"]} for m in messages]
    return render(template, System=system, Messages=items)


PROBES = [
    [{"role": "system", "content": "You write Midjourney prompts."}, {"role": "user", "content": "a cat"},
     {"role": "assistant", "content": "a cat, studio light --ar 1:1"}, {"role": "user", "content": "now a dog"}],
    [{"role": "user", "content": "a viking warrior"}],
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello!"}, {"role": "user", "content": "a car"}],
]


def verified_template(tok) -> str:
    """The Go TEMPLATE for `tok`'s chat template, checked against the jinja rendering on PROBES."""
    template = go_template(chat_markers(tok))
    for probe in PROBES:
        want = _render(tok, probe, True)
        got = ollama_render(template, probe)
        if got != want:
            raise ModelError("the Ollama TEMPLATE derived from the chat template renders differently "
                             f"({got[:80]!r} vs {want[:80]!r})", fix="write TEMPLATE by hand")
    return template


def modelfile(gguf_name: str, template: str, end_tokens: list[str], gen, n_ctx: int) -> str:
    """The Modelfile text (FROM a GGUF next to it)."""
    if '"""' in template:
        raise ModelError('the chat template contains """, which a Modelfile TEMPLATE cannot hold',
                         fix="write the Modelfile by hand")
    lines = ["# Ollama Modelfile written by `tailor export --gguf`: ollama create NAME -f Modelfile",
             f"FROM ./{gguf_name}", f'TEMPLATE """{template}"""']
    lines += [f"PARAMETER stop {json.dumps(t)}" for t in dict.fromkeys(end_tokens)]
    lines += ["# the generation settings `tailor compare` used. Ollama's repeat_penalty also counts the prompt",
              "# (its last repeat_last_n tokens) and it has no no-repeat-n-gram "
              f"(compare used no_repeat_ngram_size {gen.no_repeat_ngram_size})",
              f"PARAMETER temperature {gen.temperature}", f"PARAMETER top_p {gen.top_p}",
              f"PARAMETER repeat_penalty {gen.repetition_penalty}", f"PARAMETER num_predict {gen.max_new_tokens}",
              f"PARAMETER seed {gen.seed}", f"PARAMETER num_ctx {n_ctx}", ""]
    return "\n".join(lines)
