# Two commands do everything on a fresh machine: `make test` and `make reproduce`.
# Only these targets write results/; runs started by hand write runs/ (git ignores it).
PYTHON ?= python3
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed-requirements
INTEL := data/intel_landscapes_48x48.npz
SHARED_INTEL := ../shared/data/intel/intel_landscapes_48x48.npz
# every run of make q2/q3/ablations/bench goes to this device: make reproduce DEVICE=cuda
DEVICE ?= cpu

.PHONY: setup data test reproduce q1 q2 q2-features q2-comparisons q2-and-comparisons q3 q3-and-ablations ablations report bench fixture clean pdf

setup: $(INSTALLED)

# torch comes from pip's index; on Linux, PyPI's is the CUDA build: TORCH_INDEX=https://download.pytorch.org/whl/cpu
# takes the CPU-only build of the same release first (GPU users leave it unset)
TORCH_INDEX ?=

$(INSTALLED): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(if $(TORCH_INDEX),$(VENV)/bin/pip install --quiet --no-compile --index-url $(TORCH_INDEX) $$(grep '^torch==' requirements.txt))
	$(VENV)/bin/pip install --quiet --no-compile -r requirements.txt
	@# pip compiles one file at a time; this uses every core (torch's one file written for Python 3.12 fails here as under pip)
	$(PY) -m compileall -qq -j 0 $(VENV)/lib || true
	touch $@

data: $(INTEL)

$(INTEL):
	@if [ -f $(SHARED_INTEL) ]; then \
		ln -sf ../$(SHARED_INTEL) $@ && echo "linked $@ -> $(SHARED_INTEL)"; \
	else \
		echo "make data: no $(abspath $(SHARED_INTEL)) to link $(abspath $@) from; only Q2 needs it: put the Intel npz there ($(abspath data/README.md) says where it comes from), or run hw2-q2.py with -data_path and the course's intel_landscapes.v2.npz" >&2; \
		exit 1; \
	fi

# a worker a core (pytest-xdist); tests that build on each other's runs are one test, so any worker takes any test
test: setup
	$(PY) -m pytest -q -n auto tests

# Q2 trains two runs at a time and leaves a core idle whenever one is left: Q3 and its ablations fill it.
reproduce: setup data
	$(MAKE) q1
	$(MAKE) -j2 q2-and-comparisons q3-and-ablations
	$(MAKE) q2-features
	$(MAKE) report pdf

q2-and-comparisons: setup data
	$(MAKE) q2
	$(MAKE) q2-comparisons

q3-and-ablations: setup
	$(MAKE) q3
	$(MAKE) ablations

q1: setup
	$(PY) q1_hopfield_check.py --plot --out results/q1

q2: setup data
	$(PY) -m scripts.q2_experiments --device $(DEVICE)

q3: setup
	$(PY) -m scripts.q3_experiments --device $(DEVICE)
	$(PY) -m scripts.q3_error_analysis

# The first-layer filters and one image's activation maps of make q2's Q2.2 network (seed 42).
q2-features: setup data
	$(PY) -m scripts.q2_features

# Each option alone beside make q2's course recipe, seed 42: He init, recomputed batch-norm
# statistics, the course's reshape (five 40-epoch runs, two at a time).
q2-comparisons: setup data
	$(PY) -m scripts.q2_experiments --comparisons --device $(DEVICE)

# Each Q3 option alone beside make q3's course recipe, three seeds, and the beam length exponents.
ablations: setup
	$(PY) -m scripts.q3_ablations --device $(DEVICE)

# results/peers.json is read off ../shared's peer-checkpoints.md where it is there (else the committed one stays)
report: setup
	if [ -f ../shared/data/peer-checkpoints.md ]; then $(PY) -m scripts.peer_scores; fi
	$(PY) -m report.make_report

# The outputs that benchmarks/README.md quotes; run them on an otherwise idle machine.
bench: setup data
	mkdir -p results/bench
	$(PY) -m benchmarks.bench_q2 --device $(DEVICE) | tee results/bench/bench_q2.txt
	$(PY) -m benchmarks.bench_q2 --plain_loader --device $(DEVICE) | tee -a results/bench/bench_q2.txt
	$(PY) -m benchmarks.bench_q3 --threads 1 --baseline --device $(DEVICE) \
		| tee results/bench/bench_q3_1thread.txt
	$(PY) -m benchmarks.bench_q3 --threads 2 --device $(DEVICE) | tee results/bench/bench_q3_2threads.txt
	$(PY) -m benchmarks.bench_checker | tee results/bench/bench_checker.txt

fixture: setup data
	$(PY) -m scripts.make_intel_fixture

clean:
	rm -rf $(VENV) .pytest_cache

# report/report.pdf from the report's Markdown: pandoc (PyPI wheel pypandoc_binary) turns it
# into Typst and the Typst compiler (PyPI wheel typst) typesets it, LaTeX math included. Both
# are self-contained wheels (no TeX, no browser, no system libraries); they go into their own
# venv under .cache/, so `make setup` and `make test` never install them.
PDF_VENV := .cache/pdf-venv

pdf: $(PDF_VENV)/.installed
	$(PDF_VENV)/bin/python report/build_pdf.py

$(PDF_VENV)/.installed:
	$(PYTHON) -m venv $(PDF_VENV)
	$(PDF_VENV)/bin/pip install --quiet pypandoc_binary==1.17 typst==0.15.2
	touch $@
