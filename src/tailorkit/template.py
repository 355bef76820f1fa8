"""The chat-template contract shared by training, evaluation, inference and export.

Training, compare's reference scoring, generation and export must agree on two things: which tokens of
a rendered conversation are the assistant's (the label mask) and which token ends an assistant turn (the
stop token). Both are read from the rendered template here, so `train/` and `evaluate/` share them
without importing each other.

Label masks: turn an Example into token ids and labels, with label masks taken from the rendered chat template.

For each assistant turn we render the conversation up to that turn with `add_generation_prompt=True`
(where the answer starts) and up to the end of that turn (where it ends); those character spans of the
rendered text are mapped onto tokens. So the labels cover exactly each assistant turn's content and the
template's own end-of-turn token (e.g. `<|im_end|>`), never the system/user turns, the generation
prompt or the whitespace the template puts after the terminator. No marker string is searched for.
"""
from __future__ import annotations

from typing import Any

from .data.example import Example, check_role_order
from .errors import TrainError

IGNORE = -100


def row_where(example: Example) -> str:
    """`source:row` (or line) of an Example, for error messages."""
    meta = example.meta or {}
    src = meta.get("source") or "example"
    pos = meta.get("row", meta.get("line"))
    return f"{src}:{pos}" if pos is not None else str(src)


def _render(tokenizer, messages: list[dict], *, generation_prompt: bool, where: str) -> str:
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    except Exception as exc:  # jinja errors, e.g. templates that reject a role order
        raise TrainError(f"the chat template cannot render this conversation ({type(exc).__name__}: {exc})",
                         where=where, fix="fix the row's roles/order or set model.chat_template") from None


def _assistant_char_spans(tokenizer, messages: list[dict], full: str, where: str) -> list[tuple[int, int]]:
    """Character spans [start, end) of each assistant turn (content + terminator) in `full`."""
    spans = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], generation_prompt=True, where=where) if i else ""
        through = _render(tokenizer, messages[: i + 1], generation_prompt=False, where=where)
        if not full.startswith(before) or not full.startswith(through) or not through.startswith(before):
            raise TrainError(
                "the chat template renders a conversation prefix differently from the whole conversation, "
                "so answer tokens cannot be located",
                where=where, fix="set model.chat_template to a template whose renderings are prefix-consistent (e.g. ChatML)")
        # Trailing whitespace after the terminator belongs to the template, not to the answer.
        end = len(through.rstrip())
        if end > len(before):
            spans.append((len(before), end))
    return spans


def _tokenize_with_offsets(tokenizer, text: str, where: str) -> tuple[list[int], list[tuple[int, int]] | None]:
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]), None


def _label_mask(tokenizer, text: str, ids: list[int], offsets, spans, where: str) -> list[bool]:
    """Which tokens fall inside an assistant span."""
    if offsets is not None:
        # A token is trained when it overlaps an answer span (a token merging across the boundary counts).
        return [any(s < e_tok and b_tok < e for s, e in spans) for b_tok, e_tok in offsets]
    # Slow tokenizers have no offsets: locate span boundaries by tokenising the prefixes.
    mask = [False] * len(ids)
    for s, e in spans:
        a = len(tokenizer(text[:s], add_special_tokens=False)["input_ids"])
        b_ids = tokenizer(text[:e], add_special_tokens=False)["input_ids"]
        if list(b_ids) != ids[: len(b_ids)]:
            raise TrainError("the tokenizer splits the rendered conversation differently from its prefixes",
                             where=where, fix="use a fast tokenizer (tokenizer.json) for this model")
        for k in range(a, len(b_ids)):
            mask[k] = True
    return mask


def encode_example(example: Example, tokenizer, max_length: int) -> dict[str, Any]:
    """Encode one Example: {"input_ids": [...], "labels": [...] (-100 = not trained), "truncated": bool}.

    Raises TrainError naming the row when no token would be trained or the answer cannot fit.
    """
    where = row_where(example)
    messages = example.messages
    if not any(m["role"] == "assistant" for m in messages):
        raise TrainError("the row has no assistant turn, so it has zero trainable tokens", where=where,
                         fix="give every row an assistant answer or drop the row")
    # Loaders check this already; an Example built in Python is checked here. A leading assistant turn
    # would have its span start at 0 and train the template's role header and default system prompt.
    check_role_order(messages, where)
    full = _render(tokenizer, messages, generation_prompt=False, where=where)
    spans = _assistant_char_spans(tokenizer, messages, full, where)
    ids, offsets = _tokenize_with_offsets(tokenizer, full, where)
    mask = _label_mask(tokenizer, full, ids, offsets, spans, where)
    labels = [t if m else IGNORE for t, m in zip(ids, mask)]
    ids, labels, truncated = _truncate(ids, labels, max_length, where)
    if all(x == IGNORE for x in labels[1:]):  # position 0 is never predicted
        raise TrainError("the row has zero trainable tokens after tokenisation", where=where,
                         fix="check the assistant content and data.max_length")
    return {"input_ids": ids, "labels": labels, "truncated": truncated}


def _truncate(ids: list[int], labels: list[int], max_length: int, where: str) -> tuple[list[int], list[int], bool]:
    """Fit into max_length, keeping the end of the prompt and as much of the last answer as possible."""
    if len(ids) <= max_length:
        return ids, labels, False
    trained = [k for k, x in enumerate(labels) if x != IGNORE]
    a1 = trained[-1] + 1  # end of the last answer (its terminator); later tokens are template whitespace
    a0 = a1
    while a0 > 0 and labels[a0 - 1] != IGNORE:  # start of the last answer's contiguous span
        a0 -= 1
    # The prompt keeps at least a quarter of the budget (or all of itself), so the answer is conditioned on
    # the end of the request; the answer keeps the rest and loses its tail only when it is that long.
    min_prompt = min(a0, max(1, max_length // 4))
    answer_room = max_length - min_prompt
    if a1 - a0 <= answer_room:
        start = max(0, a1 - max_length)
        return ids[start:a1], labels[start:a1], True
    if answer_room < 2:
        raise TrainError(f"the answer cannot fit in data.max_length={max_length} tokens next to its prompt",
                         where=where, fix="raise data.max_length or shorten the row")
    keep = list(range(a0 - min_prompt, a0)) + list(range(a0, a0 + answer_room))
    return [ids[k] for k in keep], [labels[k] for k in keep], True


def encode_examples(examples: list[Example], tokenizer, max_length: int) -> list[dict[str, Any]]:
    """Encode every Example; the first bad row raises TrainError naming it."""
    return [encode_example(ex, tokenizer, max_length) for ex in examples]


def trained_token_count(labels: list[int]) -> int:
    """Tokens that contribute to the loss (labels are shifted by one, so position 0 never does)."""
    return sum(1 for x in labels[1:] if x != IGNORE)


# ---- stop tokens ------------------------------------------------------------------------------

_PROBE = [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello there"}]


def end_of_turn_id(tokenizer) -> int | None:
    """The token every trained assistant span ends with: the first token the chat template puts after
    the assistant's content (`<|im_end|>` for ChatML, `<end_of_turn>` for Gemma, `<|eot_id|>` for
    Llama 3). Read from a rendered probe conversation with the same span logic as the label masks.
    None when the template ends a turn with no token of its own (only whitespace, or plain text
    spread over several tokens that are not one special token)."""
    try:
        full = _render(tokenizer, _PROBE, generation_prompt=False, where="chat template")
        spans = _assistant_char_spans(tokenizer, _PROBE, full, "chat template")
    except TrainError:
        return None
    if not spans:
        return None
    start, end = spans[-1]
    content_end = full.find(_PROBE[-1]["content"], start)
    if content_end < 0:
        return None
    content_end += len(_PROBE[-1]["content"])
    ids, offsets = _tokenize_with_offsets(tokenizer, full, "chat template")
    if offsets is None:  # slow tokenizer: the tokens of the text between content and span end
        tail = tokenizer(full[content_end:end], add_special_tokens=False)["input_ids"]
    else:
        tail = [t for t, (a, b) in zip(ids, offsets) if a >= content_end and b <= end and b > a]
    if not tail:
        return None
    special = set(getattr(tokenizer, "all_special_ids", []) or []) | set(
        getattr(tokenizer, "added_tokens_decoder", {}) or {})
    for tid in tail:
        if tid in special:
            return int(tid)
    return int(tail[0]) if len(tail) == 1 else None


def stop_token_ids(tokenizer, model_eos=None) -> list[int]:
    """Every token id that ends an answer, in a stable order: the template's end-of-turn token, the
    tokenizer's eos, and the model's own generation_config eos ids (an int or a list), deduplicated.
    Kept together, never one overwriting another, so training, generation and export stop alike."""
    out: list[int] = []
    candidates = [end_of_turn_id(tokenizer), getattr(tokenizer, "eos_token_id", None)]
    candidates += list(model_eos) if isinstance(model_eos, (list, tuple)) else [model_eos]
    for tid in candidates:
        if isinstance(tid, int) and not isinstance(tid, bool) and tid >= 0 and tid not in out:
            out.append(tid)
    return out
