"""Every lecture runs end to end in quick mode; each asserts its own numbers, so a non-zero exit
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


def test_01_convolution_arithmetic():
    out = run_lecture("01_convolution_arithmetic.py")
    assert "cross-correlation with F.conv2d: [19, 25, 37, 43]" in out
    assert "output size at stride 3 (floor): 2" in out
    assert "parameters of nn.Conv2d(3, 10, 5): 760" in out


def test_02_lenet5():
    out = run_lecture("02_lenet5.py")
    assert "LeNet-5 parameters from the layer list: 61,706" in out
    assert "test accuracy of LeNet-5 on digits:" in out


def test_03_weight_initialisation():
    out = run_lecture("03_weight_initialisation.py")
    assert "fan_in of a 3x3 conv on 64 channels: kh*kw*C: 576" in out
    assert "ReLU, Kaiming: std of layer 6 / std of layer 1:" in out


def test_04_batch_norm():
    out = run_lecture("04_batch_norm.py")
    assert "gradcheck of F.batch_norm (x, gamma, beta): True" in out
    assert "eval mode: the same comparison: 0" in out


def test_05_alexnet():
    out = run_lecture("05_alexnet.py")
    assert "AlexNet spatial sizes: [227, 55, 27, 13, 6]" in out
    assert "AlexNet parameters, two-GPU grouping: 60,965,224" in out


def test_06_vgg():
    out = run_lecture("06_vgg.py")
    assert "summary over the slide's layers = sum of the slide's rows: 15,237,608" in out
    assert "weights + biases = summary's parameter count: 138,357,544" in out

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
