PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NOTEBOOK_STAMP := $(VENV)/.notebooks-installed
LECTURES := $(sort $(wildcard lectures/[0-9][0-9]_*.py))

.PHONY: demo test test-gpu bench lectures notebooks clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test,oracle,distributed]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/minitorch-cnn train lenet5 --dataset digits --epochs 20 --out runs/lenet5-digits

# Two pytest workers on two cores: one BLAS (and Numba) thread each, or the workers' BLAS threads fight
# over the cores and small matmuls slow down a hundredfold.
test: $(STAMP)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 $(PY) -m pytest -n 2 -q

bench: $(STAMP)
	$(PY) -m bench

# Every lecture in full mode, in order; stops at the first lecture whose checks fail.
lectures: $(STAMP)
	@for lecture in $(LECTURES); do echo "== $$lecture"; $(PY) $$lecture || exit 1; done

# Only what notebooks need: the package, jupytext, ipykernel and JupyterLab (no torch, no CUDA
# wheels), and a kernel named minitorch-cnn on this venv's python, installed inside the venv, so
# a user-wide "python3" kernel never runs the lectures on another interpreter.
$(NOTEBOOK_STAMP): $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[notebooks]'
	$(PY) -m ipykernel install --sys-prefix --name minitorch-cnn --display-name "Python (minitorch_cnn)"
	touch $(NOTEBOOK_STAMP)

# .ipynb versions of the lectures in lectures/notebooks/ (git-ignored), on the minitorch-cnn kernel.
# _common.py is linked next to them, so `from _common import ...` works in a kernel started in that
# folder. Open them with `.venv/bin/jupyter lab lectures/notebooks`.
notebooks: $(NOTEBOOK_STAMP)
	mkdir -p lectures/notebooks
	ln -sf ../_common.py lectures/notebooks/_common.py
	@for lecture in $(LECTURES); do \
		$(VENV)/bin/jupytext --to ipynb --set-kernel minitorch-cnn \
			--output lectures/notebooks/$$(basename $$lecture .py).ipynb $$lecture || exit 1; \
	done

clean:
	rm -rf $(VENV) runs .pytest_cache

# On a machine with an NVIDIA GPU: install the cuda extra and run the GPU tests only.
test-gpu: $(STAMP)
	$(PY) -m pip install -e '.[cuda]'
	$(PY) -m pytest -q -m gpu -rs
