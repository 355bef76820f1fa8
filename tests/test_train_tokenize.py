"""Label masks from template token spans, truncation, zero-trainable rows, and collation."""
from __future__ import annotations

import pytest

from tailorkit.data.example import Example
from tailorkit.errors import DataError, TrainError
from tailorkit.models import load_tokenizer
from tailorkit.train.collate import collate, count_trained
from tailorkit.train.tokenize import IGNORE, encode_example

# SmolLM2's own template: it injects a default system prompt when the conversation has none.
SMOL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return load_tokenizer(str(tiny_model_dir))


def labelled_spans(tok, enc) -> list[str]:
    """Decoded text of each contiguous run of labelled tokens."""
    spans, cur = [], []
    for i, lab in zip(enc["input_ids"], enc["labels"]):
        if lab != IGNORE:
            assert lab == i
            cur.append(i)
        elif cur:
            spans.append(tok.decode(cur))
            cur = []
    if cur:
        spans.append(tok.decode(cur))
    return spans


def test_pad_token_is_not_the_terminator(tok):
    assert tok.pad_token_id is not None
    assert tok.eos_token == "<|im_end|>"
    assert tok.pad_token_id != tok.eos_token_id


def test_only_answer_and_terminator_are_labelled(tok):
    ex = Example.simple("a girl on roller skates", "portrait of a girl, neon city --ar 16:9", system="Write the prompt.")
    enc = encode_example(ex, tok, 512)
    assert labelled_spans(tok, enc) == ["portrait of a girl, neon city --ar 16:9<|im_end|>"]
    # Everything before the answer (system, user, generation prompt) and the trailing newline is not trained.
    prompt = tok.apply_chat_template(ex.prompt_messages(), tokenize=False, add_generation_prompt=True)
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert all(x == IGNORE for x in enc["labels"][:n_prompt])
    assert enc["labels"][n_prompt] != IGNORE
    assert tok.decode(enc["input_ids"][-1:]) == "\n" and enc["labels"][-1] == IGNORE
    assert enc["labels"][-2] == tok.eos_token_id


def test_every_assistant_turn_is_labelled_in_multi_turn(tok):
    ex = Example(messages=[
        {"role": "system", "content": "You write prompts."},
        {"role": "user", "content": "a viking"},
        {"role": "assistant", "content": "a viking warrior, matte painting"},
        {"role": "user", "content": "now a car"},
        {"role": "assistant", "content": "steampunk car, copper"},
    ])
    enc = encode_example(ex, tok, 512)
    assert labelled_spans(tok, enc) == ["a viking warrior, matte painting<|im_end|>", "steampunk car, copper<|im_end|>"]
    assert sum(1 for x in enc["labels"] if x == tok.eos_token_id) == 2


def test_template_with_injected_system_prompt(tiny_model_dir):
    tok = load_tokenizer(str(tiny_model_dir), chat_template=SMOL_TEMPLATE)
    enc = encode_example(Example.simple("a fox", "a quick brown fox"), tok, 512)
    assert labelled_spans(tok, enc) == ["a quick brown fox<|im_end|>"]
    assert "SmolLM" in tok.decode(enc["input_ids"])


def test_row_without_answer_is_an_error_naming_the_row(tok):
    ex = Example(messages=[{"role": "user", "content": "hello"}], meta={"source": "data/raw.csv", "row": 7})
    with pytest.raises(TrainError) as err:
        encode_example(ex, tok, 512)
    assert err.value.where == "data/raw.csv:7"
    assert "zero trainable tokens" in err.value.one_line()


def test_truncation_keeps_prompt_end_and_whole_answer(tok):
    answer = "cinematic lighting, 8k"
    ex = Example.simple("midjourney prompt for a girl " * 30, answer)
    full = encode_example(ex, tok, 4096)
    enc = encode_example(ex, tok, 48)
    assert enc["truncated"] and not full["truncated"]
    assert len(enc["input_ids"]) <= 48
    assert labelled_spans(tok, enc) == [answer + "<|im_end|>"]
    # The tokens right before the answer are the end of the prompt (the generation prompt).
    n = len(enc["input_ids"])
    assert enc["input_ids"] == full["input_ids"][len(full["input_ids"]) - 1 - n:-1]


def test_truncation_never_empties_a_long_answer(tok):
    ex = Example.simple("a girl", "portrait of a girl, neon city at night " * 40)
    enc = encode_example(ex, tok, 40)
    assert len(enc["input_ids"]) == 40
    trained = [x for x in enc["labels"] if x != IGNORE]
    assert len(trained) >= 40 - 40 // 4 - 1
    assert "assistant" in tok.decode(enc["input_ids"][:10])  # the generation prompt survived


def test_collate_pads_right_and_masks_padding_by_attention(tok):
    pad = tok.pad_token_id
    # A row whose answer contains the pad id as a real token: masking by id would wrongly drop it.
    rows = [{"input_ids": [5, 6, pad, 8], "labels": [IGNORE, 6, pad, 8]}, {"input_ids": [5, 9], "labels": [IGNORE, 9]}]
    b = collate(rows, pad)
    assert b["input_ids"].tolist() == [[5, 6, pad, 8], [5, 9, pad, pad]]
    assert b["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert b["labels"].tolist() == [[IGNORE, 6, pad, 8], [IGNORE, 9, IGNORE, IGNORE]]
    assert count_trained(b) == 4


def test_a_conversation_opening_with_an_assistant_turn_is_refused_not_trained_on_the_prompt(tiny_model_dir):
    # With the SmolLM2 template, the span of a leading answer would start at 0 and cover the role header
    # and the injected default system prompt: the model would learn to write its own prompt.
    tok = load_tokenizer(str(tiny_model_dir), chat_template=SMOL_TEMPLATE)
    ex = Example(messages=[{"role": "assistant", "content": "Hello, how can I help?"},
                           {"role": "user", "content": "a fox"}, {"role": "assistant", "content": "a quick brown fox"}],
                 meta={"source": "data/chats.jsonl", "line": 3})
    with pytest.raises(DataError) as err:
        encode_example(ex, tok, 512)
    assert err.value.where == "data/chats.jsonl:3:messages[0]" and "out of order" in err.value.what
    # The same turns in a valid order train only the answers.
    ok = Example(messages=ex.messages[1:])
    assert labelled_spans(tok, encode_example(ok, tok, 512)) == ["a quick brown fox<|im_end|>"]
