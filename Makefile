# The two set-up commands of the README:
#   make demo   create .venv if missing, then run jobs/train_mbsl.py on the bundled sample corpus
#   make test   create .venv if missing, then run the whole test suite (what CI runs)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
# The environment is rebuilt when the pinned dependencies change.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)

.PHONY: demo test env lint

env: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(VENV)/bin/python jobs/train_mbsl.py

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -rs

lint: $(STAMP)
	$(VENV)/bin/ruff check pipelines models training jobs benchmarks tests
