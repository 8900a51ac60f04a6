# Two entry points, each of which sets itself up on a fresh clone:
#   make labs   create .venv, install, run every lab (figures, metrics.json, summary.md and
#               index.html under outputs/)
#   make test   create .venv, install, run the whole test suite and the linters; the suite's parity
#               tests also write the parity report (outputs/parity/report.{md,json,html})
# and three more:
#   make parity-report  the parity suite with its report (outputs/parity/report.{md,json,html},
#                       which outputs/index.html links); make report: that, then the labs
#   make notebooks      each lab's solution and student notebooks under outputs/notebooks
#
# The environment is rebuilt when pyproject.toml changes. TORCH_SPEC pins the CPU build of torch that
# lies on this machine's disk (pip finds it through its find-links); on a GPU machine, install torch
# and jax for your CUDA first (see README) and run with TORCH_SPEC="torch" to keep what you have.

PYTHON_BOOTSTRAP ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
OUT ?= outputs
export OMP_WAIT_POLICY ?= PASSIVE

JOBS ?= 2
.PHONY: labs test lint benchmarks parity-report report notebooks clean

$(STAMP): pyproject.toml
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet "$(TORCH_SPEC)"
	$(PYTHON) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

labs: $(STAMP)
	$(PYTHON) -m labs run all --out $(OUT) --jobs $(JOBS)

parity-report: $(STAMP)
	$(PYTHON) -m parity_tests.report --out $(OUT)/parity -n auto

report: parity-report
	$(MAKE) --no-print-directory labs

notebooks: $(STAMP)
	$(PYTHON) -m labs notebooks --out $(OUT)/notebooks

test: $(STAMP)
	$(MAKE) --no-print-directory lint
	bash .ci/install-chromium
	$(PYTHON) -m pytest -n auto --dist worksteal --parity-report $(OUT)/parity

lint: $(STAMP)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

benchmarks: $(STAMP)
	$(PYTHON) -m benchmarks

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache .hypothesis
