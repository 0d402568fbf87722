# qa — every target sets itself up: a fresh clone needs only `make serve` or `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help install build serve test test-fast eval eval-frontlines calibrate bench bench-milvus bench-ray bench-collections accel-prepare lint clean

help: ## show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F ':.*?## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0   # the CPU build on this machine's disk; first, or pip pulls CUDA
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install qa with its test tools

build: $(STAMP) ## build index/default from seeds/ (incremental; no-op when up to date)
	$(BIN)/qa build

serve: build ## build the index if missing or stale, then serve on http://127.0.0.1:8000
	$(BIN)/qa serve

test: $(STAMP) ## run the whole test suite
	$(BIN)/python -m pytest -q

test-fast: $(STAMP) ## the suite without tests marked slow (reader training, ONNX export, Chromium, load): ~2 min
	$(BIN)/python -m pytest -q -m "not slow"

eval: build ## score retrieval on eval/kherson.jsonl against the saved baseline
	$(BIN)/qa eval --questions eval/kherson.jsonl --baseline eval/baseline.json

eval-frontlines: $(STAMP) ## the same eval with the 191 frontlines articles as distractors (builds index/frontlines)
	$(BIN)/qa build --seeds ../shared/corpus/frontlines --index index/frontlines -q
	$(BIN)/qa eval --questions eval/kherson.jsonl --index index/frontlines --baseline eval/baseline-frontlines.json

calibrate: $(STAMP) ## re-fit answerability on the tune halves (eval/calibration/), report the check halves (~10 min)
	$(BIN)/python eval/calibrate.py

bench: $(STAMP) ## run the benchmarks in bench/ (writes bench/results/)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/query_embed.py
	$(MAKE) --no-print-directory bench-milvus

bench-ray: $(STAMP) ## builds through a local 1- and 2-node Ray cluster vs one process; replica RSS with records on demand (writes bench/results/ray.json)
	$(BIN)/python bench/ray_bench.py throughput --articles 20
	$(BIN)/python bench/ray_bench.py replica --synthetic 100000 --work .cache/ray-bench
	BENCH_QUESTIONS=60 $(BIN)/python bench/ray_bench.py apart --work .cache/ray-bench
	$(BIN)/python bench/ray_bench.py p50 --work .cache/ray-bench

bench-milvus: $(STAMP) ## FAISS vs Milvus Lite build and query timings (writes bench/results/milvus.json)
	$(BIN)/qa build --seeds ../shared/corpus/frontlines --index index/frontlines -q
	$(BIN)/python bench/milvus_bench.py --index index/frontlines

bench-collections: $(STAMP) ## two collections in one server vs two servers: RSS, and load during a rebuild (~5 min)
	$(BIN)/python bench/collections_rss.py --out bench/results/$$(date +%F)-collections

accel-prepare: $(STAMP) ## write .cache/accel-run/ for the reader's accelerator run (docs/training.md)
	$(BIN)/qa train-reader-prepare

# pinned, so a newer release's rules cannot fail a lint that passed (pip skips pins already satisfied)
LINT_TOOLS := ruff==0.17.6 mypy==2.4.1 types-PyYAML==6.0.12.20261113

lint: $(STAMP) ## ruff and mypy (installs the pinned versions into .venv)
	$(BIN)/pip install --quiet $(LINT_TOOLS)
	$(BIN)/python -m ruff check qa tests bench
	$(BIN)/python -m mypy qa

clean: ## remove built indexes and caches (keeps .venv)
	rm -rf index/default index/.default.* .cache .pytest_cache
