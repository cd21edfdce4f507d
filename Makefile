# Two commands a researcher needs: `make reports` and `make test` (README → Quick start).
# Each creates .venv if missing and installs the pinned environment (constraints.txt) first.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
STAMP   = $(VENV)/.snnkit-installed
# PROFILE: any params/<notebook>/<profile>.yaml (e.g. smoke, paper, cpu)
PROFILE ?= smoke
NPROC  := $(shell nproc 2>/dev/null || echo 1)
# JOBS: runs at once, each in its own kernel with the cores shared out; the smoke profile's runs are small and
# mostly kernel start-up, so they take every core (the stdp_mnist smoke: 73 s with 2 jobs, 141 s with 1)
JOBS    ?= $(if $(filter smoke,$(PROFILE)),$(NPROC),1)

.PHONY: install reports list test lint lab bench embedded clean-reports strip

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip -c constraints.txt
	$(PIP) install -q -c constraints.txt -e '.[notebooks,dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (snnkit)" >/dev/null
	touch $(STAMP)

reports: $(STAMP)
	$(PY) -m snnkit.reproduce --profile $(PROFILE) --jobs $(JOBS)

# every notebook's profiles and runs: done / interrupted at epoch e, step s / failed / not run
list: $(STAMP)
	$(PY) -m snnkit.reproduce --list

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check snnkit tests bench scripts
	$(PY) -m nbstripout --verify notebooks/*.ipynb

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

bench: $(STAMP)
	$(PIP) install -q -c constraints.txt -e '.[bench]'
	for b in bench/[!_]*.py; do $(PY) $$b --quick || exit 1; done

embedded: $(STAMP)
	$(PY) scripts/make_embedded.py

strip: $(STAMP)
	$(PY) -m nbstripout notebooks/*.ipynb

clean-reports:
	rm -rf reports/*/smoke reports/index.md
