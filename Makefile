PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-gpu bench lectures notebooks clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test,oracle]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/minitorch-cnn train lenet5 --dataset digits --epochs 20 --out runs/lenet5-digits

# Two pytest workers on two cores: one BLAS (and Numba) thread each, or the workers' BLAS threads fight
# over the cores and small matmuls slow down a hundredfold.
test: $(STAMP)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 $(PY) -m pytest -n 2 -q

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) runs .pytest_cache

# On a machine with an NVIDIA GPU: install the cuda extra and run the GPU tests only.
test-gpu: $(STAMP)
	$(PY) -m pip install -e '.[cuda]'
	$(PY) -m pytest -q -m gpu -rs
