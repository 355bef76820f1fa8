"""open_llamacpp / open_engine(engine="llamacpp"): GGUFs written once into the cache (keyed by the model's
files), reused, refreshed when the adapter changes; None for a GPU device unless required; clear errors."""
from __future__ import annotations

import pytest

from tailorkit.errors import ModelError
from test_evaluate_support import make_run
from test_evaluate_support import one_thread  # noqa: F401  (fixture)

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def run(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TAILOR_CACHE", str(tmp_path / "cache"))
    return make_run(tmp_path / "proj", tiny_model_dir)  # a full fine-tune, overfit on PAIRS


def test_base_and_tuned_gguf_written_once_and_reused(run, tmp_path):
    from tailorkit.infer.llamacpp import open_llamacpp
    from tailorkit.infer.open import open_engine

    base = open_engine(run, "base", engine="llamacpp")
    assert base.name == "llamacpp" and base.gguf_path.is_relative_to(tmp_path / "cache")
    conv = [{"role": "user", "content": "midjourney prompt for a viking"}]
    assert base.generate([conv], run.generation, show_progress=False)[0].n_tokens > 0
    base.close()
    tuned = open_llamacpp(run, "tuned", required=True)
    path, mtime = tuned.gguf_path, tuned.gguf_path.stat().st_mtime_ns
    answer = tuned.generate([conv], run.generation, show_progress=False)[0]
    assert answer.finish_reason == "stop" and "viking" in answer.text  # the overfit run's answer
    tuned.close()
    again = open_llamacpp(run, "tuned", required=True)
    assert again.gguf_path == path and path.stat().st_mtime_ns == mtime  # cached, not rewritten
    again.close()
    (run.run_dir / "adapter" / "extra.txt").write_text("changed")  # another adapter: another cache entry
    changed = open_llamacpp(run, "tuned", required=True)
    assert changed.gguf_path != path
    changed.close()


def test_gpu_device_or_unsupported_model(run, tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    from tailorkit.infer.llamacpp import open_llamacpp

    assert open_llamacpp(run, "base", required=False, device="cuda") is None
    folder = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=1, n_head=2, n_positions=64)).save_pretrained(folder)
    from tailorkit.models import load_tokenizer

    load_tokenizer(run.model.base).save_pretrained(folder)
    assert open_llamacpp(run, str(folder), required=False) is None  # auto falls back to HF
    with pytest.raises(ModelError, match="GPT2LMHeadModel"):
        open_llamacpp(run, str(folder), required=True)
