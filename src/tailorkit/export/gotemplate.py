"""A tiny evaluator for the subset of Go's text/template that our Ollama TEMPLATE uses, so export can
prove that the Modelfile renders exactly the prompt text the training chat template renders.

Hand-written because no Python package evaluates Go templates. Supported: literal text;
`{{ .Field }}`; `{{ "string" }}`; `{{ if .Field }}`, `{{ if eq .Field "x" }}`, `{{ else if ... }}`,
`{{ else }}`, `{{ end }}`; `{{ range .Messages }}` (inside, fields are the message's). No trim markers
(`{{-`), pipelines or functions beyond `eq`: the generator never emits them, and anything else is an error.
"""
from __future__ import annotations

import json
import re

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.S)
_STRING = r'"(?:[^"\\]|\\.)*"'


class GoTemplateError(ValueError):
    """The template uses something outside the supported subset."""


def _tokens(template: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    for m in _ACTION.finditer(template):
        if m.start() > pos:
            out.append(("text", template[pos:m.start()]))
        out.append(("action", m.group(1).strip()))
        pos = m.end()
    if pos < len(template):
        out.append(("text", template[pos:]))
    return out


def _value(expr: str, scope: dict) -> object:
    expr = expr.strip()
    if re.fullmatch(_STRING, expr):
        return json.loads(expr)
    if re.fullmatch(r"\.[A-Za-z_]\w*", expr):
        return scope.get(expr[1:], "")
    m = re.fullmatch(r"eq\s+(\.[A-Za-z_]\w*|" + _STRING + r")\s+(\.[A-Za-z_]\w*|" + _STRING + r")", expr)
    if m:
        return _value(m.group(1), scope) == _value(m.group(2), scope)
    raise GoTemplateError(f"unsupported expression {{{{ {expr} }}}}")


def _parse(tokens: list, i: int, stop: tuple[str, ...]):
    """Nodes until one of `stop` ("end", "else") at this level; returns (nodes, index of the stopper)."""
    nodes = []
    while i < len(tokens):
        kind, body = tokens[i]
        if kind == "text":
            nodes.append(("text", body))
            i += 1
            continue
        head = body.split(None, 1)[0] if body else ""
        if head in ("end", "else") and head in stop:
            return nodes, i
        if head in ("if", "range"):
            node, i = _block(tokens, i)
            nodes.append(node)
            continue
        if head in ("end", "else") or body.startswith("-") or body.endswith("-"):
            raise GoTemplateError(f"unexpected {{{{ {body} }}}}")
        nodes.append(("print", body))
        i += 1
    if stop:
        raise GoTemplateError("missing {{ end }}")
    return nodes, i


def _block(tokens: list, i: int):
    body = tokens[i][1]
    head, cond = body.split(None, 1)
    if head == "range":
        inner, j = _parse(tokens, i + 1, ("end",))
        if tokens[j][1] != "end":
            raise GoTemplateError("{{ else }} inside range is not supported")
        return ("range", cond, inner), j + 1
    branches = []
    while True:
        inner, j = _parse(tokens, i + 1, ("end", "else"))
        branches.append((cond, inner))
        stopper = tokens[j][1]
        if stopper == "end":
            return ("if", branches), j + 1
        rest = stopper[len("else"):].strip()
        if rest.startswith("if "):
            cond, i = rest[3:], j
        elif not rest:
            cond, i = None, j
        else:
            raise GoTemplateError(f"unsupported {{{{ {stopper} }}}}")


def _run(nodes: list, scope: dict, out: list[str]) -> None:
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
        elif kind == "print":
            out.append(str(_value(node[1], scope)))
        elif kind == "range":
            for item in _value(node[1], scope) or []:
                _run(node[2], {**scope, **item}, out)
        else:
            for cond, inner in node[1]:
                if cond is None or _value(cond, scope):
                    _run(inner, scope, out)
                    break


def render(template: str, **values) -> str:
    """Render `template` with top-level fields (System, Messages=[{"Role":..., "Content":...}], ...)."""
    nodes, _ = _parse(_tokens(template), 0, ())
    out: list[str] = []
    _run(nodes, values, out)
    return "".join(out)
