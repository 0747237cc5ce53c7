"""Lectures 07-12 run end to end in quick mode; each asserts its own numbers, so a non-zero exit
code means a number the lecture states no longer comes out of the framework."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

LECTURES = Path(__file__).resolve().parent.parent / "lectures"

# One BLAS thread per lecture: the suite runs lectures side by side (pytest -n 2 on 2 cores),
# and oversubscribed OpenBLAS threads spin-wait, which made small matmuls several times slower.
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")


def run_lecture(name):
    result = subprocess.run([sys.executable, str(LECTURES / name), "--quick"], capture_output=True, text=True,
                            timeout=120, cwd=LECTURES.parent, env=ENV)
    assert result.returncode == 0, f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_07_googlenet():
    out = run_lecture("07_googlenet.py")
    assert "naive module: MACs from summary: 854,196,224" in out
    assert "reduced module: MACs from summary: 271,351,808" in out
    assert "'3x3 conv, 192' with C = 128 instead of 64: total 358,055,936" in out
    assert "global average pooling 7x7x1024 -> 1024: parameters: 0" in out


def test_08_resnet():
    out = run_lecture("08_resnet.py")
    assert "ran all its epochs: 3" in out
    assert "observed ordering" in out
    assert "bottleneck conv weights: 256*64 + 3*3*64*64 + 64*256: 69,632" in out


def test_09_beyond_resnet():
    out = run_lecture("09_beyond_resnet.py")
    assert "ResNeXt 32x4d block at 256 channels: conv parameters from our module: 70,144" in out
    assert "C=512, N=512, k=3: measured ratio equals 1/N + 1/k^2" in out
    assert "figure:" in out and "09_zoo_scatter.png" in out


def test_10_efficientnet():
    out = run_lecture("10_efficientnet.py")
    assert "alpha * beta^2 * gamma^2 (the paper's 'approximately 2'): 1.92027" in out
    assert "efficientnet_b0 parameters: 5,288,548" in out


def test_11_transfer_learning():
    out = run_lecture("11_transfer_learning.py")
    assert "no base weight moved during feature extraction: True" in out
    assert "observed: different data, little of it:" in out
    assert "observed: pretraining beat training from scratch in" in out


def test_12_gradient_checking():
    out = run_lecture("12_gradient_checking.py")
    assert "MatmulWrongTranspose: CAUGHT" in out
    assert "the check fails at the kink, though relu's backward is right: True" in out
