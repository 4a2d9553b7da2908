# Two entry points: `make run` (the main job on the embedded default data) and `make test`.
# Both create or reuse .venv and install the pinned dependencies first; no root needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
# bash with pipefail: the install's output is filtered through grep, and a failing pip must still fail make.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Vigie needs Python 3.11 (set PYTHON=/path/to/python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "installing Vigie and its pinned dependencies into $(VENV) (a few minutes on a fresh machine; one line per package)"
	@# setuptools warns on every editable install, with nothing for the user to do
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install --progress-bar off -c constraints.txt -e '.[test]' \
	  | { grep -E --line-buffered '^(Collecting|Successfully installed|ERROR)' || true; }
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/vigie run

# Two workers (one per core of the CI machine); an idle worker takes tests from the busy one (worksteal:
# 7 min against 8 min with a test file per worker, measured on 2 cores).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

bench: $(STAMP)
	$(BIN)/python bench/features_speed.py

clean:
	rm -rf $(VENV) .vigie .pytest_cache
