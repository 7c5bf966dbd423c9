# make demo: run the app on the embedded default (SQLite, Celery eager) with demo data.
# make test: run the whole test suite (PostgreSQL/Redis too when DATABASE_URL/REDIS_URL are set).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1:8000
QUEUES := default,imports,exports,distribution,maintenance

.PHONY: install demo serve test lint format worker beat clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver $(HOST)

serve: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py runserver $(HOST)

test: install
	SECRET_KEY=$${SECRET_KEY:-insecure-test-only-key} $(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

worker: install
	$(BIN)/celery -A config worker -Q $(QUEUES) --loglevel INFO

beat: install
	$(BIN)/celery -A config beat --loglevel INFO --schedule var/celerybeat-schedule

clean:
	rm -rf $(VENV) var test-artifacts
