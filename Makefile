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
RUNS ?= runs/$(call raw,DATA)-$(call raw,SCALE)
RESULTS ?= results/$(call raw,DATA)-$(call raw,SCALE)
# Upper limit of the error axes (%); empty: the paper's 20, or what fits curves that lie higher.
YMAX ?=

# A user's value reaches the program byte for byte: `raw` takes a variable as given on the command
# line or in the environment without letting make expand it (`$(shell ...)`, `$HOME` stay text),
# `q` quotes it for the shell (backticks, `$(...)`, quotes, spaces stay text; a newline is written
# $'\n', which needs bash), and none of them is exported, since make expands what it exports.
SHELL := /bin/bash
USER_VALUES := DATA DATA_DIR JOBS SEEDS SCALE LAUNCHER RUNS RESULTS YMAX
unexport $(USER_VALUES)
define newline


endef
raw = $(if $(filter command line environment environment override override,$(origin $(1))),$(value $(1)),$($(1)))
q = '$(subst $(newline),'$$'\n'',$(subst ','\'',$(call raw,$(1))))'
given = $(strip $(call raw,$(1)))

.PHONY: install lint test test-slow reproduce-cifar plots docs bench bench-step bench-data models clean

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

lint: install
	$(PY) -m ruff check study tests scripts notebooks examples
	$(PY) -m ruff format --check study tests scripts notebooks examples
	$(VENV)/bin/lint-imports   # the layers of pyproject.toml's [tool.importlinter]

# One test process per core; the Slurm tests share one worker (and one cluster).
test: install
	$(PY) -m pytest -q -n auto --dist loadgroup --durations=10

test-slow: install
	$(PY) -m pytest -q -m slow

models: install
	$(PY) -m study.nets

# The paper's CIFAR-10 study: every sweep of conf/experiment/, then the report.
# SCALE=mini runs the CPU-scale version; DATA=fashion_mnist runs it on Fashion-MNIST.
reproduce-cifar: install
	$(PY) -m study.reproduce --scale $(call q,SCALE) --data $(call q,DATA) --jobs $(call q,JOBS) --seeds $(call q,SEEDS) \
		--runs $(call q,RUNS) --results $(call q,RESULTS) $(if $(call given,YMAX),--ymax $(call q,YMAX)) \
		$(if $(call given,DATA_DIR),--data-dir $(call q,DATA_DIR)) $(if $(call given,LAUNCHER),--launcher $(call q,LAUNCHER))

plots: install
	$(PY) -m study.report $(call q,RUNS) --out $(call q,RESULTS) $(if $(call given,YMAX),--ymax $(call q,YMAX))

# The numbers README.md and docs/ quote from committed results, refilled from results/.
docs: install
	$(PY) -m study.docs

bench: install
	$(PY) -m study.bench $(if $(call given,DATA_DIR),--data-dir $(call q,DATA_DIR))

# One training step in fp32 and bf16, with and without torch.compile, at 1 and 2 threads.
bench-step: install
	$(PY) -m study.bench.step

# Load times of each CIFAR-10 layout (first and cached), from the copy in DATA_DIR.
bench-data: install
	$(PY) -m study.bench.data $(call q,DATA_DIR)

clean:
	rm -rf $(VENV) .pytest_cache
