# Cloudrun: `make run` sets everything up and serves the API + daemon; `make test` sets up and runs the tests.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test bench install system-deps slurm slurm-down clean

system-deps:
	scripts/install-system-deps

$(STAMP): setup.cfg pyproject.toml | system-deps
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,mpi]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

slurm: system-deps
	scripts/slurm-up

slurm-down:
	scripts/slurm-down

run: install slurm
	scripts/run-local

test: install slurm
	scripts/postgres-up
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: install slurm
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) var build *.egg-info
