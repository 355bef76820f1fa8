"""Text metrics against known values: ROUGE-L, chrF (sacreBLEU's published figures), preambles, loops."""
from __future__ import annotations

import math

import pytest

from tailorkit.evaluate.metrics import (METRICS, aggregate, better, chrf, corpus_chrf, ends_in_loop, has_preamble,
                                        never_stops, rouge_l, score_row)
from test_evaluate_support import one_thread  # noqa: F401  (fixture)


def test_rouge_l_known_values():
    assert rouge_l("the cat sat", "the cat sat") == 1.0
    assert rouge_l("dog", "the cat sat") == 0.0
    assert rouge_l("", "the cat") == 0.0
    # LCS("the quick brown dog jumps on the log", "the quick brown fox jumps over the lazy dog")
    # = the quick brown jumps the -> 5; P = 5/8, R = 5/9, F1 = 2PR/(P+R) = 10/17.
    assert rouge_l("The quick brown dog jumps on the log.",
                   "The quick brown fox jumps over the lazy dog") == pytest.approx(10 / 17)
    # Order matters (unlike ROUGE-1): LCS of reversed 4 words is 1 -> P = R = 1/4.
    assert rouge_l("d c b a", "a b c d") == pytest.approx(0.25)


def test_chrf_matches_sacrebleu_published_values():
    # Figures from the sacreBLEU-backed chrF metric card (char_order 6, beta 2, no whitespace).
    hyp = "The relationship between Obama and Netanyahu is not exactly friendly."
    ref = "The ties between Obama and Netanyahu are not particularly friendly."
    assert chrf(hyp, ref) == pytest.approx(61.576379378113785, abs=1e-9)
    hyps = ["The relationship between cats and dogs is not exactly friendly.",
            "a good bookshop is just a genteel black hole that knows how to read."]
    refs = ["The relationship between dogs and cats is not exactly friendly.",
            "A good bookshop is just a genteel Black Hole that knows how to read."]
    assert corpus_chrf(hyps, refs) == pytest.approx(84.64214891738334, abs=1e-9)
    assert chrf("same text", "same   text") == pytest.approx(100.0)
    assert chrf("", "abc") == 0.0 and chrf("xyz", "abc") == 0.0


@pytest.mark.parametrize("text", [
    "Sure! Here's a prompt: a cat", "sure, a cat", "Here is a Midjourney prompt for you", "Here's one:",
    "Here are three ideas", "Certainly. A cat", "Of course! A cat", "Absolutely, here it is",
    "I'd be happy to help", "I’d be glad to", "As an AI language model, I", "  **Sure**: a cat", "Okay, a cat",
])
def test_preamble_detected(text):
    assert has_preamble(text)


@pytest.mark.parametrize("text", [
    "portrait of a girl on roller skates --ar 16:9", "Absolutely stunning portrait of a fox",
    "Surreal landscape, sure-footed goat", "Hereford cow in a field", "a certainly odd cat", "",
])
def test_no_preamble(text):
    assert not has_preamble(text)


def test_loop_detection():
    assert ends_in_loop("a cat, a dog, a cat, a dog, a cat, a dog,")  # period 4, three cycles
    assert ends_in_loop("portrait of a girl very very very")  # period 1
    assert ends_in_loop("x y z x y z x y z x y")  # trailing partial cycle
    assert not ends_in_loop("a cat, a dog, a cat, a dog,")  # only two cycles
    assert not ends_in_loop("portrait of a girl on roller skates, neon city at night --ar 16:9")
    assert not ends_in_loop("")
    assert never_stops("fine text", "length")
    assert never_stops("go go go", "stop")
    assert not never_stops("fine text", "stop")


def test_aggregate_and_direction():
    rows = [score_row("Sure! a cat", "stop", 4, "a cat", (2.0, 2), 0.5),
            score_row("a cat a cat a cat", "length", 9, "a cat", (6.0, 2), 0.7)]
    agg = aggregate(rows)
    assert agg["nll"] == pytest.approx(8.0 / 4)  # token-weighted, not the mean of row means
    assert agg["perplexity"] == pytest.approx(math.exp(2.0))
    assert agg["preamble_rate"] == 0.5 and agg["never_stops_rate"] == 0.5 and agg["loop_rate"] == 0.5
    assert agg["median_words"] == pytest.approx((3 + 6) / 2)
    assert agg["embed_sim"] == pytest.approx(0.6)
    by_key = {m.key: m for m in METRICS}
    assert better(by_key["nll"], 2.0, 1.0) == "tuned"
    assert better(by_key["rouge_l"], 0.3, 0.2) == "base"
    assert better(by_key["median_words"], 40, 12, reference=10) == "tuned"
    assert better(by_key["median_words"], 40, 12) is None
    assert better(by_key["chrf"], 50.0, 50.0) == "tie"
    assert aggregate([]) == {}


def test_reference_nll_equals_the_models_own_loss(tiny_model_dir, one_thread):
    import torch

    from tailorkit.data.example import Example
    from tailorkit.evaluate.metrics import reference_nll
    from tailorkit.train.tokenize import encode_example
    from test_evaluate_support import load_tiny

    model, tok = load_tiny(tiny_model_dir)
    examples = [Example.simple("midjourney prompt for a girl", "portrait of a girl, neon city"),
                Example.simple("hi", "a viking warrior with a black iron amulet, matte painting, unreal engine")]
    got = reference_nll(model, tok, examples, max_length=128, batch_size=2)  # batched with right padding
    for ex, (nll_sum, n) in zip(examples, got):
        enc = encode_example(ex, tok, 128)
        with torch.no_grad():
            loss = model(input_ids=torch.tensor([enc["input_ids"]]), labels=torch.tensor([enc["labels"]])).loss
        assert n == sum(1 for x in enc["labels"][1:] if x != -100)
        assert nll_sum / n == pytest.approx(float(loss), rel=1e-4)
