# Two commands on a fresh machine with Python >= 3.10 and pip: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

.PHONY: fashion-mnist demo test check-all lab figures figures-fast docs docs-test bench check-nbs notebooks pytest baselines clean help

help:
	@echo "make demo     set up .venv, sample the checkerboard with MM-SOLD, write demo_out/demo.png"
	@echo "make test     set up .venv, check notebooks/exports, run every notebook (once: the docs build executes"
	@echo "              them), the figure scripts (fast), build the docs site, run the pytest suite and the browser"
	@echo "              test of the site (when chromium exists); prints each phase's time (tools/run_test.py)"
	@echo "make check-all  make test, then the slower extras (the notebooks again under nbdev_test)"
	@echo "make lab      JupyterLab on nbs/ (installs jupyterlab into .venv on first use)"
	@echo "make figures  regenerate every figure and table in paper_figs/ (full settings; slow)"
	@echo "make docs     build the static documentation site into _site/ (make docs-test: browser test)"
	@echo "make bench    run the benchmark suite"
	@echo "make baselines  install the optional PyTorch CPU extra (DDPM baseline)"
	@echo "make fashion-mnist  install Debian's dataset-fashion-mnist (as root; used by mmsold.datasets.fashion_mnist)"

$(STAMP): requirements-dev.txt setup.py settings.ini
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mmsold demo --out-dir demo_out

check-nbs: $(STAMP)
	bash tools/check_nbs.sh

# the notebooks under nbdev_test alone (make test runs them once, in the docs build; see tools/run_test.py)
notebooks: $(STAMP)
	$(BIN)/nbdev_test --n_workers 2 --timing

figures-fast: $(STAMP)
	$(BIN)/python paper_figs/make_all.py --fast --jobs 2

figures: $(STAMP)
	$(BIN)/python paper_figs/make_all.py

docs: $(STAMP)
	bash docs/build.sh

docs-test: docs
	bash docs/test_site.sh

pytest: $(STAMP)
	$(BIN)/python -m pytest tests -q -p no:cacheprovider

# Phases, lanes and timing: tools/run_test.py (`$(BIN)/python tools/run_test.py --list`).
# TEST_FLAGS: e.g. --extras-if-under 300 (CI: the check-all extras too when the checks took < 300 s).
test: $(STAMP)
	$(BIN)/python tools/run_test.py $(TEST_FLAGS)

check-all: $(STAMP)
	$(BIN)/python tools/run_test.py --all

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

lab: $(STAMP)
	$(BIN)/python -m pip install -q jupyterlab
	$(BIN)/jupyter lab --notebook-dir=nbs

fashion-mnist:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then echo "Fashion-MNIST is installed in /usr/share/datasets/fashion-mnist"; \
	  else apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; fi

baselines: $(STAMP)
	$(BIN)/python -m pip install -q torch==2.13.0

clean:
	rm -rf _proc _docs _site demo_out paper_figs/_fast .pytest_cache .hypothesis
