# repeatnet_repro — `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
RUNS ?= results/runs

.PHONY: help install demo test tables figures report clean-runs

help:  ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed  ## create .venv and install the package with its dev extra

demo: install  ## train the demo (digits, no download), then rebuild its table and figure
	$(PY) -m repeatnet_repro.train -m experiment=demo sharing=none,hard seed=0,1 logger=wandb trainer.progress=false
	$(PY) -m repeatnet_repro.report all --runs $(RUNS)

test: install  ## run the test suite (CPU only)
	$(PY) -m pytest -q

tables: install  ## rebuild every table under results/tables from the run records
	$(PY) -m repeatnet_repro.report tables --runs $(RUNS)

figures: install  ## rebuild every figure under results/figures from the run records
	$(PY) -m repeatnet_repro.report figures --runs $(RUNS)

report: install  ## tables and figures
	$(PY) -m repeatnet_repro.report all --runs $(RUNS)
