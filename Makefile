# Collapse Lab. `make app` starts the app on the demo at http://localhost:8501;
# `make test` runs the test suite. Both create .venv and install what they need first;
# a second install is a no-op (stamp files below), so both start in seconds after the first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: app test check install install-test chromium bench clean rebuild-llama lint

# The local LLM's runtime, llama-cpp-python, compiles llama.cpp from source. It is built
# portably: no native tuning, no AVX-512 and no AMX (some machines report AMX in CPUID but kill a
# process that uses it with SIGILL); AVX2/FMA is the baseline. pip's own wheel cache does not key
# on CMAKE_ARGS, so it is bypassed: the wheel is built with --no-cache-dir into a folder named by a
# hash of the version and these flags, and installed from there by path. Changing a flag builds
# anew; an earlier native wheel is never reused.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF \
	-DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
LLAMA_KEY := $(shell printf '%s %s' '$(LLAMA_VERSION)' '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-16)
LLAMA_WHEELS := $(HOME)/.cache/collapse-lab/wheels/llama-cpp-python-$(LLAMA_KEY)

# The demo's vectors, UMAP map and comparison tables: built once at install (about 5 minutes on
# 2 cores), git-ignored, read-only at run time; rebuilt when the demo's synthetic sets change, or the
# export below or the CPU classes' table that picks the default backend (embed_choice.py; the default embeds the demo).
DEMO_BUILT := data/demo/cache/.built
# The bundled MiniLM exported to ONNX, float32 and int8, for the embedding backends, the default one
# included (analysis/vectors/embed_backends.py): built at install from the bundled model, nothing downloaded; git-ignored.
# The export writes this stamp last, so a half-finished export is redone.
EMBED_EXPORT := data/models/all-MiniLM-L6-v2-onnx/exported.json

app: install $(EMBED_EXPORT) $(DEMO_BUILT)
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.address localhost

test: install-test $(EMBED_EXPORT) $(DEMO_BUILT) chromium
	$(BIN)/python -m pytest

# The fast lane, under 2 minutes after install: lint, format and type checks, then the tests that need
# neither the real models nor the built demo (tests/conftest.py marks the others slow and fails a fast
# test that loads a model).
check: lint
	$(BIN)/python -m pytest -m "not slow" -q

# Lint, format and type checks (ruff and mypy, configured in pyproject.toml).
lint: install-test
	$(BIN)/ruff check analysis pages app.py tests collapse_lab notebooks
	$(BIN)/ruff format --check analysis pages app.py tests collapse_lab
	$(BIN)/mypy

bench: install-test $(EMBED_EXPORT) $(DEMO_BUILT) chromium
	$(BIN)/python tests/benchmarks/bench_embed.py
	$(BIN)/python tests/benchmarks/bench_generate.py
	$(BIN)/python tests/benchmarks/bench_prdc.py
	$(BIN)/python tests/benchmarks/bench_compare.py
	$(BIN)/python tests/benchmarks/bench_gaps.py
	$(BIN)/python tests/benchmarks/bench_project.py
	$(BIN)/python tests/benchmarks/bench_mixture.py
	$(BIN)/python tests/benchmarks/bench_simulate.py
	$(BIN)/python tests/benchmarks/bench_utility.py
	$(BIN)/python tests/benchmarks/bench_pages.py
	$(BIN)/python tests/benchmarks/bench_ray.py
	$(BIN)/python tests/benchmarks/bench_load.py
	$(BIN)/python tests/benchmarks/bench_scale.py

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 in pyproject.toml is the CPU build; it installs from this machine's wheel cache.
$(VENV)/.installed: pyproject.toml $(VENV)/.llama-$(LLAMA_KEY) | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.llama-$(LLAMA_KEY): | $(BIN)/python
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "Building llama-cpp-python $(LLAMA_VERSION) portably (about 9 minutes on 2 cores, once per machine)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" FORCE_CMAKE=1 $(BIN)/pip wheel --quiet --no-cache-dir --no-deps \
			--no-binary llama-cpp-python -w $(LLAMA_WHEELS).tmp llama-cpp-python==$(LLAMA_VERSION) && \
		rm -rf $(LLAMA_WHEELS) && mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); \
	fi
	$(BIN)/pip install --quiet --force-reinstall --no-deps $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	rm -f $(VENV)/.llama-*
	touch $@

# Build llama-cpp-python anew with the flags above (e.g. after a crash of the local model).
rebuild-llama: | $(BIN)/python
	rm -rf $(LLAMA_WHEELS) $(VENV)/.llama-*
	$(MAKE) $(VENV)/.llama-$(LLAMA_KEY)

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,scale]'  # scale: Ray, so tests/test_ray.py runs
	touch $@

# JupyterLab on notebooks/ (the [notebooks] extra), on localhost; the notebooks' kernel is this
# virtualenv's ipykernel ("python3"). The tests run the notebooks without it (tests/test_notebooks.py).
.PHONY: notebooks
notebooks: $(VENV)/.installed-notebooks $(DEMO_BUILT)
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --ServerApp.ip=localhost

$(VENV)/.installed-notebooks: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[notebooks]'
	touch $@

$(DEMO_BUILT): data/demo/manifest.json $(EMBED_EXPORT) analysis/vectors/embed_choice.py | $(VENV)/.installed
	$(BIN)/python -m analysis demo --embed
	touch $@

$(EMBED_EXPORT): analysis/vectors/embed_backends.py | $(VENV)/.installed
	$(BIN)/python -m analysis export-model $(dir $@)

# Debian's chromium for the browser test (tests/app/test_browser.py); nothing is downloaded by playwright.
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

clean:
	rm -rf $(VENV) data/cache data/workspace data/models data/demo/embeddings data/demo/cache .pytest_cache
