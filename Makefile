# Quick start: `make demo` (main job) and `make test` (test suite); each sets up .venv on first use: the demo what
# lightops needs to run (torch, timm and the base dependencies), the tests every extra beside it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE := $(VENV)/.base
STAMP := $(VENV)/.installed
TIMM := $(shell sed -n 's/.*"timm==\([0-9.]*\)".*/\1/p' pyproject.toml)
TIMM_SRC := $(VENV)/timm-src

.PHONY: demo test lint format clean

$(BASE): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e . torch==2.14.1
	touch $(BASE)

$(STAMP): $(BASE)
	# torch named again so that no extra (executorch, torchao: the edge extra) can move it
	$(BIN)/python -m pip install -q -e ".[dev]" torch==2.14.1
	$(BIN)/python -c "import executorch.exir, torchao, torch; assert torch.__version__.startswith('2.14.1'), torch.__version__"
	# real speech WAVs for the front-end parity tests; its pytest plugin is disabled in pyproject.toml
	$(BIN)/python -m pip install -q --no-deps pytest-audioeval==0.1.3
	# timm's own model tests of the pinned version (tests/models/test_timm_suite.py runs them over dssdn*)
	rm -rf $(TIMM_SRC) && mkdir -p $(TIMM_SRC)
	$(BIN)/python -m pip download -q --no-binary :all: --no-deps "timm==$(TIMM)" -d $(TIMM_SRC)
	tar -xzf $(TIMM_SRC)/timm-$(TIMM).tar.gz -C $(TIMM_SRC) timm-$(TIMM)/tests/test_models.py
	touch $(STAMP)

demo: $(BASE)
	$(BIN)/lightops demo

test: $(STAMP)
	$(BIN)/ruff check lightops tests examples benchmarks scripts
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check lightops tests examples benchmarks scripts

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .benchmarks
