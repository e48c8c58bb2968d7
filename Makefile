# Two commands do all the set-up on a fresh machine:
#   make report   - install what is needed, then measure both frameworks here (capacity report)
#   make test     - install what is needed, then run the whole test suite
# and for developers:
#   make test-fast - every test that starts no server and installs nothing (no `live` or `slow` mark)
#   make lint      - the format and lint gate (ruff format --check, ruff check); CI runs it
SHELL := /bin/bash
UV_VERSION := 0.13.8
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the kit runs for real: Prometheus + promtool; Chromium renders the HTML report in tests.
OS_PACKAGES_REPORT := prometheus
OS_PACKAGES_TEST := prometheus chromium
# Independent tests run side by side, one worker per core; tests that share a session's servers or
# a module's fixture stay on one worker (see tests/conftest.py). PYTEST_PARALLEL= runs serially.
PYTEST_PARALLEL ?= -n auto --dist loadgroup

.PHONY: setup os-deps-report os-deps-test report test test-fast check lint typecheck clean

setup: $(VENV)/.synced

$(VENV)/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	uv sync --frozen
	@touch $@

os-deps-report:
	@scripts/install-os-packages $(OS_PACKAGES_REPORT)

os-deps-test:
	@scripts/install-os-packages $(OS_PACKAGES_TEST)

report: setup os-deps-report
	$(BIN)/capacity report $(ARGS)

test: setup os-deps-test
	$(BIN)/pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

test-fast: setup os-deps-test
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not live and not slow" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
