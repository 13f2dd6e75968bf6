# Every target makes .venv and installs what it needs; a fresh clone needs nothing else.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ROWS ?= 12
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install chromium demo test starvation bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build on this machine's disk; unpinned it pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	# llama-cpp-python compiles from source (a few minutes, once per venv) as a portable AVX2 build:
	# -march=native emits AMX tile instructions where the CPU reports AMX, and a VM that has not
	# enabled AMX for the process crashes on the first token. No pip cache: a cached native wheel
	# would come back.
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir 'llama-cpp-python==$(LLAMA_VERSION)'
	$(BIN)/pip install --quiet -e '.[local,test]'
	touch $(STAMP)

install: $(STAMP)

# The report test renders report.html in a real headless browser, and the review page's test drives one:
# Debian's chromium and its chromedriver, once per machine.
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || ($(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium \
		chromium-driver fonts-dejavu-core >/dev/null)

demo: $(STAMP)
	$(BIN)/targen run jobs/boolq.yaml --limit $(DEMO_ROWS)

test: $(STAMP) chromium
	$(BIN)/ruff check targen_ray analysis tests
	$(BIN)/pytest

# The limiter's starvation check (tests/README.md): the shared-limits tests ten times in a row beside
# two busy loops; ~20 minutes, so not part of `make test`.
starvation: $(STAMP)
	for i in 1 2 3 4 5 6 7 8 9 10; do $(BIN)/pytest tests/test_shared_limits.py --busy-loops 2 -q -p no:cacheprovider || exit 1; done

# Performance measurements behind BENCHMARKS.md (minutes; never part of `make test`).
bench: $(STAMP)
	$(BIN)/python benchmarks/limits_utilisation.py
	$(BIN)/python benchmarks/limits_utilisation.py --jobs 1,2,4 --requests 3600
	$(BIN)/python benchmarks/starved_jobs.py --jobs 1,2,4
	$(BIN)/python benchmarks/judge_panel.py
	$(BIN)/python benchmarks/pool_overhead.py
	$(BIN)/python benchmarks/full_size.py
	$(BIN)/python benchmarks/memory_growth.py
	$(BIN)/python benchmarks/batch_vs_online.py
	$(BIN)/python benchmarks/dedup_quality.py
	$(BIN)/python benchmarks/embed_throughput.py
	$(BIN)/python benchmarks/embed_backends.py
	$(BIN)/python benchmarks/dedup_overlap.py
	$(BIN)/python benchmarks/near_dup_search.py
	$(BIN)/python benchmarks/evaluate_models.py --models tfidf embedding finetune
	$(BIN)/python benchmarks/iceberg_publish.py

clean:
	rm -rf $(VENV) runs .pytest_cache
