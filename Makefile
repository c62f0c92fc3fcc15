# The book's two commands:  `make book` builds the site,  `make test` runs every test.
# Both create the virtual environment .venv and install requirements.txt first.
# Offline data: export CNN_BOOK_DATA=/path/to/data (see README).

VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
TIMED := $(PYTHON) tools/timed.py
MULTIPROCESS_TESTS := tests/test_scripts_torchrun.py tests/test_distributed.py

.PHONY: book test execute lint clean

# tools/install.py installs with uv when it can (given pip's own indexes and constraints; the whole step took 63 s
# against 128 s with pip, measured one after the other here; the install alone took 31 s with an empty uv cache
# and 9 s when the cache held an earlier install's wheels), with pip otherwise; CNN_BOOK_INSTALLER=pip forces pip.
# `make test` compiles the bytecode the tests need (tools/compile_runtime.py, one core) while the site builds (one core).
$(VENV)/.installed: requirements.txt pyproject.toml tools/install.py
	$(TIMED) "install (venv, requirements)" -- $(PYTHON) tools/install.py $(VENV) --no-compile-runtime
	touch $@

$(VENV)/.compiled: $(VENV)/.installed
	$(TIMED) "bytecode for the tests (beside the site build)" -- $(PY) tools/compile_runtime.py
	touch $@

book: $(VENV)/.installed
	$(PY) tools/site_js.py
	$(PY) tools/interview.py --check
	$(PY) tools/exercises.py --check
	$(TIMED) "site build" -- $(VENV)/bin/jupyter-book build --all -W --path-output . .
	@echo "Site built: open _build/html/index.html, or serve it with  $(PY) -m http.server -d _build/html 8000"

test: $(VENV)/.installed
	$(MAKE) -j2 book $(VENV)/.compiled
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "The site check needs Chromium: install it (Debian/Ubuntu: sudo apt-get install chromium)"; exit 1; fi; }
	$(TIMED) "ruff" -- $(VENV)/bin/ruff check src tests tools benchmarks scripts
	$(TIMED) "notebook provenance" -- $(PY) tools/execute_notebooks.py --check
	@# Everything but the two steps below runs in 2 pytest-xdist processes of 1 thread each: the lessons, the exercise
	@# notebooks, the other pages, the unit and property tests and the Colab simulation (fresh-clone CI 923-960 s in
	@# total, against 1,131-1,257 s with the lessons one at a time on both cores after the tests; every checked output
	@# equal). xdist's own file order (most tests first) mixes lessons with test files; putting the lessons first,
	@# longest first, made two heavy lessons run side by side and measured worse (995 s; lessons 3 and 8 took 97-98 s).
	@# With xdist's order the three longest lessons ran side by side and took 89.8-99.1 s (854 s in total), and the
	@# run ended with slow files of few tests (the Colab simulation, 21 s). tools/pool_order.py (via conftest.py,
	@# xdist's reordering off) runs each lesson of 80 s or more beside a share of the unit-test files, then the
	@# rest longest first, by the times in tests/durations.json.
	@# The tests that start 2-process gloo groups (torchrun) run after the workers: beside a worker they made 3 busy
	@# processes on 2 cores (135 s of worker time against 65 s alone, measured). The browser check times page loads,
	@# which a second browser worker pushed over its 3 s bound (2.5-3.4 s). So the two run side by side, the torchrun
	@# tests at the lowest priority (nice 19): measured here, both done in 92-110 s against 150-165 s one after the
	@# other, the slowest page load 2.1 s (1.5-2.5 s alone).
	@# CNN_BOOK_SITE also serves the tests that read the built pages without a browser (hidden answers, links).
	CNN_BOOK_SITE=_build/html CNN_BOOK_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  $(TIMED) "pytest: lessons, exercises, unit tests, Colab (2 workers of 1 thread)" -- \
	  $(PY) -m pytest book tests $(MULTIPROCESS_TESTS:%=--ignore=%) --ignore=tests/test_site.py --nbval-lax \
	  -p no:cacheprovider -n 2 --dist loadfile --no-loadscope-reorder
	$(TIMED) "pytest: the site in a browser, the torchrun tests (nice 19) beside it" -- sh -c '\
	  CNN_BOOK_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 \
	    $(TIMED) "  pytest: 2-process (torchrun, gloo) tests (nice 19)" -- \
	    $(PY) -m pytest $(MULTIPROCESS_TESTS) -p no:cacheprovider > _build/torchrun_tests.log 2>&1 & \
	  pid=$$!; trap "kill $$pid 2>/dev/null" INT TERM; \
	  CNN_BOOK_SITE=_build/html $(TIMED) "  pytest: the site in a browser" -- \
	    $(PY) -m pytest tests/test_site.py -p no:cacheprovider; site=$$?; \
	  wait $$pid; torchrun=$$?; cat _build/torchrun_tests.log; \
	  [ $$site = 0 ] && [ $$torchrun = 0 ]'

# Re-run every lesson top to bottom and save its outputs (do this before committing a changed lesson).
execute: $(VENV)/.installed
	$(PY) tools/execute_notebooks.py
	$(PY) tools/interview.py
	$(PY) tools/exercises.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests tools benchmarks scripts

clean:
	rm -rf _build book/_site_js
