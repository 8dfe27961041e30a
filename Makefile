# contribux-costs — run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export UV_PYTHON_DOWNLOADS ?= never
# Compile bytecode once at install: this shell family sets PYTHONDONTWRITEBYTECODE, which would
# otherwise make every report run recompile every import.
export UV_COMPILE_BYTECODE ?= 1
# uv from PATH, else through the interpreter (`pip install uv` provides `python3 -m uv`).
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
DB ?= $(or $(CONTRIBUX_COSTS_DB),data/contribux_costs.duckdb)
REPORTS_DIR ?= reports
UV_RUN = $(UV) run --frozen --quiet
PREV_MONTH := $(shell date -u -d "$$(date -u +%Y-%m-01) -1 day" +%Y-%m)
MONTH_RE := ^[0-9]{4}-(0[1-9]|1[0-2])$$

.PHONY: help setup report test check format lab bench clean-reports

# A bad MONTH stops make before anything runs or is written: one line naming the value.
ifneq ($(origin MONTH),undefined)
ifneq ($(shell [[ "$(MONTH)" =~ $(MONTH_RE) ]] && echo ok),ok)
$(error invalid MONTH '$(MONTH)': expected YYYY-MM, e.g. MONTH=2025-01)
endif
endif

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'
	@echo "  variables: MONTH=YYYY-MM (default: previous full month)  DB=$(DB)  REPORTS_DIR=$(REPORTS_DIR)"

setup: ## Create/refresh the environment from uv.lock (installs uv through pip if missing)
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@[ -d "$${UV_PROJECT_ENVIRONMENT:-.venv}" ] || echo "setting up the environment (first run, ~1 min)…"
	@$(UV) sync --frozen --quiet

report: setup ## Collect MONTH (and the month before) and render reports/MONTH/report.html
	@CONTRIBUX_COSTS_DB="$(DB)" $(UV_RUN) contribux-costs report --collect \
	  --month "$(or $(MONTH),$(PREV_MONTH))" --reports-dir "$(REPORTS_DIR)"

test: setup ## Run the test suite
	$(UV_RUN) pytest -q

check: setup ## Format check, lint, strict types, tests
	$(UV_RUN) ruff format --check contribux_costs tests examples
	$(UV_RUN) ruff check contribux_costs tests examples
	$(UV_RUN) mypy
	$(UV_RUN) pytest -q

format: setup ## Format the code
	$(UV_RUN) ruff format contribux_costs tests examples
	$(UV_RUN) ruff check --fix contribux_costs tests examples

lab: setup ## Start JupyterLab with the package importable and the database path set
	@$(UV) sync --frozen --quiet --group lab
	CONTRIBUX_COSTS_DB="$(abspath $(DB))" $(UV_RUN) --group lab jupyter lab --notebook-dir=notebooks --no-browser --ip=127.0.0.1 \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

bench: setup ## Performance cases with ratios against same-run baselines
	$(UV_RUN) python -m contribux_costs.bench

clean-reports: ## Remove rendered reports
	rm -rf $(REPORTS_DIR)/20*-* $(REPORTS_DIR)/index.html
