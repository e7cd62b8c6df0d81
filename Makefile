# Two commands do all the set-up: `make lab` opens the course, `make test` runs every test.
# Without make (Windows' PowerShell or cmd, macOS), README.md gives the same steps by hand.
PYTHON ?= python3
VENV   := .venv
# A venv keeps its programs in Scripts\ on Windows (make from Git Bash or MSYS2), bin/ elsewhere.
BIN    := $(VENV)/$(if $(filter Windows_NT,$(OS)),Scripts,bin)
# Each re-installs whenever pyproject.toml (or setup.py) is newer than its last install.
STAMP      := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: lab lab-uk test bench grade release clean translations

# What a student needs: the package and its dependencies, nothing for the test suite.
$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

# The same, with the `test` extra (pytest-timeout, hypothesis, Playwright).
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

# JupyterLab refuses to run as root unless told (containers often run as root).
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/01_echo.ipynb $(ROOT_FLAG) $(LAB_ARGS)

# JupyterLab in Ukrainian: its translation setting (locale uk_UA, from the language pack
# jupyterlab-language-pack-uk-UA) in a settings folder of its own inside the venv, so
# `make lab` stays in English.  Opens the Ukrainian edition, or the English one until
# notebooks/uk/ exists.
UK_SETTINGS := $(VENV)/share/socketlab/lab-uk/user-settings
UK_NOTEBOOK := $(if $(wildcard notebooks/uk/01_echo.ipynb),notebooks/uk/01_echo.ipynb,notebooks/01_echo.ipynb)

lab-uk: $(STAMP)
	@test -f notebooks/uk/01_echo.ipynb || echo "notebooks/uk/ is not there yet: opening the English notebooks/01_echo.ipynb with the Ukrainian interface"
	mkdir -p $(UK_SETTINGS)/@jupyterlab/translation-extension
	echo '{"locale": "uk_UA"}' > $(UK_SETTINGS)/@jupyterlab/translation-extension/plugin.jupyterlab-settings
	$(BIN)/jupyter lab $(UK_NOTEBOOK) --LabApp.user_settings_dir=$(UK_SETTINGS) $(ROOT_FLAG) $(LAB_ARGS)

# axe-core, which the browser tests run on the course's outputs (from npm, into the venv), where npm is.
AXE := $(VENV)/node_modules/axe-core/axe.min.js
$(AXE):
	npm install --silent --no-save --no-package-lock --prefix $(VENV) axe-core@4.14.1

test: $(TEST_STAMP) $(if $(shell command -v npm 2>/dev/null),$(AXE))
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/echo_sessions.py
	$(BIN)/python benchmarks/transfer.py
	$(BIN)/python benchmarks/concurrency.py
	$(BIN)/python benchmarks/grading.py
	$(BIN)/python benchmarks/grader_cost.py

# Instructors: `make release OUT=student-copies`, then `make grade SUBMISSIONS=path/to/submissions`.
release: $(STAMP)
	$(BIN)/socketlab release notebooks $(or $(OUT),release)

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder-of-student-folders"; exit 2; }
	$(BIN)/socketlab grade $(SUBMISSIONS) --source notebooks --out $(or $(GRADEBOOK),gradebook.csv)

# The messages a student reads (socketlab/locale): extract them from the code into the template,
# merge it into each language's .po (new messages come untranslated, changed ones fuzzy: translate
# them, tests/test_i18n.py says which), and compile the .mo files the package loads.  The build
# compiles them into the wheel by itself (setup.py), and a source tree compiles them at first use.
LOCALE := socketlab/locale
translations: $(TEST_STAMP)
	$(BIN)/pybabel extract -F babel.cfg -c TRANSLATORS: --add-location=file --sort-by-file --no-wrap \
		--project=socketlab --version=0.1.0 -o $(LOCALE)/socketlab.pot socketlab
	$(BIN)/pybabel update -D socketlab -i $(LOCALE)/socketlab.pot -d $(LOCALE) --no-wrap --ignore-obsolete
	$(BIN)/python socketlab/i18n.py

clean:
	rm -rf $(VENV) build *.egg-info
