# repeatnet_repro — `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
RUNS ?= results/runs

.PHONY: help install demo test tables figures report report-wandb clean-runs

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
	$(PY) -m pytest -q -n auto --durations=15

tables: install  ## rebuild every table under results/tables from the run records
	$(PY) -m repeatnet_repro.report tables --runs $(RUNS)

figures: install  ## rebuild every figure under results/figures from the run records
	$(PY) -m repeatnet_repro.report figures --runs $(RUNS)

report: install  ## tables, figures and results/README.md (status of every experiment)
	$(PY) -m repeatnet_repro.report all --runs $(RUNS)

report-wandb: install  ## the same report from W&B runs: make report-wandb ENTITY=e PROJECT=p
	@test -n "$(ENTITY)" -a -n "$(PROJECT)" || { echo "give ENTITY=<wandb entity> PROJECT=<wandb project>" >&2; exit 2; }
	$(PY) -m repeatnet_repro.report all --source wandb --entity $(ENTITY) --project $(PROJECT)

# --- experiments ---
# Every table and figure is a preset conf/experiment/<paper>/<item>.yaml (EXPERIMENTS.md §4) that sweeps
# its rows x data sets x seeds. BUDGET=paper|short|smoke scales the epochs; ARGS adds overrides to every
# run, e.g. ARGS="trainer.device=cuda logger=none".
BUDGET ?= paper
ARGS ?=
EXPERIMENT_PAPERS := repeatnet shardnet softshare
experiments_of = $(sort $(patsubst conf/experiment/%.yaml,%,$(wildcard conf/experiment/$(1)/*.yaml)))
launch = $(PY) -m repeatnet_repro.train -m experiment=$(1) budget=$(BUDGET) paths.runs_dir=$(abspath $(RUNS)) $(ARGS)

.PHONY: experiments sweep $(addprefix paper-,$(EXPERIMENT_PAPERS))

experiments: install  ## list every experiment: runs, epochs per budget, estimated GPU hours
	$(PY) scripts/list_experiments.py

sweep: install  ## one experiment, all its runs, then the report: make sweep EXP=softshare/table1 [BUDGET=short] [ARGS=...]
	@test -n "$(EXP)" -a -f "conf/experiment/$(EXP).yaml" || { echo "EXP='$(EXP)': give one of: $(call experiments_of,*)" >&2; exit 2; }
	$(call launch,$(EXP))
	$(PY) -m repeatnet_repro.report all --runs $(RUNS)

paper-repeatnet:  ## every RepeatNet experiment, then the report ([BUDGET=short] [ARGS=...])
paper-shardnet:  ## every ShardNet experiment, then the report ([BUDGET=short] [ARGS=...])
paper-softshare:  ## every soft-sharing experiment, then the report ([BUDGET=short] [ARGS=...])
$(addprefix paper-,$(EXPERIMENT_PAPERS)): paper-%: install
	$(foreach exp,$(call experiments_of,$*),$(call launch,$(exp)) &&) true
	$(PY) -m repeatnet_repro.report all --runs $(RUNS)
# --- end experiments ---
