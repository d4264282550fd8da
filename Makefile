# Set-up and everyday commands. Every target creates .venv on first use; the
# stamp file makes a second run install nothing until pyproject.toml,
# constraints.txt or this Makefile change.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Reference photos of the celebrities, built once from the datasets at hand
# (engine/reference_build.py); `make references` builds them again.
REFERENCES := run/references/index.json
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: run test lint format env-example references clean

run: $(STAMP) $(REFERENCES)
	$(PY) -m bot

test: $(STAMP) $(REFERENCES)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

env-example: $(STAMP)
	$(PY) -c "from bot.config import SECTIONS as S; from engine.config import render_example as r; print(r(S), end='')" > .env.example

references: $(STAMP)
	$(PY) -m engine.reference_build

# Never fails the set-up: without data the pictures show name cards.
$(REFERENCES): | $(STAMP)
	-$(PY) -m engine.reference_build --quiet

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned, so that nothing later pulls a different build.
	$(PIP) torch==2.14.1 torchvision==0.29.1
	$(PIP) -e '.[dev]'
	# facenet-pytorch 2.6.0 pins torch<2.3, numpy<2 and Pillow<10.3. Those pins
	# are wrong for this stack (its code runs on current releases), and letting
	# pip resolve them would downgrade torch, numpy and Pillow, so it goes in
	# without its dependencies; it needs only requests and tqdm, listed above.
	$(PIP) --no-deps facenet-pytorch==2.6.0
	# The networks as ONNX files for the CPU (engine/runtime.py). The engine
	# exports them itself on first use when this step could not.
	-$(PY) -m engine.onnx_export
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
