# Two commands do all the set-up: `make lab` opens the course, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Re-installs whenever pyproject.toml is newer than the last install.
STAMP  := $(VENV)/.installed

.PHONY: lab test bench grade release clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# JupyterLab refuses to run as root unless told (containers often run as root).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/01_echo.ipynb $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/echo_sessions.py
	$(BIN)/python benchmarks/transfer.py
	$(BIN)/python benchmarks/concurrency.py
	$(BIN)/python benchmarks/grading.py

# Instructors: `make release OUT=student-copies`, then `make grade SUBMISSIONS=path/to/submissions`.
release: $(STAMP)
	$(BIN)/socketlab release notebooks $(or $(OUT),release)

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder-of-student-folders"; exit 2; }
	$(BIN)/socketlab grade $(SUBMISSIONS) --source notebooks --out $(or $(GRADEBOOK),gradebook.csv)

clean:
	rm -rf $(VENV) build *.egg-info
