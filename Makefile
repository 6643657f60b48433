# Two commands for a new user: `make run` (the whole DVC pipeline on the
# embedded synthetic data) and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU wheel of torch, installed before anything else can pull the CUDA build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: run test app venv clean

# dvc runs each stage's cmd in a shell: put the venv first on PATH so `python` is ours.
export PATH := $(CURDIR)/$(BIN):$(PATH)

run: $(STAMP)
	dvc repro

test: $(STAMP)
	python -m pytest -q

# The Streamlit app on the latest run's artifacts (after `make run`), on this machine only: it has no login
# (README "The app" shows how to expose it behind authentication).
app: $(STAMP)
	streamlit run pipeline/app.py --server.address localhost

venv: $(STAMP)

# Exact versions from requirements.lock first (the same bytes on every machine, so dvc.lock holds),
# then the project itself without resolving anything again.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache
