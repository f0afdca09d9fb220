# repeatnet_repro — `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Outputs follow the runs (results/README.md, "Layout of results/"): a report goes to <runs>/report unless
# OUT=DIR says otherwise, so only `make results` writes the committed results/{tables,figures,README.md}.
RUNS ?= results/runs
OUT ?=
DEMO_RUNS := results/runs/demo
report_to = $(PY) -m repeatnet_repro.report $(1) --runs $(2) $(if $(OUT),--out $(OUT))

.PHONY: help install demo test tables figures report results report-wandb clean-runs

help:  ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed  ## create .venv and install the package with its dev extra

demo: install  ## train the demo (digits, no download) into results/runs/demo/paper, its report into results/runs/demo/report
	$(PY) -m repeatnet_repro.train -m experiment=demo sharing=none,hard seed=0,1 logger=wandb trainer.progress=false \
		paths.runs_dir=$(abspath results/runs)
	$(call report_to,all,$(DEMO_RUNS))

test: install  ## run the test suite (CPU only)
	$(PY) -m pytest -q -n auto --dist loadgroup --durations=15

tables: install  ## every paper table of the runs under RUNS (results/runs) into RUNS/report/tables [OUT=DIR]
	$(call report_to,tables,$(RUNS))

figures: install  ## every paper figure of the runs under RUNS into RUNS/report/figures [OUT=DIR]
	$(call report_to,figures,$(RUNS))

report: install  ## tables, figures and the index (status of every experiment) of RUNS into RUNS/report [OUT=DIR]
	$(call report_to,all,$(RUNS))

results: install  ## rebuild the committed results/ (tables, figures, README.md) from results/runs/curated only
	$(PY) -m repeatnet_repro.report all --runs results/runs/curated --out results

report-wandb: install  ## the same report from W&B runs into RUNS/wandb/E/P/report: make report-wandb ENTITY=e PROJECT=p
	@test -n "$(ENTITY)" -a -n "$(PROJECT)" || { echo "give ENTITY=<wandb entity> PROJECT=<wandb project>" >&2; exit 2; }
	$(PY) -m repeatnet_repro.report all --source wandb --entity $(ENTITY) --project $(PROJECT) --runs $(RUNS) \
		$(if $(OUT),--out $(OUT))

clean-runs:  ## delete every run and report under results/runs except curated/ (no prompt: nothing committed goes)
	@test ! -d results/runs || find results/runs -mindepth 1 -maxdepth 1 ! -name curated ! -name .gitkeep \
		-print -exec rm -rf {} +

# --- experiments ---
# Every table and figure is a preset conf/experiment/<paper>/<item>.yaml (EXPERIMENTS.md §4) that sweeps
# its rows x data sets x seeds. BUDGET=paper|short|smoke scales the epochs; ARGS adds overrides to every
# run, e.g. ARGS="trainer.device=cuda logger=none".
BUDGET ?= paper
ARGS ?=
EXPERIMENT_PAPERS := repeatnet shardnet softshare
experiments_of = $(sort $(patsubst conf/experiment/%.yaml,%,$(wildcard conf/experiment/$(1)/*.yaml)))
# one sweep, one folder (engine/sweep_layout.py): RUNS/<paper>/<item>/<BUDGET>/<job>, so the budgets of a preset
# stay apart and rerunning a target resumes its jobs; a sweep's report goes beside its jobs
launch = $(PY) -m repeatnet_repro.train -m experiment=$(1) budget=$(BUDGET) paths.runs_dir=$(abspath $(RUNS)) $(ARGS)

.PHONY: experiments costs sweep evidence gpu-evidence $(addprefix paper-,$(EXPERIMENT_PAPERS))

experiments: install  ## list models, schemes, data sets (present?) and every preset: runs, epochs, data it needs
	$(PY) -m repeatnet_repro.catalog $(ARGS)

costs: install  ## every preset's estimated GPU hours per budget (composes and counts every job: about a minute)
	$(PY) scripts/list_experiments.py

sweep: install  ## one experiment, all its runs, then the report: make sweep EXP=softshare/table1 [BUDGET=short] [ARGS=...]
	@test -n "$(EXP)" -a -f "conf/experiment/$(EXP).yaml" || { echo "EXP='$(EXP)': give one of: $(call experiments_of,*)" >&2; exit 2; }
	$(call launch,$(EXP))
	$(call report_to,all,$(RUNS)/$(EXP)/$(BUDGET))

paper-repeatnet:  ## every RepeatNet experiment, then the report of all its runs in RUNS/repeatnet/report
paper-shardnet:  ## every ShardNet experiment, then the report of all its runs in RUNS/shardnet/report
paper-softshare:  ## every soft-sharing experiment, then the report of all its runs in RUNS/softshare/report
$(addprefix paper-,$(EXPERIMENT_PAPERS)): paper-%: install
	$(foreach exp,$(call experiments_of,$*),$(call launch,$(exp)) &&) true
	$(call report_to,all,$(RUNS)/$*)
evidence: install  ## start or resume the CPU evidence runs in the background (scripts/run_evidence.sh; status: scripts/evidence.py status)
	PY=$(PY) scripts/run_evidence.sh

gpu-evidence: install  ## the GPU evidence on one GPU in about ten minutes (scripts/gpu_evidence.sh [OUT])
	PY=$(PY) scripts/gpu_evidence.sh $(OUT)
# --- end experiments ---
