# study: the degradation-problem study of He et al. (2015) on CIFAR-10. See README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The torch build this machine has on disk; a GPU workstation may set its own.
TORCH ?= torch==2.14.1 torchvision==0.29.1

DATA ?= cifar10
DATA_DIR ?=
JOBS ?= 1
SEEDS ?= 0
SCALE ?= paper
LAUNCHER ?=
RUNS ?= runs/$(DATA)-$(SCALE)
RESULTS ?= results/$(DATA)-$(SCALE)
# Upper limit of the error axes (%); empty: the paper's 20, or what fits curves that lie higher.
YMAX ?=

.PHONY: install lint test test-slow reproduce-cifar plots bench bench-step bench-data models clean

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

lint: install
	$(PY) -m ruff check study tests scripts notebooks
	$(PY) -m ruff format --check study tests scripts notebooks

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

models: install
	$(PY) -m study.models

# The paper's CIFAR-10 study: every sweep of conf/experiment/, then the report.
# SCALE=mini runs the CPU-scale version; DATA=fashion_mnist runs it on Fashion-MNIST.
reproduce-cifar: install
	$(PY) -m study.reproduce --scale "$(SCALE)" --data "$(DATA)" --jobs "$(JOBS)" --seeds "$(SEEDS)" \
		--runs "$(RUNS)" --results "$(RESULTS)" $(if $(YMAX),--ymax "$(YMAX)") $(if $(DATA_DIR),--data-dir "$(DATA_DIR)") \
		$(if $(LAUNCHER),--launcher "$(LAUNCHER)")

plots: install
	$(PY) -m study.report "$(RUNS)" --out "$(RESULTS)" $(if $(YMAX),--ymax "$(YMAX)")

bench: install
	$(PY) -m study.bench $(if $(DATA_DIR),--data-dir "$(DATA_DIR)")

# One training step in fp32 and bf16, with and without torch.compile, at 1 and 2 threads.
bench-step: install
	$(PY) -m study.bench_step

# Load times of each CIFAR-10 layout (first and cached), from the copy in DATA_DIR.
bench-data: install
	$(PY) -m study.bench_data "$(DATA_DIR)"

clean:
	rm -rf $(VENV) .pytest_cache
