# The book's two commands:  `make book` builds the site,  `make test` runs every test.
# Both create the virtual environment .venv and install requirements.txt first.
# Offline data: export CNN_BOOK_DATA=/path/to/data (see README).

VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
TIMED := $(PYTHON) tools/timed.py

.PHONY: book test execute lint clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(TIMED) "install (venv, requirements)" -- sh -c '$(PYTHON) -m venv $(VENV) && \
	  $(PY) -m pip install --quiet --upgrade pip && $(PY) -m pip install --quiet -r requirements.txt'
	touch $@

book: $(VENV)/.installed
	$(PY) tools/site_js.py
	$(PY) tools/interview.py --check
	$(PY) tools/exercises.py --check
	$(TIMED) "site build" -- $(VENV)/bin/jupyter-book build --all -W --path-output . .
	@echo "Site built: open _build/html/index.html, or serve it with  $(PY) -m http.server -d _build/html 8000"

test: book
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "The site check needs Chromium: install it (Debian/Ubuntu: sudo apt-get install chromium)"; exit 1; fi; }
	$(TIMED) "ruff" -- $(VENV)/bin/ruff check src tests tools benchmarks scripts
	$(TIMED) "notebook provenance" -- $(PY) tools/execute_notebooks.py --check
	CNN_BOOK_SITE=_build/html $(TIMED) "pytest (all tests and notebooks)" -- \
	  $(PY) -m pytest tests book --nbval-lax -p no:cacheprovider

# Re-run every lesson top to bottom and save its outputs (do this before committing a changed lesson).
execute: $(VENV)/.installed
	$(PY) tools/execute_notebooks.py
	$(PY) tools/interview.py
	$(PY) tools/exercises.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests tools benchmarks scripts

clean:
	rm -rf _build book/_site_js
