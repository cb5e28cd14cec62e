# Two commands for a newcomer:  `make run`  (the hub, one process)  and  `make test`.
# Both set up what they need first: system headers for mysqlclient, a venv
# in .venv with the project and its dev tools; `make run` also the laptop's keys.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8000
# pytest-xdist workers for `make test` (TEST_WORKERS=0: one process, no xdist).
TEST_WORKERS ?= 2
PYTEST := -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist worksteal)
# The hub's data directory, as the settings find it (HUB_DATA_DIR, default ./data).
DATA   := $(or $(HUB_DATA_DIR),data)
KEYS   := $(DATA)/secret_key $(DATA)/encryption_key
# The interface's translations: locale/<lang>/LC_MESSAGES/*.po are kept in the repository,
# the .mo files Django reads are compiled from them (and again whenever a .po changes).
PO     := $(wildcard locale/*/LC_MESSAGES/*.po)
MO     := $(PO:.po=.mo)

.PHONY: run keys test setup lint bench backup clean messages

# Laptop mode (no DATABASE_URL): the settings read the keys from $(DATA) by themselves,
# in this process and in every `.venv/bin/python manage.py ...` of another terminal.
run: $(STAMP) $(MO) $(KEYS)
	@exec $(BIN)/python manage.py runhub --port $(PORT)

keys: $(KEYS)

# make test COVERAGE=1 (what .ci/run calls): the same suite under coverage.py, the
# daphne, Celery and runhub subprocesses included ([tool.coverage] in pyproject.toml).
# A failing pytest fails it first (exit 5, no tests, too); then a total below
# fail_under. It ends with the least covered files and the total; htmlcov/ has the lines.
test: $(STAMP) $(MO)
ifeq ($(COVERAGE),1)
	$(BIN)/coverage erase
	@echo "$(BIN)/coverage run $(PYTEST) $(PYTEST_ARGS)"; \
	status=0; $(BIN)/coverage run $(PYTEST) $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/coverage combine --quiet || [ $$status -ne 0 ]; \
	if [ $$status -ne 0 ]; then echo "pytest failed (exit $$status); coverage not checked." >&2; exit $$status; fi
	@$(BIN)/coverage html --quiet --fail-under=0
	@echo "Least covered files:"
	@$(BIN)/coverage report --sort=cover --fail-under=0 | sed -n '3,12p'
	@printf "Coverage of lines (migrations excluded, %%): "; $(BIN)/coverage report --format=total
else
	$(BIN)/python $(PYTEST) $(PYTEST_ARGS)
endif

setup: $(STAMP) $(MO)

# Compiles the translations with gettext's msgfmt (installed by the set-up), as Django's
# compilemessages does; msgfmt alone needs no settings (no keys yet on a fresh clone) and
# no venv (a production install runs `make messages`). A changed .po is compiled again
# by the next `make run` or `make test`.
messages: $(MO)

locale/%.mo: locale/%.po
	msgfmt --check-format -o $@ $<

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
	@# tests/deploy checks the systemd units with `systemd-analyze verify` (Debian's systemd)
	@# and runs the report-mirror proxy of docker-compose.esp32.yml in nginx; installing
	@# nginx starts its daemon, which the tests do not want: it is stopped and disabled.
	@if ! command -v systemd-analyze >/dev/null || [ ! -x /usr/sbin/nginx ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing systemd-analyze and nginx for the deployment tests..."; \
	    had_nginx=$$([ -x /usr/sbin/nginx ] && echo yes); \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd nginx >/dev/null; \
	    if [ -z "$$had_nginx" ]; then (systemctl disable --now nginx || service nginx stop) >/dev/null 2>&1 || true; fi; \
	  else \
	    echo "The deployment tests use systemd-analyze and nginx (skipped without them). Run:" >&2; \
	    echo "    sudo apt-get install systemd nginx" >&2; \
	  fi; \
	fi
	@# Django compiles the interface's translations (locale/) with gettext's msgfmt.
	@if ! command -v msgfmt >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing gettext for the interface's translations..."; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null; \
	  else \
	    echo "The translations (locale/) are compiled with gettext's msgfmt. Run:" >&2; \
	    echo "    sudo apt-get install gettext" >&2; \
	    exit 1; \
	  fi; \
	fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Made once, readable by you only; never replaced (the encryption key opens the
# endpoint URLs and other secrets stored in the database: keep it with the data).
$(DATA)/secret_key:
	@mkdir -p $(@D)
	@umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	@echo "Created $@ (a random SECRET_KEY for this machine)."

$(DATA)/encryption_key:
	@mkdir -p $(@D)
	@umask 077 && $(PYTHON) -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())" > $@
	@echo "Created $@ (the key that encrypts secrets in the database; back it up with it)."

# make bench NAME=pool  (runs bench/pool.py; see bench/README.md for the list)
bench: $(STAMP)
	$(BIN)/python -m bench.$(NAME)

# make backup: a copy of the hub's own database (DATABASE_URL; unset: the SQLite file in
# HUB_DATA_DIR) in backups/hub-<time>.sqlite3 or .sql, readable by you only. MySQL/MariaDB
# goes through mariadb-dump/mysqldump --single-transaction, the password in a temporary
# option file (never on a command line). ENV_FILE=/etc/xiaozhi-hub/hub.env reads the
# settings from an env file; BACKUP_DIR=... writes elsewhere. docs/deploy.md, "Backups".
# Only the venv is needed (a production install has no test tools): no setup step here.
backup:
	@test -x $(BIN)/python || { echo "make backup: no $(BIN)/python; install the hub first (docs/deploy.md)" >&2; exit 1; }
	@$(BIN)/python -c "$$BACKUP_PY"

define BACKUP_PY
import datetime, os, pathlib, shutil, sqlite3, subprocess, sys, tempfile
from django.core.exceptions import ImproperlyConfigured
from xiaozhi_hub.env import env_database
from xiaozhi_hub.masking import mask_text

def fail(message):
    sys.exit("make backup: " + mask_text(message))

if os.environ.get("ENV_FILE"):
    for line in pathlib.Path(os.environ["ENV_FILE"]).read_text().splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and not name.startswith("#"):
            os.environ[name.strip()] = value.strip().strip("'\"")
data_dir = pathlib.Path(os.environ.get("HUB_DATA_DIR") or "data").resolve()
try:
    database = env_database("DATABASE_URL", default_sqlite=data_dir / "hub.sqlite3")
except ImproperlyConfigured as exc:
    fail(str(exc))
os.umask(0o077)
folder = pathlib.Path(os.environ.get("BACKUP_DIR") or "backups")
folder.mkdir(parents=True, exist_ok=True)
stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
if database["ENGINE"].endswith("sqlite3"):
    source = pathlib.Path(database["NAME"]).resolve()
    if not source.is_file():
        fail(f"{source} does not exist: nothing to back up")
    target = folder / f"hub-{stamp}.sqlite3"
    reader = sqlite3.connect(source.as_uri() + "?mode=ro", uri=True)
    writer = sqlite3.connect(target)
    reader.backup(writer)
    reader.close()
    writer.close()
else:
    dump = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    if dump is None:
        fail("neither mariadb-dump nor mysqldump is installed (apt-get install mariadb-client)")
    target = folder / f"hub-{stamp}.sql"
    quoted = database["PASSWORD"].replace("\\", "\\\\").replace('"', '\\"')
    with tempfile.NamedTemporaryFile("w", prefix="hub-backup-", suffix=".cnf") as options:
        options.write(f'[client]\nuser="{database["USER"]}"\npassword="{quoted}"\n')
        options.write(f'host="{database["HOST"] or "localhost"}"\nport={database["PORT"] or 3306}\n')
        options.flush()
        with target.open("wb") as out:
            done = subprocess.run(
                [dump, f"--defaults-file={options.name}", "--single-transaction", "--quick",
                 "--no-tablespaces", "--default-character-set=utf8mb4", database["NAME"]],
                stdout=out, stderr=subprocess.PIPE, text=True,
            )
    if done.returncode != 0:
        target.unlink()
        fail(f"{pathlib.Path(dump).name} failed: {done.stderr.strip()}")
print(f"backup: {target} ({target.stat().st_size} bytes)")
print("Keep with it: SECRET_KEY and HUB_ENCRYPTION_KEY (or their files; on a laptop secret_key and")
print("encryption_key in the data directory), HUB_REPORT_SECRET and your env file (docs/deploy.md).")
endef
export BACKUP_PY

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .coverage .coverage.* htmlcov
