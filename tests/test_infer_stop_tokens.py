"""Stop tokens are part of the template contract: with a Gemma-style template (turns end with
<end_of_turn>, eos is <eos>), training labels end with <end_of_turn>, generation stops on it, the
adapter records it and the merged model's generation_config lists it next to the model's own eos."""
from __future__ import annotations

import json

import pytest

from tailorkit.config.generation import GenerationConfig
from tailorkit.data.example import Example
from tailorkit.infer.hf import HFEngine
from tailorkit.models import load_model, load_tokenizer
from tailorkit.template import IGNORE, encode_example, end_of_turn_id, stop_token_ids
from test_evaluate_support import fit_rows
from test_evaluate_support import one_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")
PAIRS = [("midjourney prompt for a girl", "portrait of a girl on roller skates"),
         ("midjourney prompt for a viking", "a viking warrior, matte painting")]
GREEDY = GenerationConfig(max_new_tokens=30, repetition_penalty=1.0, no_repeat_ngram_size=0)


@pytest.fixture(scope="module")
def gemma_dir(tmp_path_factory):
    from tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-gemma"), style="gemma")


def _ids(tok, *names):
    return [tok.convert_tokens_to_ids(n) for n in names]


def test_end_of_turn_is_read_from_the_template(gemma_dir, tiny_model_dir):
    gemma = load_tokenizer(str(gemma_dir))
    eot, eos = _ids(gemma, "<end_of_turn>", "<eos>")
    assert eot != eos == gemma.eos_token_id
    assert end_of_turn_id(gemma) == eot
    assert stop_token_ids(gemma, [eos, 7]) == [eot, eos, 7]
    chatml = load_tokenizer(str(tiny_model_dir))
    assert end_of_turn_id(chatml) == chatml.convert_tokens_to_ids("<|im_end|>")


def test_training_labels_end_with_end_of_turn(gemma_dir):
    tok = load_tokenizer(str(gemma_dir))
    enc = encode_example(Example.simple(*PAIRS[0]), tok, 128)
    trained = [t for t in enc["labels"] if t != IGNORE]
    assert trained[-1] == end_of_turn_id(tok)
    assert tok.eos_token_id not in trained


def test_loading_keeps_the_models_eos_and_adds_end_of_turn(gemma_dir):
    tok = load_tokenizer(str(gemma_dir))
    model = load_model(str(gemma_dir), device="cpu", tokenizer=tok)
    assert set(model.generation_config.eos_token_id) == set(_ids(tok, "<end_of_turn>", "<eos>"))


def _overfit_with_training_labels(model, tok, steps: int = 80):
    """Teach the tiny model the pairs with tailorkit's own label masks (answer + <end_of_turn>)."""
    rows = [encode_example(Example.simple(u, a), tok, 128) for u, a in PAIRS]
    fit_rows(model, [(r["input_ids"], r["labels"]) for r in rows], tok.pad_token_id, steps)


@pytest.fixture(scope="module")
def gemma_tuned(gemma_dir, tmp_path_factory):
    """The tiny Gemma-style model fully fine-tuned on PAIRS and saved as a run's adapter folder."""
    from tailorkit.config import build_config
    from tailorkit.train.load import save_tuned

    tok = load_tokenizer(str(gemma_dir))
    model = load_model(str(gemma_dir), device="cpu", tokenizer=tok)
    _overfit_with_training_labels(model, tok)
    cfg = build_config({"model": {"base": str(gemma_dir)}, "train": {"method": "full"}},
                       root=tmp_path_factory.mktemp("gemma-run"))
    save_tuned(model, tok, cfg.run_dir / "adapter", cfg)
    return cfg


def test_generation_stops_on_end_of_turn(gemma_tuned):
    from tailorkit.infer.loading import load_tuned

    model, tok = load_tuned(gemma_tuned.run_dir / "adapter", device="cpu")
    engine = HFEngine(model, tok)
    assert end_of_turn_id(tok) in engine.stop_ids
    gens = engine.generate([[{"role": "user", "content": u}] for u, _ in PAIRS], GREEDY, show_progress=False)
    assert [(g.text, g.finish_reason) for g in gens] == [(a, "stop") for _, a in PAIRS]
    deltas = list(engine.stream([{"role": "user", "content": PAIRS[0][0]}], GREEDY))
    assert "".join(d.text for d in deltas) == PAIRS[0][1] and deltas[-1].finish_reason == "stop"
    # A model whose generation_config knows only <eos> (what load_model used to write): plain
    # transformers runs past <end_of_turn>; the engine still stops there (the template contract).
    model.generation_config.eos_token_id = [tok.eos_token_id]
    ids = tok.apply_chat_template([{"role": "user", "content": PAIRS[0][0]}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    raw = model.generate(**ids, max_new_tokens=30, do_sample=False)[0, ids["input_ids"].shape[1]:].tolist()
    assert end_of_turn_id(tok) in raw and len(raw) > raw.index(end_of_turn_id(tok)) + 1
    again = HFEngine(model, tok).generate([[{"role": "user", "content": PAIRS[0][0]}]], GREEDY, show_progress=False)
    assert (again[0].text, again[0].finish_reason) == (PAIRS[0][1], "stop")


def test_adapter_records_and_merged_model_lists_the_stop_tokens(gemma_tuned):
    from tailorkit.train.export import export

    tok = load_tokenizer(str(gemma_tuned.model.base))
    eot, eos = _ids(tok, "<end_of_turn>", "<eos>")
    meta = json.loads((gemma_tuned.run_dir / "adapter" / "tailorkit.json").read_text())
    assert meta["end_of_turn"] == "<end_of_turn>" and meta["stop_token_ids"][:2] == [eot, eos]
    merged = export(gemma_tuned, merge=True).paths["merged"]
    gen_cfg = json.loads((merged / "generation_config.json").read_text())
    assert eot in gen_cfg["eos_token_id"] and eos in gen_cfg["eos_token_id"]
    assert gen_cfg["pad_token_id"] not in gen_cfg["eos_token_id"]
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(merged)  # plain transformers stops on it too
    ids = tok.apply_chat_template([{"role": "user", "content": PAIRS[1][0]}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    out = plain.generate(**ids, max_new_tokens=30, do_sample=False)[0, ids["input_ids"].shape[1]:].tolist()
    assert out[-1] == eot and tok.decode(out[:-1]) == PAIRS[1][1]
