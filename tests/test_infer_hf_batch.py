"""Batched streaming rows: each row streams its own tokens, has its own budget, seed and cancel flag."""
from __future__ import annotations

from tailorkit.config.generation import GenerationConfig
from tailorkit.infer.hf import HFEngine
from tailorkit.infer.hf_batch import RowSpec
from tailorkit.infer.text import IncrementalText
from tailorkit.infer.hf_generate import render_prompt
from tailorkit.models import load_model, load_tokenizer

GEN = GenerationConfig(repetition_penalty=1.0, no_repeat_ngram_size=0)


def _engine(tiny_model_dir):
    tok = load_tokenizer(str(tiny_model_dir))
    return HFEngine(load_model(str(tiny_model_dir), device="cpu", tokenizer=tok).eval(), tok, label="tiny")


def test_rows_stream_their_own_tokens_and_budgets(tiny_model_dir):
    engine = _engine(tiny_model_dir)
    convs = [[{"role": "user", "content": t}] for t in ("a red fox", "a very long request about a castle at dusk")]
    prompts = [render_prompt(engine.tokenizer, c, i) for i, c in enumerate(convs)]
    seen: dict[int, list[int]] = {0: [], 1: []}
    out = engine.generate_rows(prompts, [RowSpec(3), RowSpec(7)], GEN, on_token=lambda r, t: seen[r].append(t))
    assert [len(r.ids) for r in out] == [len(seen[0]), len(seen[1])]
    assert [r.ids for r in out] == [seen[0], seen[1]]
    assert len(out[0].ids) <= 3 and len(out[1].ids) <= 7
    # greedy alone == greedy in the batch for the row's own budget (the same answer as engine.generate)
    alone = engine.generate([convs[1]], GEN.model_copy(update={"max_new_tokens": 7}), show_progress=False)[0]
    assert engine.tokenizer.decode(out[1].ids, skip_special_tokens=True).strip() == alone.text


def test_a_cancelled_row_stops_while_the_others_go_on(tiny_model_dir):
    engine = _engine(tiny_model_dir)
    prompt = render_prompt(engine.tokenizer, [{"role": "user", "content": "go on"}], 0)
    counts = [0, 0]

    def on_token(row, tid):
        counts[row] += 1

    out = engine.generate_rows([prompt, prompt], [RowSpec(200), RowSpec(20)], GEN, on_token=on_token,
                               cancelled=lambda r: r == 0 and counts[0] >= 2)
    assert len(out[0].ids) == 2 and not out[0].stopped
    assert len(out[1].ids) == 20 or out[1].stopped


def test_sampling_depends_on_the_row_seed_only(tiny_model_dir):
    engine = _engine(tiny_model_dir)
    prompt = render_prompt(engine.tokenizer, [{"role": "user", "content": "dream"}], 0)
    hot = dict(max_new_tokens=12, temperature=1.5)
    a, b, c = engine.generate_rows([prompt] * 3, [RowSpec(seed=1, **hot), RowSpec(seed=2, **hot), RowSpec(seed=1, **hot)], GEN)
    assert a.ids == c.ids and a.ids != b.ids
    import torch

    state = torch.get_rng_state()
    (again,) = engine.generate_rows([prompt], [RowSpec(seed=1, **hot)], GEN)
    assert again.ids == a.ids
    assert torch.equal(state, torch.get_rng_state())  # per-row generators: the process RNG is untouched


def test_incremental_text_concatenates_to_the_decoded_answer(tiny_model_dir):
    tok = load_tokenizer(str(tiny_model_dir))
    ids = tok("  héllo wörld ünïcode  ", add_special_tokens=False)["input_ids"]
    text = IncrementalText(tok)
    pieces = [text.add(t) for t in ids]
    assert "".join(pieces) + text.finish() == tok.decode(ids, skip_special_tokens=True).strip()
