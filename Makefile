# Two commands do all the set-up on a fresh machine:
#   make demo   -> virtual environment, install, breakdown of the RG-output seed preset
#   make test   -> the same set-up, then lint (mypy strict + ruff), then the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The CPU build of torch first: an unpinned torch can pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: demo test test-fast test-wide reports bench clean install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$(TORCH)" || echo "note: $(TORCH) not available here; pip will pick torch from pyproject's range"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/paramscope breakdown rg_output_etth1

test: $(STAMP) lint
	$(BIN)/python -m pytest -q -m "not wide" tests

test-wide: $(STAMP)
	$(BIN)/python -m pytest -q -m wide tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not wide" tests

reports: $(STAMP)
	$(BIN)/python tools/make_reports.py reports

bench: $(STAMP)
	$(BIN)/python benchmarks/run_peers.py

clean:
	rm -rf $(VENV) build dist *.egg-info

# Type check + lint; `make test` runs it first, so CI (.ci/run = make test) keeps it clean. Settings: pyproject.toml [tool.mypy] / [tool.ruff].
# package-dir maps cli/, profiler/, model_zoo/ and paramscope_pkg/ to `paramscope.*`, which mypy
# cannot follow from the tree, so it checks a throwaway .typecheck/paramscope/ of symlinks instead.
# Both tools always run; the target fails if either reports a problem.
TYPECHECK := .typecheck/paramscope
.PHONY: lint
lint: $(STAMP)
	rm -rf .typecheck && mkdir -p $(TYPECHECK)
	ln -s ../../cli ../../profiler ../../model_zoo $(TYPECHECK)/
	ln -s ../../paramscope_pkg/__init__.py $(TYPECHECK)/__init__.py
	status=0; \
	$(BIN)/mypy $(TYPECHECK) || status=1; \
	MYPYPATH=.typecheck:tools $(BIN)/mypy tools || status=1; \
	$(BIN)/ruff check . || status=1; \
	exit $$status
