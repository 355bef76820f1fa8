"""generate(): stops at the terminator, reports finish_reason, batching/left padding changes nothing."""
from __future__ import annotations

import pytest

from tailorkit.config import GenerationConfig
from tailorkit.infer.engine import Generation
from tailorkit.infer.hf_generate import generate, terminator_ids
from test_evaluate_support import PAIRS, conversation, load_tiny, overfit
from test_evaluate_support import one_thread  # noqa: F401  (fixture)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tiny_model_dir):
    model, tok = load_tiny(tiny_model_dir)
    overfit(model, tok)
    return model, tok


def test_stops_at_terminator_and_reports_stop(trained):
    model, tok = trained
    out = generate(model, tok, [conversation(u) for u, _ in PAIRS], GenerationConfig(max_new_tokens=40))
    assert [g.text for g in out] == [a for _, a in PAIRS]
    assert all(g.finish_reason == "stop" for g in out)
    assert all(g.n_tokens == len(tok.encode(a, add_special_tokens=False)) for g, (_, a) in zip(out, PAIRS))
    assert tok.padding_side == "right"  # the training tokenizer is left as it was


def test_cap_reports_length(tiny_model_dir):
    model, tok = load_tiny(tiny_model_dir)  # random weights: never emits the terminator
    out = generate(model, tok, [conversation("hi")], GenerationConfig(max_new_tokens=7))
    assert out[0].finish_reason == "length" and out[0].n_tokens == 7


def test_batched_left_padding_matches_one_by_one(trained):
    model, tok = trained
    convs = [conversation("hi"), conversation(PAIRS[0][0]),
             [{"role": "system", "content": "You are a helpful assistant. Write the prompt."},
              {"role": "user", "content": PAIRS[1][0] + " at night with lightning"}]]
    cfg = GenerationConfig(max_new_tokens=24)
    batched = generate(model, tok, convs, cfg, batch_size=3)
    single = [generate(model, tok, [c], cfg, batch_size=1)[0] for c in convs]
    assert batched == single
    assert len({len(tok.apply_chat_template(c, add_generation_prompt=True, return_dict=False)) for c in convs}) == 3


def test_sampling_is_seeded(trained):
    model, tok = trained
    cfg = GenerationConfig(max_new_tokens=12, temperature=1.5, seed=3)
    a = generate(model, tok, [conversation("hi")] * 2, cfg)
    b = generate(model, tok, [conversation("hi")] * 2, cfg)
    assert a == b and all(isinstance(g, Generation) for g in a)


def test_terminators_include_generation_config_eos(trained):
    model, tok = trained
    model.generation_config.eos_token_id = [tok.eos_token_id, tok.pad_token_id]
    try:
        assert terminator_ids(model, tok) == [tok.eos_token_id, tok.pad_token_id]
    finally:
        model.generation_config.eos_token_id = tok.eos_token_id


def test_empty_input():
    assert generate(None, None, [], GenerationConfig()) == []


def test_repetition_controls_spare_the_prompt_by_default(trained):
    model, tok = trained
    user, answer = PAIRS[1]  # the answer repeats "viking" from the request
    strict = GenerationConfig(max_new_tokens=40, repetition_penalty=1.5, no_repeat_ngram_size=2)
    assert generate(model, tok, [conversation(user)], strict)[0].text == answer
    both = strict.model_copy(update={"penalize_prompt": True})
    assert generate(model, tok, [conversation(user)], both)[0].text != answer
