# Everything installs from the project's own files: uv (bootstrapped with pip when absent) and uv.lock.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen
PYTEST_ARGS ?=
# Some machines set this; every connector process would then recompile airbyte-cdk (~1.3 s each).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help install lint format test test-meltano demo bench bench-quick clean cloud-edition docs dist

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

install:  ## create .venv from uv.lock with every group (bootstraps uv with pip if it is missing)
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		python3 -m pip install --quiet uv || python3 -m pip install --quiet --user uv
	$(UV) sync --frozen

lint: install  ## ruff lint and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: install  ## apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

test: lint  ## ruff, then the whole test suite on 2 workers (hypothesis profile `ci` by default)
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(RUN) pytest -n $${PYTEST_WORKERS:-2} --dist loadfile $(PYTEST_ARGS)

test-meltano: install  ## Meltano's CLI end to end: tap-chatnode into target-jsonl, full then incremental (own venv in .cache/)
	$(RUN) pytest -m meltano -n 0 -p no:cacheprovider integration_tests/test_meltano.py $(PYTEST_ARGS)

demo: install  ## mock server + check/discover/full refresh/incremental of leads and chats + PyAirbyte into DuckDB
	$(RUN) python -m demo

bench: install  ## full benchmark: leads 10k/100k/1M, chats 100k/1M messages, the CDK cursor's cost, best of 2: bench/results.md and .json
	$(RUN) python -m bench

bench-quick: install  ## the whole harness on small sizes, a few minutes: bench/.work/quick/results.md
	$(RUN) python -m bench --quick

cloud-edition: install  ## regenerate source_chatnode/builder/manifest.yaml, the Airbyte Cloud edition (no custom components)
	$(RUN) python tools/cloud_edition.py

docs: install  ## rewrite the generated sections of docs/ (flags, faults, admin API, the checker's reference)
	$(RUN) python tools/docs.py

dist:  ## build both distributions, sdist and wheel, into dist/ (docs/packaging.md)
	$(UV) build --all-packages --out-dir dist

clean:  ## remove the virtualenv and caches
	rm -rf .venv .pytest_cache .ruff_cache .hypothesis
