# One entry point for developers and CI: `make test` builds everything from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config.example.toml
STAMP := $(VENV)/.installed

.PHONY: run test lint docs bench clean browser screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/monitor --config $(CONFIG) run

# Static checks first: they take seconds and fail the build like a test.
lint: $(STAMP)
	$(BIN)/ruff check monitor tests bench docs
	$(BIN)/ruff format --check monitor tests bench docs
	$(BIN)/mypy

# docs/configuration.md and docs/commands.md, written from the settings' declarations and the
# commands (tests/test_docs.py fails when they differ from what this writes).
docs: $(STAMP)
	$(BIN)/python docs/generate.py

# The tests wait on servers and subprocesses as much as they compute: a worker per core (up to
# four) runs them in about half the time on two cores.
test: lint browser
	$(BIN)/python -m pytest --numprocesses=auto --maxprocesses=4

# The console's browser tests drive Debian's chromium (never a downloaded one). As root, install it
# when it is missing; otherwise nothing happens here and those tests say why they skip.
CHROMIUM_PACKAGES := chromium chromium-driver
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get -qq install -y --no-install-recommends $(CHROMIUM_PACKAGES) >/dev/null 2>&1 || \
		{ apt-get -qq update && apt-get -qq install -y --no-install-recommends $(CHROMIUM_PACKAGES) >/dev/null; } || \
		echo "make: could not install $(CHROMIUM_PACKAGES) with apt-get; the browser tests will be skipped"; \
	fi

# docs/console-*.png, from a demo run of the daemon (needs chromium and the test extras).
screenshots: $(STAMP)
	$(BIN)/python bench/console_shots.py

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
