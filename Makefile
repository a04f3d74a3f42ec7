# Two commands on a fresh machine (Python 3.11+ and make): `make up` and `make test`.
# Each builds .venv from the locked, hashed requirements the first time.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: up test test-parallel test-fast chaos bench bench-web screenshots lock clean

$(BIN)/sotay: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

# The browser tests drive Debian's chromium (Playwright downloads no browser here).
$(VENV)/.test-deps: $(BIN)/sotay requirements-test.lock
	$(BIN)/pip install --quiet --require-hashes -r requirements-test.lock
	@command -v chromium >/dev/null || ! command -v apt-get >/dev/null || \
		(apt-get install -y -qq chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) || \
		echo "chromium could not be installed: the browser tests will be skipped"
	@command -v promtool >/dev/null || ! command -v apt-get >/dev/null || \
		apt-get install -y -qq --no-install-recommends prometheus >/dev/null || \
		echo "promtool (Debian's prometheus) could not be installed: tests/integration/test_observability.py skips its checks"
	@test -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 || ! command -v apt-get >/dev/null || \
		apt-get install -y -qq --no-install-recommends libfaketime >/dev/null || \
		echo "libfaketime could not be installed: tests/chaos/test_load.py skips (it skews services' clocks)"
	@touch $@

up: $(BIN)/sotay
	$(BIN)/sotay up --demo

test: $(VENV)/.test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The same suite on three workers (pytest-xdist): about 16 minutes instead of 24-29, a test file to each worker
# at a time so that a module's servers and data stay on one worker (tests/conftest.py keeps the fault tests
# together and hands out the slowest directories first). Not yet `make test`: see docs/testing.md.
test-parallel: $(VENV)/.test-deps
	$(BIN)/python -m pytest -n 3 --dist loadfile $(PYTEST_ARGS)

test-fast: $(VENV)/.test-deps
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

# Every fault test of tests/chaos, the slow ones too (nats-server down for minutes, every fault three times under
# a workload of 10,000+ commands); `make test` runs the quick ones and each new fault once under load.
chaos: $(VENV)/.test-deps
	SOTAY_CHAOS=1 $(BIN)/python -m pytest -s tests/chaos $(PYTEST_ARGS)

# The end-to-end suite: the quick size, then Hanoi's (475,000 members), in one table; `sotay bench --quick` alone
# takes under two minutes.
bench: $(BIN)/sotay
	$(BIN)/sotay bench

# The member's handbook on a slow phone connection (chromium's network throttling): first and repeat load, and a
# signed-in member's repeat visit (a small demo of its own).
bench-web: $(VENV)/.test-deps
	$(BIN)/python -m tests.browser.bench_web

# Every page as the person who uses it, at 390 and 1366 px, into docs/screenshots/ with its README (a small demo of
# its own; `make screenshots URL=http://127.0.0.1:8000` for a running demo, with its SOTAY_DATA_DIR).
screenshots: $(VENV)/.test-deps
	$(BIN)/python -m tests.browser.gallery $(if $(URL),--url $(URL))

# Regenerate the locks after changing dependencies in pyproject.toml.
lock:
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra test --generate-hashes --python-version 3.11 -o requirements-test.lock

clean:
	rm -rf $(VENV) .sotay
