# Every target makes .venv and installs what it needs; a fresh clone needs nothing else.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ROWS ?= 12

.PHONY: install demo test lint clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build on this machine's disk; unpinned it pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	# llama-cpp-python compiles from source here (a few minutes, once per venv).
	$(BIN)/pip install --quiet -e '.[local,test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/targen run jobs/boolq.yaml --limit $(DEMO_ROWS)

test: $(STAMP)
	$(BIN)/ruff check targen_ray tests
	$(BIN)/pytest

clean:
	rm -rf $(VENV) runs .pytest_cache
