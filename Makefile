# Two commands do all the set-up on a fresh machine:
#   make report   - install what is needed, then measure both frameworks here (capacity report)
#   make test     - install what is needed, then run the whole test suite
SHELL := /bin/bash
UV_VERSION := 0.13.8
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the kit runs for real: Prometheus + promtool; Chromium renders the HTML report in tests.
OS_PACKAGES_REPORT := prometheus
OS_PACKAGES_TEST := prometheus chromium

.PHONY: setup os-deps-report os-deps-test report test check lint typecheck clean kind-up kind-down

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
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
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
