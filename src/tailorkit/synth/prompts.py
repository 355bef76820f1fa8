"""Prompt templates for the recipes, and the hash recorded in every row's provenance.

Templates use `${name}` placeholders (string.Template), so JSON braces in the text need no escaping
and user text containing `$` or braces is inserted verbatim. Changing a template changes its hash,
hence the request cache keys and the journal signature: old answers are never mixed with new prompts.
"""
from __future__ import annotations

import hashlib
import json
from string import Template

BT_LIST_SYSTEM = (
    "You reverse-engineer requests. Given an output that an assistant wrote, you write requests a user "
    "could have sent to get exactly that output. Reply with a JSON list of strings only."
)
BT_LIST_USER = (
    "${instructions}${demos}Output:\n<<<\n${output}\n>>>\n\n"
    "Write ${n} different requests a user might have typed to get this output: natural and as short as a "
    "real user would write, varied in wording and detail, and never copying the output's text. "
    "Reply with a JSON list of ${n} strings."
)
BT_ONE_SYSTEM = (
    "You write the short request a user would type to get a given text from an assistant. "
    "Reply with the request only, one sentence, without copying the text."
)
BT_ONE_USER = "Text:\n${output}\n\nWhat short request would produce this text? Reply with the request only."
# Shown as earlier chat turns when the user gives no demonstrations of their own (synth.demos): a
# small local teacher copies the shape of an answer far better than it follows instructions.
DEFAULT_DEMOS = (
    ("Write a short email telling a customer that her order shipped and arrives on Friday.",
     "Dear Ms. Lee, thank you for your order #4417. It shipped today and should arrive by Friday. "
     "Reply to this email if anything is wrong."),
    ("Write a Python function that checks whether a number is even.",
     "def is_even(n):\n    return n % 2 == 0"),
    ("Write an image prompt for a puppy playing in autumn leaves.",
     "golden retriever puppy playing in autumn leaves, soft morning light, shallow depth of field, "
     "85mm photo --ar 3:2"),
)
JUDGE_SYSTEM = (
    "You are a careful judge. Pick the request that best explains the output: an assistant given that "
    "request would naturally write exactly this output, and the request does not copy the output. "
    'Reply with JSON: {"best": <number of the request>}.'
)
JUDGE_USER = "${instructions}Output:\n<<<\n${output}\n>>>\n\nCandidate requests:\n${candidates}"
CURATE_SYSTEM = (
    "You rate training examples for fine-tuning an assistant. Rate the example from 1 to 5: 5 = the answer "
    "does exactly what the request asks, precise and well written; 4 = good with minor flaws; 3 = acceptable "
    "but clearly improvable; 2 = partly wrong or off-target; 1 = wrong, off-topic, empty or harmful. "
    'Reply with JSON: {"score": <1-5>, "reason": "<one short sentence>"}.'
)
CURATE_USER = "${instructions}Request:\n<<<\n${user}\n>>>\n\nAnswer:\n<<<\n${assistant}\n>>>"
EXPAND_SYSTEM = (
    "You write new training examples for an assistant. Given examples of a user request with its ideal "
    "answer, write one new example in the same style, format and length, on a different subject. "
    'Reply with JSON: {"request": "...", "answer": "..."}.'
)
EXPAND_USER = "${instructions}${examples}\n\nWrite one new example, different from all of these."

SCORE_SCHEMA = {"type": "json_schema", "json_schema": {"name": "rating", "strict": True, "schema": {
    "type": "object", "additionalProperties": False, "required": ["score", "reason"],
    "properties": {"score": {"type": "integer", "enum": [1, 2, 3, 4, 5]}, "reason": {"type": "string"}}}}}
PAIR_SCHEMA = {"type": "json_schema", "json_schema": {"name": "example", "strict": True, "schema": {
    "type": "object", "additionalProperties": False, "required": ["request", "answer"],
    "properties": {"request": {"type": "string"}, "answer": {"type": "string"}}}}}


def pick_schema(n: int) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "pick", "strict": True, "schema": {
        "type": "object", "additionalProperties": False, "required": ["best"],
        "properties": {"best": {"type": "integer", "enum": list(range(1, n + 1))}}}}}


def demos_block(demos) -> str:
    """Request -> output pairs written into a prompt (list mode and judges)."""
    if not demos:
        return ""
    pairs = "\n\n".join(f"Output: {out}\nRequest: {req}" for req, out in demos)
    return f"Examples of outputs and the requests behind them:\n\n{pairs}\n\n"


def backtranslate_one(output: str, instructions: str, demos) -> list[dict[str, str]]:
    """One candidate request: the demonstrations become earlier turns of the chat."""
    system = BT_ONE_SYSTEM + (f"\n\n{instructions.strip()}" if instructions else "")
    msgs = [{"role": "system", "content": system}]
    for req, out in demos:
        msgs += [{"role": "user", "content": fill(BT_ONE_USER, output=out)}, {"role": "assistant", "content": req}]
    return msgs + [{"role": "user", "content": fill(BT_ONE_USER, output=output)}]


def fill(template: str, **values: object) -> str:
    return Template(template).substitute({k: str(v) for k, v in values.items()})


def instructions_block(instructions: str | None) -> str:
    return f"About these texts: {instructions.strip()}\n\n" if instructions and instructions.strip() else ""


def template_hash(*templates: str) -> str:
    return hashlib.sha256(json.dumps(templates).encode("utf-8")).hexdigest()[:12]


def chat(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
