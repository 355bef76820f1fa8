"""GGUF writer + llama.cpp engine on the tiny random Llama: merged GGUF answers token for token like HF,
a GGUF LoRA adapter on the base GGUF equals the merged GGUF, the engine keeps the Engine contract, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from tailorkit.config.generation import GenerationConfig
from tailorkit.errors import ConfigError, ModelError
from test_evaluate_support import load_tiny
from test_evaluate_support import one_thread  # noqa: F401  (fixture)

llama_cpp = pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.usefixtures("one_thread")

PROMPTS = ["a cat on a skateboard", "midjourney prompt for a viking warrior", "steampunk car, copper"]


def _write(model, tok, path, quant="f32"):
    from tailorkit.infer.gguf_files import write_merged_gguf

    write_merged_gguf(model, tok, path, quant=quant, name="tiny", show_progress=False)
    return path


@pytest.fixture(scope="module")
def tiny(tiny_model_dir, tmp_path_factory):
    model, tok = load_tiny(tiny_model_dir)
    path = tmp_path_factory.mktemp("gguf") / "tiny-f32.gguf"
    _write(model.eval(), tok, path)
    return model, tok, path


@pytest.fixture(scope="module")
def lora(tiny, tmp_path_factory):
    """A random-B LoRA (rsLoRA, so the alpha folding matters) saved as PEFT, as an adapter GGUF and merged."""
    import torch
    from peft import LoraConfig, get_peft_model

    from tailorkit.convert.lora import write_lora_gguf
    from tailorkit.convert.model import shape_of

    model, tok, _ = tiny
    out = tmp_path_factory.mktemp("lora")
    torch.manual_seed(1)
    base, _ = load_tiny(model.config._name_or_path)
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", use_rslora=True,
                                           init_lora_weights=False))
    peft.save_pretrained(out / "adapter")
    adapter = write_lora_gguf(out / "adapter", shape_of(model.config), out / "lora.gguf")
    merged = out / "merged.gguf"
    _write(peft.merge_and_unload().eval(), tok, merged)
    return adapter, merged


def _engine(path, tok, **kw):
    from tailorkit.infer.llamacpp import LlamaCppEngine

    return LlamaCppEngine(path, tok, n_threads=1, **kw)


def _logits(path, ids, lora=None):
    llm = llama_cpp.Llama(model_path=str(path), lora_path=str(lora) if lora else None, n_ctx=128,
                          n_threads=1, logits_all=True, verbose=False)
    llm.eval(ids)
    out = np.array(llm.scores[:len(ids)])
    llm.close()
    return out


def test_merged_gguf_metadata_and_tokenizer(tiny):
    import gguf

    model, tok, path = tiny
    reader = gguf.GGUFReader(str(path))
    field = lambda k: reader.fields[k].contents()  # noqa: E731
    assert field("general.architecture") == "llama" and field("tokenizer.ggml.pre") == "gpt-2"
    assert field("tokenizer.ggml.eos_token_id") == tok.convert_tokens_to_ids("<|im_end|>")
    assert field("tokenizer.chat_template") == tok.chat_template
    assert len(field("tokenizer.ggml.tokens")) == model.get_input_embeddings().num_embeddings
    # llama.cpp tokenises the rendered prompt text exactly as the training tokenizer does
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=128, verbose=False, vocab_only=True)
    text = tok.apply_chat_template([{"role": "user", "content": "a viking, 16:9 --ar 8:5 !"}],
                                   add_generation_prompt=True, tokenize=False)
    assert llm.tokenize(text.encode(), add_bos=False, special=True) == tok(text, add_special_tokens=False)["input_ids"]


def test_header_metadata_equals_gguf_py_and_a_damaged_file_is_a_model_error(tiny, tmp_path):
    import gguf

    from tailorkit.infer.gguf_meta import gguf_metadata

    _, _, path = tiny
    reader = gguf.GGUFReader(str(path))
    expected = {k: f.contents() for k, f in reader.fields.items() if len(f.types) == 1 and not k.startswith("GGUF.")}
    assert gguf_metadata(path) == expected and expected["general.architecture"] == "llama"
    for name, data in (("cut.gguf", path.read_bytes()[:2000]), ("text.gguf", b"hello world"), ("empty.gguf", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ModelError, match="not a readable GGUF"):
            gguf_metadata(tmp_path / name)


def test_merged_gguf_logits_and_greedy_tokens_equal_hf(tiny):
    import torch

    from tailorkit.infer.hf import HFEngine

    model, tok, path = tiny
    ids = tok.apply_chat_template([{"role": "user", "content": PROMPTS[1]}], add_generation_prompt=True,
                                  tokenize=True, return_dict=False)
    with torch.no_grad():
        hf = model(torch.tensor([ids])).logits[0].numpy()
    np.testing.assert_allclose(_logits(path, ids), hf, atol=1e-3)  # a wrong q/k permutation is off by ~1
    convs = [[{"role": "user", "content": p}] for p in PROMPTS]
    engine = _engine(path, tok)
    for gen in (GenerationConfig(max_new_tokens=30),  # penalties over generated tokens, as HF
                GenerationConfig(max_new_tokens=30, repetition_penalty=1.0, no_repeat_ngram_size=0),
                GenerationConfig(max_new_tokens=30, penalize_prompt=True, repetition_penalty=1.5)):
        a = HFEngine(model, tok).generate(convs, gen, show_progress=False)
        b = engine.generate(convs, gen, show_progress=False)
        assert [(x.text, x.n_tokens, x.finish_reason) for x in a] == [(x.text, x.n_tokens, x.finish_reason) for x in b]
    engine.close()


def test_batched_decoding_equals_one_at_a_time(tiny):
    """More prompts than slots, a prompt longer than one llama.cpp batch (chunked prefill), the token cap,
    penalties and seeded sampling: every row as when decoded alone."""
    _, tok, path = tiny
    engine = _engine(path, tok)
    convs = [[{"role": "user", "content": p}] for p in PROMPTS]
    convs += [[{"role": "user", "content": f"{PROMPTS[i % 3]} number {i}"}] for i in range(3)]
    convs.append([{"role": "user", "content": " ".join(["copper steampunk owl"] * 60)}])
    system = {"role": "system", "content": "You turn a plain request into a Midjourney prompt."}
    convs = [[system, *conv] for conv in convs]  # a common prefix: evaluated once, copied into each slot
    assert engine.count_tokens(convs[-1]) > 512
    for gen in (GenerationConfig(max_new_tokens=30), GenerationConfig(max_new_tokens=5),
                GenerationConfig(max_new_tokens=20, temperature=0.9, seed=4)):
        alone = engine.generate(convs, gen, batch_size=1, show_progress=False)
        before = engine.prefix_reused
        together = engine.generate(convs, gen, batch_size=3, show_progress=False)
        assert together == alone
        system_turn = len(tok(f"<|im_start|>system\n{system['content']}<|im_end|>\n", add_special_tokens=False)["input_ids"])
        assert system_turn >= 8 and engine.prefix_reused - before >= system_turn * (len(convs) - 1)  # evaluated once
    assert {g.finish_reason for g in alone} <= {"stop", "length"} and alone[0].n_tokens <= 20
    words = ["owl"] * 600
    while engine.count_tokens([{"role": "user", "content": " ".join(words)}]) < engine.context_length - 6:
        words.append("owl")
    edge = [[{"role": "user", "content": " ".join(words)}], convs[0]]  # room for a few tokens only
    gen = GenerationConfig(max_new_tokens=40, repetition_penalty=1.0, no_repeat_ngram_size=0)
    alone, together = (engine.generate(edge, gen, batch_size=b, show_progress=False) for b in (1, 2))
    assert together == alone and alone[0].prompt_tokens + alone[0].n_tokens <= engine.context_length
    engine.close()


def test_prompt_prefix_cache_answers_as_a_fresh_context(tiny):
    """One prompt after another on the engine's own context: the KV cells of the prefix a prompt shares
    with the previous call (the system turn; a chat's earlier turns) are kept, not evaluated again, and
    the answers are those of a fresh context: a chat's next turn, the same prompt again, a shorter one."""
    _, tok, path = tiny
    gen = GenerationConfig(max_new_tokens=12)
    first = [{"role": "system", "content": "You write Midjourney prompts."}, {"role": "user", "content": PROMPTS[0]}]
    warm = _engine(path, tok)
    answer = warm.generate([first], gen, show_progress=False)[0]
    assert warm.prefix_reused == 0
    chat = first + [{"role": "assistant", "content": answer.text}, {"role": "user", "content": PROMPTS[1]}]
    convs = [chat, chat, first[:1] + [{"role": "user", "content": "owl"}], [{"role": "user", "content": PROMPTS[2]}]]
    reused = []
    for conv in convs:
        before = warm.prefix_reused
        got = warm.generate([conv], gen, show_progress=False)[0]
        reused.append(warm.prefix_reused - before)
        fresh = _engine(path, tok)
        assert got == fresh.generate([conv], gen, show_progress=False)[0]
        fresh.close()
    warm.prefix_cache = False  # off: every prompt evaluated whole, the same answers
    before = warm.prefix_reused
    assert warm.generate([chat], gen, show_progress=False)[0] == warm.generate([chat], gen, show_progress=False)[0]
    assert warm.generate(convs, gen, batch_size=2, show_progress=False)[:1] == \
           [warm.generate([chat], gen, show_progress=False)[0]] and warm.prefix_reused == before
    assert reused[0] >= warm.count_tokens(first) - 1  # the whole first turn
    assert reused[1] == warm.count_tokens(chat) - 1  # the same prompt: only its last token again
    assert 0 < reused[2] < warm.count_tokens(first) and reused[3] < reused[2]
    warm.close()


def test_lora_adapter_gguf_on_base_equals_merged(tiny, lora):
    model, tok, base = tiny
    adapter, merged = lora
    ids = tok.apply_chat_template([{"role": "user", "content": PROMPTS[0]}], add_generation_prompt=True,
                                  tokenize=True, return_dict=False)
    with_adapter, whole = _logits(base, ids, lora=adapter), _logits(merged, ids)
    np.testing.assert_allclose(with_adapter, whole, atol=1e-3)
    assert np.abs(with_adapter - _logits(base, ids)).max() > 0.05  # the adapter changes the model
    gen = GenerationConfig(max_new_tokens=24, repetition_penalty=1.0, no_repeat_ngram_size=0)
    conv = [[{"role": "user", "content": p}] for p in PROMPTS]
    a, b = _engine(base, tok, lora_path=adapter), _engine(merged, tok)
    assert [g.text for g in a.generate(conv, gen, show_progress=False)] == \
           [g.text for g in b.generate(conv, gen, show_progress=False)]


def test_stream_matches_generate_and_closing_stops(tiny):
    _, tok, path = tiny
    engine = _engine(path, tok)
    gen = GenerationConfig(max_new_tokens=24)
    conv = [{"role": "user", "content": PROMPTS[2]}]
    batch = engine.generate([conv], gen, show_progress=False)[0]
    deltas = list(engine.stream(conv, gen))
    assert "".join(d.text for d in deltas) == batch.text
    assert deltas[-1].finish_reason == batch.finish_reason and deltas[-1].n_tokens == batch.n_tokens
    assert batch.prompt_tokens == engine.count_tokens(conv) > 0
    stream = engine.stream(conv, GenerationConfig(max_new_tokens=400, repetition_penalty=1.0, no_repeat_ngram_size=0))
    assert next(stream).n_tokens == 1
    stream.close()  # releases the context: the next call runs at once
    assert engine.generate([conv], gen, show_progress=False)[0].text == batch.text
    assert tok.convert_tokens_to_ids("<|im_end|>") in engine.stop_ids and engine.context_length == 2048  # tiny.py
    seeded = GenerationConfig(max_new_tokens=16, temperature=0.9, seed=3)
    assert engine.generate([conv], seeded, show_progress=False) == engine.generate([conv], seeded, show_progress=False)


def test_unsupported_architecture_and_quant(tiny, tmp_path):
    from transformers import GPT2Config

    from tailorkit.convert.model import shape_of
    from tailorkit.convert.quant import check_quant

    with pytest.raises(ModelError) as err:
        shape_of(GPT2Config(architectures=["GPT2LMHeadModel"]))
    assert "GPT2LMHeadModel" in str(err.value) and "LlamaForCausalLM" in str(err.value)
    with pytest.raises(ConfigError) as err:
        check_quant("q3_k")
    assert "q3_k" in str(err.value) and "q8_0" in str(err.value)
    model, tok, _ = tiny
    with pytest.raises(ConfigError):
        _write(model, tok, tmp_path / "x.gguf", quant="q3_k")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_missing_or_bad_gguf_is_a_model_error(tiny, tmp_path):
    _, tok, _ = tiny
    with pytest.raises(ModelError, match="no GGUF file"):
        _engine(tmp_path / "absent.gguf", tok)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelError, match="not a readable GGUF"):
        _engine(bad, tok)


@pytest.mark.parametrize("kind", ["qwen2", "llama3-rope"])
def test_other_layouts_match_hf_logits(kind, tiny, tmp_path):
    """Qwen2 (NeoX rope, no permutation, q/k/v biases) and Llama 3.1 rope scaling (a rope_freqs tensor)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    _, tok, _ = tiny
    common = dict(vocab_size=len(tok), intermediate_size=64, num_hidden_layers=2, max_position_embeddings=512,
                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    if kind == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(hidden_size=32, num_attention_heads=4, num_key_value_heads=2,
                                             tie_word_embeddings=False, **common))
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                torch.nn.init.normal_(p, std=0.5)
    else:
        rope = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
        model = LlamaForCausalLM(LlamaConfig(hidden_size=64, num_attention_heads=2, num_key_value_heads=1,
                                             rope_parameters=rope, **common))
    model.eval()
    path = _write(model, tok, tmp_path / f"{kind}.gguf")
    ids = tok.apply_chat_template([{"role": "user", "content": PROMPTS[1]}], add_generation_prompt=True,
                                  tokenize=True, return_dict=False)
    with torch.no_grad():
        hf = model(torch.tensor([ids])).logits[0].numpy()
    np.testing.assert_allclose(_logits(path, ids), hf, atol=1e-3)


def test_llama_cpp_quant_types_are_written_by_its_quantizer(tmp_path):
    """q4_k_m and iq4_nl: written at 16 bits, quantised by llama.cpp, the staged file removed; the file's
    type and tensor types are llama.cpp's, and it answers close to the HF model."""
    import gguf
    import torch

    from tailorkit.convert.requant import tensor_types
    from tiny import build_tiny_model

    # 256-wide rows: the width k-quants' super-blocks need (a narrower matrix falls back to another type)
    model, tok = load_tiny(build_tiny_model(tmp_path / "m256", hidden=256, vocab_size=512))
    ids = tok.apply_chat_template([{"role": "user", "content": PROMPTS[1]}], add_generation_prompt=True,
                                  tokenize=True, return_dict=False)
    with torch.no_grad():
        hf = model(torch.tensor([ids])).logits[0].numpy()
    out = tmp_path / "out"
    for quant, ftype, expected in (("q4_k_m", 15, {"Q4_K", "Q6_K"}), ("iq4_nl", 25, {"IQ4_NL"})):
        path = _write(model.eval(), tok, out / f"model-{quant}.gguf", quant=quant)
        assert gguf.GGUFReader(str(path)).fields["general.file_type"].contents() == ftype
        types = tensor_types(path)
        assert expected <= set(types) and "F16" not in types, types
        got = _logits(path, ids)
        cos = (got * hf).sum(-1) / (np.linalg.norm(got, axis=-1) * np.linalg.norm(hf, axis=-1))
        assert cos.min() > 0.9, (quant, cos)  # 4-bit weights: close, not equal
    assert sorted(p.name for p in out.iterdir()) == ["model-iq4_nl.gguf", "model-q4_k_m.gguf"]  # nothing staged left


def test_llama_cpp_quant_without_llama_cpp_or_on_a_bad_file(tiny, tmp_path, monkeypatch):
    from tailorkit.convert.requant import requantize

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF not really")
    with pytest.raises(ModelError, match="could not quantise"):
        requantize(bad, tmp_path / "out.gguf", "q4_k_m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.gguf"]
    monkeypatch.setitem(__import__("sys").modules, "llama_cpp", None)  # as if not installed
    model, tok, _ = tiny
    with pytest.raises(ConfigError) as err:
        _write(model, tok, tmp_path / "x.gguf", quant="Q4_K_M")
    assert "pip install 'tailorkit[llamacpp]'" in str(err.value) and "q8_0" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.gguf"]
