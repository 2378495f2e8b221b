# The two commands of the README: `make book` and `make test`. Both set up .venv when needed
# (from the pinned constraints.txt) and are quick when nothing has changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check
STAMP  := $(VENV)/.installed
LABSTAMP := $(VENV)/.installed-lab

.PHONY: help setup book pdf test lint format lab bench mutation drift lock clean

help:
	@echo "make book      set up .venv and build the HTML book into _build/html"
	@echo "make pdf       build the PDF edition into _build/latex/xent.pdf (needs TeX: see the README)"
	@echo "make test      set up .venv and run every test (lint, unit, doctests, nbval, browser, PDF)"
	@echo "make lab       open the chapters in JupyterLab"
	@echo "make bench     print the speed and accuracy tables"
	@echo "make mutation  mutation-test xentlib against the unit tests"
	@echo "make drift     drift each xentlib function by 0.1% and list the book cells that catch it"
	@echo "make lock      re-resolve and re-pin every dependency into constraints.txt"

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else f"xent needs Python >= 3.11; $(PYTHON) is {v.major}.{v.minor}")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -c constraints.txt -e ".[book,test]"
	touch $@

# The book is rebuilt (in full: Sphinx alone would not re-copy a changed _static file) only when
# one of its inputs changed since the last successful build; the stamp records that build.
BOOKSTAMP := _build/.book-stamp
BOOK_INPUTS := _config.yml _toc.yml \
	$(shell find book xentlib -type f -not -path '*/.ipynb_checkpoints/*' -not -path '*/__pycache__/*')

# A stamp without the book it stands for (_build/html removed by hand) does not count.
ifeq ($(wildcard _build/html/book/index.html),)
$(shell rm -f $(BOOKSTAMP))
endif

book: $(BOOKSTAMP)

$(BOOKSTAMP): $(STAMP) $(BOOK_INPUTS)
	$(BIN)/jupyter-book build . --all --warningiserror --keep-going
	touch $@

# The PDF edition, from the same inputs and committed outputs as the HTML book, with the same stamp
# logic. After the HTML book (order only): both builds share _build/.doctrees.
PDF := _build/latex/xent.pdf
PDFSTAMP := _build/.pdf-stamp
ifeq ($(wildcard $(PDF)),)
$(shell rm -f $(PDFSTAMP))
endif
TEX_PACKAGES := texlive-xetex texlive-latex-extra texlive-fonts-recommended fonts-freefont-otf latexmk xindy
MISSING_TEX := $(strip $(foreach tool,xelatex latexmk xindy,$(if $(shell command -v $(tool)),,$(tool))))
# make test builds the PDF, except on a machine without TeX outside CI: there the PDF tests skip
# and say so (under CI they fail instead, as does make pdf anywhere).
PDF_FOR_TEST := $(if $(and $(MISSING_TEX),$(if $(CI),,no-ci)),,pdf)
# The HTML book's download menu offers the PDF from beside its pages.
HTML_PDF := _build/html/xent.pdf

pdf: $(PDFSTAMP) $(HTML_PDF)

$(HTML_PDF): $(PDFSTAMP)
	cp $(PDF) $@

$(PDFSTAMP): $(STAMP) $(BOOK_INPUTS) | $(BOOKSTAMP)
	$(if $(MISSING_TEX),@echo "make pdf needs TeX (missing: $(MISSING_TEX)). On Debian:" \
	  "apt-get install $(TEX_PACKAGES)" >&2; exit 1)
	$(BIN)/jupyter-book build . --builder pdflatex --all --warningiserror --keep-going
	test -s $(PDF)
	touch $@

# Three parts, each named: xentlib's unit tests and doctests; every chapter re-executed by nbval
# and compared with its stored outputs; the built book (stored outputs, links, the browser test with
# its accessibility audit, the PDF).
test: $(STAMP) $(BOOKSTAMP) $(PDF_FOR_TEST)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest tests/unit xentlib --doctest-modules
	$(BIN)/python -m pytest book --nbval --nbval-current-env
	$(BIN)/python -m pytest tests/book

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

$(LABSTAMP): $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e ".[book,test,lab]"
	touch $@

lab: $(LABSTAMP)
	$(BIN)/jupyter lab book/

# The tables compare PyTorch and JAX too when the Python that runs them has them: point
# BENCH_PYTHON at a scratch environment with xentlib installed (see the README, "Performance").
BENCH_PYTHON ?= $(BIN)/python

bench: $(STAMP)
	$(BENCH_PYTHON) benchmarks/run.py

drift: $(STAMP)
	$(BIN)/python tools/drift_check.py

mutation: $(STAMP)
	$(BIN)/mutmut run
	$(BIN)/mutmut results

lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet ".[book,test,lab]"
	{ echo "# Every package that make installs, pinned. Regenerate with: make lock"; \
	  .lock-venv/bin/python -m pip freeze --exclude xentlib; } > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf _build .pytest_cache .hypothesis mutants
