"""The HF continuous-batching decoder (infer/hf_slots.py): rows admitted at different steps, of different
prompt lengths, dropped midway, answer token for token as the model does alone; the cache shrinks as rows
leave; models with sliding-window attention are not taken."""
from __future__ import annotations

import pytest

from tailorkit.config.generation import GenerationConfig
from tailorkit.infer.hf import HFEngine
from tailorkit.infer.hf_generate import render_prompt
from tailorkit.infer.hf_slots import supported
from test_evaluate_support import PAIRS, load_tiny, make_run
from test_evaluate_support import one_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")
# the overfit run's own requests (it answers them with their references: a wrong position derails it)
PROMPTS = [PAIRS[0][0], PAIRS[1][0] + " with a black iron amulet, matte painting", PAIRS[2][0], PAIRS[1][0], "neon city"]


@pytest.fixture(scope="module")
def overfit(tiny_model_dir, tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("hfslots"), tiny_model_dir)
    return HFEngine(*load_tiny(run.run_dir / "adapter"))


def _alone(engine, text, gen):
    return engine.generate([[{"role": "user", "content": text}]], gen, show_progress=False)[0]


@pytest.mark.parametrize("gen", [GenerationConfig(max_new_tokens=30, repetition_penalty=1.0, no_repeat_ngram_size=0),
                                 GenerationConfig(max_new_tokens=30)])  # penalties over generated tokens
def test_rows_joining_and_leaving_answer_as_alone(overfit, gen):
    engine = overfit
    tok, stops = engine.tokenizer, set(engine.stop_ids)
    dec = engine.batch_decoder(3)
    prompts = [render_prompt(tok, [{"role": "user", "content": p}], i) for i, p in enumerate(PROMPTS)]
    budgets = [30, 7, 30, 12, 5]
    got: dict[int, list[int]] = {i: [] for i in range(len(PROMPTS))}
    finished, waiting, step, widths = {}, list(range(len(PROMPTS))), 0, []
    while waiting or dec.active:
        if waiting and dec.has_room() and step % 2 == 0:  # a new row every other step while there is room
            i = waiting.pop(0)
            dec.admit(i, prompts[i], gen.model_copy(update={"max_new_tokens": budgets[i]}))
        if step == 6:
            dec.drop(2)  # a client that went away
            finished[2] = None
        for row, token, done in dec.step():
            got[row].append(token)
            if done:
                finished[row] = got[row]
        if dec._mask is not None:
            widths.append(dec._mask.shape[1])
        step += 1
    assert tok.decode(finished[0][:-1], skip_special_tokens=True) == PAIRS[0][1]  # the overfit answer
    for i, text in enumerate(PROMPTS):
        if i == 2:
            assert len(got[2]) <= 6  # dropped: nothing after the drop
            continue
        ids = finished[i]
        stopped = ids[-1] in stops
        alone = _alone(engine, text, gen.model_copy(update={"max_new_tokens": budgets[i]}))
        assert tok.decode(ids[:-1] if stopped else ids, skip_special_tokens=True).strip() == alone.text
        assert ("stop" if stopped else "length") == alone.finish_reason
        assert len(ids) - stopped == alone.n_tokens
    assert dec.active == 0 and dec._cache is None  # everything left the batch
    assert min(widths[len(widths) // 2:]) < max(widths)  # columns nobody attends to were cut


def test_a_prompt_that_does_not_fit_and_sliding_window_models(tiny_model_dir):
    from tailorkit.errors import ModelError

    model, tok = load_tiny(tiny_model_dir)
    engine = HFEngine(model, tok)
    dec = engine.batch_decoder(2, per_slot=16)
    with pytest.raises(ModelError, match="does not fit"):
        dec.admit("x", list(range(16)), GenerationConfig())
    assert supported(model)
    model.config.sliding_window = 4096  # a Mistral-style rolling cache cannot be merged by padding
    model.config.use_sliding_window = True
    assert not supported(model) and engine.batch_decoder(2) is None
