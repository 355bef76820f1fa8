"""The HF engine: batch answers equal streamed answers; a closed stream stops the generation."""
from __future__ import annotations

from tailorkit.config.generation import GenerationConfig
from tailorkit.infer.hf import HFEngine
from tailorkit.models import load_model, load_tokenizer


def _engine(tiny_model_dir):
    tok = load_tokenizer(str(tiny_model_dir))
    return HFEngine(load_model(str(tiny_model_dir), device="cpu", tokenizer=tok).eval(), tok, label="tiny")


def test_stream_concatenates_to_the_batch_answer(tiny_model_dir):
    engine = _engine(tiny_model_dir)
    gen = GenerationConfig(max_new_tokens=24)
    conv = [{"role": "user", "content": "a cat on a skateboard"}]
    batch = engine.generate([conv], gen, show_progress=False)[0]
    deltas = list(engine.stream(conv, gen))
    assert "".join(d.text for d in deltas) == batch.text
    assert [d.n_tokens for d in deltas[:-1]] == list(range(1, len(deltas)))
    assert deltas[-1].finish_reason == batch.finish_reason
    assert deltas[-1].n_tokens == batch.n_tokens
    assert batch.prompt_tokens == engine.count_tokens(conv) > 0


def test_closing_a_stream_stops_generation(tiny_model_dir):
    engine = _engine(tiny_model_dir)
    gen = GenerationConfig(max_new_tokens=400, repetition_penalty=1.0, no_repeat_ngram_size=0)
    stream = engine.stream([{"role": "user", "content": "go on forever"}], gen)
    first = next(stream)
    assert first.finish_reason is None and first.n_tokens == 1
    stream.close()  # sets the stop flag and joins the worker: it ends at the next token, not after 400
    assert engine.stop_ids and engine.context_length > 0
