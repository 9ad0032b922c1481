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

.PHONY: app test install install-test chromium bench clean

# The demo's vectors, UMAP map and comparison tables: built once at install (about 5 minutes on
# 2 cores), git-ignored, read-only at run time; rebuilt when the demo's synthetic sets change.
DEMO_BUILT := data/demo/cache/.built

app: install $(DEMO_BUILT)
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.address localhost

test: install-test $(DEMO_BUILT) chromium
	$(BIN)/python -m pytest

bench: install-test $(DEMO_BUILT) chromium
	$(BIN)/python tests/benchmarks/bench_embed.py
	$(BIN)/python tests/benchmarks/bench_generate.py
	$(BIN)/python tests/benchmarks/bench_prdc.py
	$(BIN)/python tests/benchmarks/bench_compare.py
	$(BIN)/python tests/benchmarks/bench_project.py
	$(BIN)/python tests/benchmarks/bench_mixture.py
	$(BIN)/python tests/benchmarks/bench_simulate.py
	$(BIN)/python tests/benchmarks/bench_utility.py
	$(BIN)/python tests/benchmarks/bench_pages.py

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 in pyproject.toml is the CPU build; it installs from this machine's wheel cache.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(DEMO_BUILT): data/demo/manifest.json | $(VENV)/.installed
	$(BIN)/python -m analysis demo --embed
	touch $@

# Debian's chromium for the browser test (tests/app/test_browser.py); nothing is downloaded by playwright.
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

clean:
	rm -rf $(VENV) data/cache data/workspace data/demo/embeddings data/demo/cache .pytest_cache
