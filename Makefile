# Two commands do all the set-up on a fresh machine:
#   make report   - install what is needed, then measure both frameworks here (capacity report)
#   make test     - install what is needed, then run the whole test suite
# and for developers:
#   make test-fast - every test that starts no server and installs nothing (no `live` or `slow` mark)
#   make lint      - the format and lint gate (ruff format --check, ruff check); CI runs it
#   make schemas   - regenerate capacity/schemas/results.schema.json from the results models
#   make dashboards - regenerate grafana/dashboards/*.json from grafana/generate.py
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

.PHONY: setup os-deps-report os-deps-test report test test-fast check lint typecheck clean requirements schemas dashboards pod-venv kind-up kind-down

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

# The services' requirements.txt (what their images install) are exported from uv.lock; run this
# after changing the django-service / fastapi-service groups in pyproject.toml. It re-locks first
# (a no-op when the lock already matches pyproject.toml), then syncs the venv and exports.
requirements:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	uv lock
	$(MAKE) setup
	$(BIN)/python scripts/export_requirements.py

# results.json's JSON Schema is generated from its pydantic models (capacity/report/schema.py);
# run this after changing them (tests/capacity/test_results_schema.py fails until you do).
schemas: setup
	$(BIN)/python scripts/results_schema.py

# Pods on another interpreter, e.g. a PGO+LTO CPython 3.12 built like the images' python:3.12-slim
# (this venv's may lack PGO/LTO; the report's platform section says which the pods ran):
#   make pod-venv POD_PYTHON=/opt/python3.12/bin/python3.12
#   FWCAP_POD_PYTHON=$(CURDIR)/.venv-pods/bin/python make report
# It installs exactly what the images install (both services' requirements.txt, with hashes).
POD_VENV := .venv-pods
pod-venv: setup
	@test -n "$(POD_PYTHON)" || { echo "POD_PYTHON=/path/to/python3.12 is required"; exit 2; }
	uv venv --allow-existing --no-managed-python --python "$(POD_PYTHON)" $(POD_VENV)
	uv pip install --python $(POD_VENV)/bin/python --no-deps --require-hashes --only-binary=:all: \
		-r services/django/requirements.txt -r services/fastapi/requirements.txt

# The dashboards are code (grafana/generate.py, from capacity/metrics/queries.py); the JSON beside
# it is its output, committed. tests/grafana fails when the two differ.
dashboards: setup
	$(BIN)/python grafana/generate.py

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The kit on a local kind cluster: registry, cluster, `pulumi up` of the local stack
# (docs/deploy.md). Needs Docker, kind, kubectl, the Pulumi CLI and PULUMI_CONFIG_PASSPHRASE.
kind-up: setup
	scripts/kind-up

kind-down:
	-pulumi destroy --yes --stack local
	-kind delete cluster --name fwcap
	-docker rm -f kind-registry
