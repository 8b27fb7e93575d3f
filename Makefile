# make run  - the whole platform in the foreground (Ctrl-C stops everything)
# make test - lint, format check, migrations check and the test suite
# Needs only Python 3.11+ and make; everything else goes into .venv.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
INSTALLED_DEV := $(VENV)/.installed-dev

.PHONY: run test clean-venv

run: $(INSTALLED)
	$(PY) -m trading_site.run

test: $(INSTALLED_DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=trading_site.settings.test $(PY) manage.py makemigrations --check --dry-run
	@# pytest exits 5 when it collected no test: that must fail, not pass quietly.
	$(PY) -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest ran no test" >&2; fi; \
	exit $$status

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamp files: reinstall only when pyproject.toml changes.
$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(INSTALLED_DEV): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@ $(INSTALLED)

clean-venv:
	rm -rf $(VENV)
