# The two commands a new user runs:  make demo  and  make test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Install, prepare the example project's database and demo users, and serve it at
# http://127.0.0.1:8000/ with runserver (HTTP and WebSockets, autoreload).
demo: $(STAMP)
	cd example && ../$(BIN)/python manage.py migrate --no-input
	cd example && ../$(BIN)/python manage.py runserver 127.0.0.1:8000

# Install, then lint, type-check and run the whole test suite.
test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy courant tests example
	$(BIN)/mypy bench

# pytest exits 5 when it collects no tests: that is a failure here, never a pass.
pytest: $(STAMP)
	$(BIN)/python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

# Courant against a bare ASGI app, Django Channels and python-socketio, side by side:
# every scenario (fan-out and broadcast three times, for medians), about 45 minutes; needs
# Redis at 127.0.0.1:6379. Peers are installed into bench/.venv-peers. Writes
# bench/results/latest.json and latest.png, and the tables of docs/performance.md.
bench: $(STAMP)
	$(BIN)/python bench/run.py --scenario all --bar-repeat 3 \
		--json bench/results/latest.json --plot bench/results/latest.png --doc docs/performance.md

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
