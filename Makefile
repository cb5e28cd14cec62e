# Two commands for a newcomer:  `make run`  (the hub, one process)  and  `make test`.
# Both set up what they need first: system headers for mysqlclient, a venv
# in .venv with the project and its dev tools, a secret key for laptop use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8000

.PHONY: run test setup lint bench clean

run: $(STAMP) data/secret_key
	@if [ -z "$$SECRET_KEY" ] && [ -z "$$SECRET_KEY_FILE" ]; then export SECRET_KEY_FILE=data/secret_key; fi; \
	exec $(BIN)/python manage.py runhub --port $(PORT)

# make test COVERAGE=1 (what .ci/run calls): the same suite under coverage.py, the
# daphne, Celery and runhub subprocesses included ([tool.coverage] in pyproject.toml).
# A failing pytest fails it first (exit 5, no tests, too); then a total below
# fail_under. It ends with the least covered files and the total; htmlcov/ has the lines.
test: $(STAMP)
ifeq ($(COVERAGE),1)
	$(BIN)/coverage erase
	@echo "$(BIN)/coverage run -m pytest $(PYTEST_ARGS)"; \
	status=0; $(BIN)/coverage run -m pytest $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/coverage combine --quiet || [ $$status -ne 0 ]; \
	if [ $$status -ne 0 ]; then echo "pytest failed (exit $$status); coverage not checked." >&2; exit $$status; fi
	@$(BIN)/coverage html --quiet --fail-under=0
	@echo "Least covered files:"
	@$(BIN)/coverage report --sort=cover --fail-under=0 | sed -n '3,12p'
	@printf "Coverage of lines (migrations excluded, %%): "; $(BIN)/coverage report --format=total
else
	$(BIN)/python -m pytest $(PYTEST_ARGS)
endif

setup: $(STAMP)

# Style, then the import contracts of [tool.importlinter] in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo --no-cache

$(STAMP): pyproject.toml
	@if ! pkg-config --exists mysqlclient 2>/dev/null && ! pkg-config --exists mariadb 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing the MariaDB client headers that mysqlclient builds against..."; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmariadb-dev pkg-config gcc >/dev/null; \
	  else \
	    echo "mysqlclient needs the MariaDB client headers. Run:" >&2; \
	    echo "    sudo apt-get install libmariadb-dev pkg-config gcc" >&2; \
	    exit 1; \
	  fi; \
	fi
	@# The console's browser tests drive Debian's Chromium (tests/console/test_browser.py);
	@# a CJK font makes Chinese chat text render in it (and in its screenshots).
	@if [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Chromium for the console's browser tests..."; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null; \
	  else \
	    echo "The console's browser tests need Chromium (they are skipped without it). Run:" >&2; \
	    echo "    sudo apt-get install chromium chromium-driver fonts-wqy-microhei" >&2; \
	  fi; \
	fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

data/secret_key:
	@mkdir -p data
	@umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	@echo "Created data/secret_key (a random SECRET_KEY for this machine)."

# make bench NAME=pool  (runs bench/pool.py; see bench/README.md for the list)
bench: $(STAMP)
	$(BIN)/python -m bench.$(NAME)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .coverage .coverage.* htmlcov
