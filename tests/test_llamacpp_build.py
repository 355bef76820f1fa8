"""check_llama_build: a llama-cpp-python build that dies with SIGILL on its first prompt (GCC 12 + AMX) is a
ModelError with the rebuild command, tried once per build in a child process; auto falls back to HF."""
from __future__ import annotations

import sys
import uuid
import warnings

import pytest

from tailorkit.errors import ModelError
from test_evaluate_support import make_run
from test_evaluate_support import one_thread  # noqa: F401  (fixture)

pytest.importorskip("llama_cpp")
gguf = pytest.importorskip("gguf")

AMX = "CPU : AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | OPENMP = 1 |"
NO_AMX = "CPU : AVX2 = 1 | AVX512 = 1 | OPENMP = 1 |"
SIGILL = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"]
ANSWERS = [sys.executable, "-c", "print('ok')"]


def header_only_gguf(path, file_type: int):
    """A GGUF with metadata and no tensors: enough for the check, which reads only the header."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_file_type(file_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def key() -> str:
    return uuid.uuid4().hex  # a build key of its own per test: the check remembers good builds per process


def test_sigill_build_is_a_model_error_with_the_rebuild_command(tmp_path):
    from tailorkit.infer.llamacpp_build import check_llama_build

    q8, k = header_only_gguf(tmp_path / "m.gguf", 7), key()
    with pytest.raises(ModelError, match="Illegal instruction") as err:
        check_llama_build(q8, system_info=AMX, key=k, cache=tmp_path / "checks", probe=SIGILL)
    assert "-fno-dse -fno-tree-dse" in str(err.value) and "generation.engine: hf" in str(err.value)
    assert not (tmp_path / "checks").exists()  # a broken build is not remembered as good
    with pytest.raises(ModelError, match="Illegal instruction"):  # nor tried again in this process
        check_llama_build(q8, system_info=AMX, key=k, cache=tmp_path / "checks", probe=ANSWERS)


def test_good_build_is_tried_once_then_remembered(tmp_path):
    from tailorkit.infer.llamacpp_build import check_llama_build

    q8, cache, k = header_only_gguf(tmp_path / "m.gguf", 7), tmp_path / "checks", key()
    check_llama_build(q8, system_info=AMX, key=k, cache=cache, probe=ANSWERS)
    assert (cache / f"{k}.ok").read_text().startswith("CPU :")
    # the marker is read, so a probe that would crash is never run again for this build
    from tailorkit.infer import llamacpp_build

    llamacpp_build._checked.discard(k)  # as a new process would start
    check_llama_build(q8, system_info=AMX, key=k, cache=cache, probe=SIGILL)


def test_no_trial_without_amx_or_for_unquantised_files(tmp_path):
    from tailorkit.infer.llamacpp_build import check_llama_build

    q8, f16 = header_only_gguf(tmp_path / "q8.gguf", 7), header_only_gguf(tmp_path / "f16.gguf", 1)
    check_llama_build(q8, system_info=NO_AMX, key=key(), cache=tmp_path / "c", probe=SIGILL)
    check_llama_build(f16, system_info=AMX, key=key(), cache=tmp_path / "c", probe=SIGILL)
    assert not (tmp_path / "c").exists()


def test_failure_other_than_sigill_is_left_to_the_real_load(tmp_path):
    from tailorkit.infer.llamacpp_build import check_llama_build

    q8 = header_only_gguf(tmp_path / "m.gguf", 7)
    check_llama_build(q8, system_info=AMX, key=key(), cache=tmp_path / "c",
                      probe=[sys.executable, "-c", "raise SystemExit(3)"])
    assert not (tmp_path / "c").exists()


@pytest.fixture
def run(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TAILOR_CACHE", str(tmp_path / "cache"))
    return make_run(tmp_path / "proj", tiny_model_dir)


@pytest.mark.usefixtures("one_thread")
def test_real_probe_answers_on_the_installed_build(run, tmp_path):
    """The real child process on a real q8_0 GGUF (as if this CPU had AMX): the installed build answers."""
    from tailorkit.infer.gguf_files import find_gguf
    from tailorkit.infer.llamacpp_build import check_llama_build

    source = find_gguf(run, "base", write=True)
    k = key()
    check_llama_build(source.model, system_info=AMX, key=k, cache=tmp_path / "checks")
    assert (tmp_path / "checks" / f"{k}.ok").exists()


@pytest.mark.usefixtures("one_thread")
def test_auto_falls_back_to_hf_and_llamacpp_refuses(run, monkeypatch):
    from tailorkit.infer import llamacpp, llamacpp_build
    from tailorkit.infer.open import open_engine

    broken = key()

    def as_a_broken_build(path):
        llamacpp_build.check_llama_build(path, system_info=AMX, key=broken, cache=run.run_dir / "c", probe=SIGILL)

    monkeypatch.setattr(llamacpp, "check_llama_build", as_a_broken_build)
    with pytest.warns(UserWarning, match="Using the HF engine instead"):
        engine = open_engine(run, "base", engine="auto", device="cpu")
    assert engine.name == "hf"
    engine.close()
    with warnings.catch_warnings(record=True) as again:  # one warning per process, not per model
        warnings.simplefilter("always")
        open_engine(run, "tuned", engine="auto", device="cpu").close()
    assert not [w for w in again if "HF engine instead" in str(w.message)]
    with pytest.raises(ModelError, match="Illegal instruction"):
        open_engine(run, "base", engine="llamacpp", device="cpu")
