# The two commands of the README: `make demo` and `make test` (CI: `make lint`, then `make test`).
# Each creates or updates the local virtual environment .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean ghdl chromium

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "attnhls needs Python 3.11 or newer")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,hdl]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/attnhls demo

# Chromium renders the HTML report in a real browser in the tests. Debian ships it; installed like GHDL.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; }; } || \
	  echo "note: Chromium is not installed (apt-get install chromium); the browser test of the report will skip"

# GHDL checks the generated VHDL. Nothing on PyPI ships it; Debian and Ubuntu do. Installed when we run as
# root with apt-get (CI); otherwise the VHDL tests skip and say what to install.
ghdl:
	@command -v ghdl >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ghdl-mcode >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ghdl-mcode >/dev/null; }; }; } || \
	  echo "note: GHDL is not installed (apt-get install ghdl-mcode); the VHDL checks will skip"

test: $(STAMP) ghdl chromium
	$(PY) -m pytest -q -n 2 --dist worksteal

# Everything but the HDL and random-kernel tiers (tests/README.md), with half the catalog's examples: under three
# minutes on two cores, for the edit-test loop. `make test` keeps every tier and every example.
test-fast: $(STAMP)
	ATTNHLS_EXAMPLES_SCALE=$${ATTNHLS_EXAMPLES_SCALE:-0.5} $(PY) -m pytest -q -n 2 --dist worksteal -m "not hdl and not slow"

# Lint and format check of the whole tree, the type check of hls/ and backends/ ([tool.mypy]), the layers.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports  # the layers point down: algorithms -> backends -> hls ([tool.importlinter])

bench: $(STAMP)
	$(PY) -m benchmarks.bench_qk
	$(PY) -m benchmarks.bench_sdpa
	$(PY) -m benchmarks.bench_dma
	$(PY) -m benchmarks.bench_hls

clean:
	rm -rf $(VENV) .hypothesis .pytest_cache .mypy_cache .ruff_cache
