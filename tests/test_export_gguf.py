"""`tailor export --gguf` on tiny runs: merged GGUF + LoRA GGUF + Modelfile written and checked against the
tuned model; the Modelfile TEMPLATE renders the training template's text; a GGUF that loses its stop token
fails the check; bad input is one line and exit 2 with nothing written."""
from __future__ import annotations

import json
import re

import pytest

from tailorkit.cli import main
from tailorkit.config.generation import GenerationConfig
from tailorkit.export import export
from test_evaluate_support import PAIRS, load_tiny, make_run
from test_evaluate_support import one_thread  # noqa: F401  (fixture)
from test_export_merge import lora_run  # noqa: F401  (fixture: a tiny LoRA run with random B)

llama_cpp = pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def full_run(tiny_model_dir, tmp_path_factory):
    """The tiny model fully fine-tuned (overfit) on PAIRS: it stops by itself after each answer."""
    checks = [{"type": "lines", "max": 1, "name": "one line"}, {"type": "regex", "pattern": "--ar", "name": "has --ar"}]
    return make_run(tmp_path_factory.mktemp("full"), tiny_model_dir,
                    compare={"batch_size": 4, "n_examples": 2, "checks": checks})


@pytest.fixture(scope="module")
def full_export(full_run):
    return export(full_run, gguf=True, quant="f32")


def test_full_run_exports_a_checked_gguf_and_modelfile(full_run, full_export):
    out = full_run.run_dir / "export"
    assert full_export.paths["gguf"] == out / "model-f32.gguf" and (out / "Modelfile").exists()
    assert "lora" not in full_export.paths  # a full fine-tune has no adapter
    report = json.loads((out / "gguf_check.json").read_text())
    assert report == full_export.gguf_check and report["passed"] is True
    side = report["sides"][0]
    n = len(PAIRS)
    assert side["prompts"] == n and side["token_identical"] == n and side["mismatches"] == []
    assert side["hf_self_stopped"] == side["gguf_self_stopped"] == n  # every answer stops
    assert report["prompt_text_tokenizes_identically"] == n
    # the project's task checks on both sides' answers: the overfit model answers PAIRS' references
    rates, with_ar = report["checks"]["pass_rate"], sum("--ar" in a for _, a in PAIRS) / n
    assert rates["has --ar"] == {"HF": pytest.approx(with_ar), "merged GGUF": pytest.approx(with_ar)}
    assert rates["one line"] == {"HF": 1.0, "merged GGUF": 1.0}
    assert report["checks"]["line"] in report["summary"]
    assert report["checks"]["line"].endswith("no check lower on the merged GGUF")
    gen = full_run.generation  # the project's decoding at temperature 0, penalties included
    assert report["decoding"] == (f"greedy, repetition_penalty {gen.repetition_penalty}, "
                                  f"no_repeat_ngram_size {gen.no_repeat_ngram_size}")
    record = json.loads((out / "gguf.json").read_text())
    assert record["check_passed"] is True and record["end_tokens"] == ["<|im_end|>"]
    assert any("3/3 token-identical" in line for line in full_export.check_lines())


def test_modelfile_template_renders_the_training_prompt(full_run, full_export):
    from transformers import AutoTokenizer

    from tailorkit.export.modelfile import ollama_render

    text = (full_run.run_dir / "export" / "Modelfile").read_text()
    assert text.splitlines()[1] == "FROM ./model-f32.gguf"
    assert 'PARAMETER stop "<|im_end|>"' in text and "PARAMETER num_predict 40" in text
    template = re.search(r'TEMPLATE """(.*?)"""', text, re.S).group(1)
    tok = AutoTokenizer.from_pretrained(full_run.run_dir / "adapter")
    conv = [{"role": "system", "content": "You write prompts."}, {"role": "user", "content": "a cat"},
            {"role": "assistant", "content": "a cat, 8k --ar 1:1"}, {"role": "user", "content": "a dog"}]
    want = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    assert ollama_render(template, conv) == want
    assert ollama_render(template, conv[1:2]) == tok.apply_chat_template(conv[1:2], tokenize=False,
                                                                       add_generation_prompt=True)


def test_engine_uses_the_exported_gguf_of_its_tensor_type(full_run, full_export, tmp_path, monkeypatch):
    from tailorkit.infer.open import open_engine

    monkeypatch.setenv("TAILOR_CACHE", str(tmp_path / "cache"))
    same = full_run.model_copy(update={"generation": full_run.generation.model_copy(update={"gguf_quant": "f32"})})
    engine = open_engine(same, "tuned", engine="llamacpp")
    assert engine.name == "llamacpp" and engine.gguf_path == full_export.paths["gguf"]
    user, answer = PAIRS[0]
    got = engine.generate([[{"role": "user", "content": user}]], full_run.generation, show_progress=False)[0]
    assert got.finish_reason == "stop" and got.text == answer
    engine.close()
    other = open_engine(full_run, "tuned", engine="llamacpp")  # the default q8_0: written into the cache
    assert other.gguf_path.name == "model-q8_0.gguf" and other.gguf_path.is_relative_to(tmp_path / "cache")
    other.close()


def test_a_gguf_that_lost_its_stop_token_fails_the_check(full_run, full_export, tmp_path):
    from tailorkit.convert.model import write_model_gguf
    from tailorkit.convert.vocab import build_vocab
    from tailorkit.export.check import check_gguf

    model, tok = load_tiny(full_run.run_dir / "adapter")
    vocab = build_vocab(tok, model.get_input_embeddings().num_embeddings, [tok.convert_tokens_to_ids("<|endoftext|>")])
    bad = write_model_gguf(model, vocab, tmp_path / "bad.gguf", quant="f32", show_progress=False)
    gen = GenerationConfig(max_new_tokens=40)
    report = check_gguf(full_run.run_dir / "adapter", full_run.run_dir / "data" / "test.jsonl", bad,
                        generation=gen, show_progress=False)
    assert report["passed"] is False and "stopped by itself and the other did not" in report["message"]
    side = report["sides"][0]
    assert side["gguf_self_stopped"] == 0 and side["hf_self_stopped"] == len(PAIRS)
    first = side["mismatches"][0]
    # the GGUF writes <|im_end|> like HF but does not stop on it: HF has ended where the GGUF goes on
    assert first["hf_token"] == "<end>" and first["gguf_stopped"] is False


def test_lora_run_exports_adapter_gguf_via_cli(lora_run, capsys):
    import gguf

    (lora_run.root / "tailor.yaml").write_text(lora_run.to_yaml())
    assert main(["export", "-c", str(lora_run.root / "tailor.yaml"), "--gguf", "--quant", "f32"]) == 0
    printed = capsys.readouterr().out
    assert "GGUF check:" in printed and "token-identical to HF" in printed
    out = lora_run.run_dir / "export"
    reader = gguf.GGUFReader(str(out / "lora-adapter.gguf"))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["adapter.lora.alpha"].contents() == pytest.approx(8.0)
    names = {t.name for t in reader.tensors}
    assert {"blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b", "blk.1.ffn_down.weight.lora_b"} <= names
    report = json.loads((out / "gguf_check.json").read_text())
    assert report["passed"] is True and report["sides"][0]["token_identical"] >= len(PAIRS) - 1


def _cli_export(cfg, *args):
    (cfg.root / "tailor.yaml").write_text(cfg.to_yaml())
    return main(["export", "-c", str(cfg.root / "tailor.yaml"), *args])


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_bad_input_exit_2_nothing_written(tiny_model_dir, tmp_path, capsys):
    from transformers import GPT2Config, GPT2LMHeadModel

    no_adapter = make_run(tmp_path / "none", tiny_model_dir, train_adapter=False)
    assert _cli_export(no_adapter, "--gguf") == 2
    assert "tailor train" in _one_line_error(capsys) and not (no_adapter.run_dir / "export").exists()

    lora = make_run(tmp_path / "quant", tiny_model_dir)
    assert _cli_export(lora, "--gguf", "--quant", "q3_k") == 2
    err = _one_line_error(capsys)
    assert "q3_k" in err and "q8_0" in err and not (lora.run_dir / "export").exists()

    gpt2 = make_run(tmp_path / "arch", tiny_model_dir, train_adapter=False)
    model, tok = load_tiny(tiny_model_dir)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=64,
                               bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)).save_pretrained(
        gpt2.run_dir / "adapter")
    tok.save_pretrained(gpt2.run_dir / "adapter")
    capsys.readouterr()
    assert _cli_export(gpt2, "--gguf") == 2
    err = _one_line_error(capsys)
    assert "GPT2LMHeadModel" in err and "LlamaForCausalLM" in err and not (gpt2.run_dir / "export").exists()


def test_llama_cpp_quant_export_via_cli(tiny_model_dir, tmp_path, capsys):
    """--quant iq4_nl: the merged GGUF is llama.cpp's IQ4_NL, its tensor types are in gguf.json and printed,
    and the llama.cpp engine answers from the exported file."""
    from tailorkit.infer import open_engine

    run = make_run(tmp_path / "iq4", tiny_model_dir)
    assert _cli_export(run, "--gguf", "--quant", "IQ4_NL", "--no-check") == 0
    out = run.run_dir / "export"
    record = json.loads((out / "gguf.json").read_text())
    assert record["model"] == "model-iq4_nl.gguf" and record["quant"] == "iq4_nl"
    assert record["tensor_types"]["IQ4_NL"] > 0 and "F16" not in record["tensor_types"]
    assert "tensor types: IQ4_NL" in capsys.readouterr().out
    assert not [p for p in out.iterdir() if "staged" in p.name or ".tmp" in p.name]
    cfg = run.model_copy(update={"generation": run.generation.model_copy(update={"gguf_quant": "iq4_nl"})})
    engine = open_engine(cfg, "tuned", engine="llamacpp")
    assert engine.gguf_path == out / "model-iq4_nl.gguf"
    assert engine.generate([[{"role": "user", "content": PAIRS[0][0]}]], GenerationConfig(max_new_tokens=8),
                           show_progress=False)[0].n_tokens > 0
    engine.close()


def test_task_checks_name_the_checks_the_gguf_passes_less(tmp_path):
    from tailorkit.checks import Checker
    from tailorkit.config import build_config
    from tailorkit.export.check import SideBySide, _task_checks

    cfg = build_config({"compare": {"checks": [{"type": "regex", "pattern": "--ar", "name": "has --ar"},
                                               {"type": "lines", "max": 1, "name": "one line"}]}}, root=tmp_path)
    side = SideBySide("merged GGUF", texts=["a cat --ar 1:1", "a dog", "x\ny"])
    out = _task_checks(Checker(cfg.compare.checks), ["a cat --ar 1:1", "a dog --ar 2:3", "x y"], [side])
    assert out["pass_rate"]["has --ar"] == {"HF": pytest.approx(2 / 3), "merged GGUF": pytest.approx(1 / 3)}
    assert out["all_pass_rate"] == {"HF": pytest.approx(2 / 3), "merged GGUF": pytest.approx(1 / 3)}
    assert out["line"] == ("task checks, all passing: HF 67%, merged GGUF 33%; lower on the merged GGUF: "
                           "has --ar 67% -> 33%; one line 100% -> 67%")
