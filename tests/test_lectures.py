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


#: Lines each lecture must print: the numbers it states, computed by the framework.
EXPECTED = {
    "01_convolution_arithmetic.py": [
        'cross-correlation with F.conv2d: [19, 25, 37, 43]',
        'output size at stride 3 (floor): 2',
        'parameters of nn.Conv2d(3, 10, 5): 760',
    ],
    "02_lenet5.py": [
        'LeNet-5 parameters from the layer list: 61,706',
        'test accuracy of LeNet-5 on digits:',
    ],
    "03_weight_initialisation.py": [
        'fan_in of a 3x3 conv on 64 channels: kh*kw*C: 576',
        'ReLU, Kaiming: std of layer 6 / std of layer 1:',
    ],
    "04_batch_norm.py": [
        'gradcheck of F.batch_norm (x, gamma, beta): True',
        'eval mode: the same comparison: 0',
    ],
    "05_alexnet.py": [
        'AlexNet spatial sizes: [227, 55, 27, 13, 6]',
        'AlexNet parameters, two-GPU grouping: 60,965,224',
    ],
    "06_vgg.py": [
        "summary over the slide's layers = sum of the slide's rows: 15,237,608",
        "weights + biases = summary's parameter count: 138,357,544",
    ],
    "07_googlenet.py": [
        'naive module: MACs from summary: 854,196,224',
        'reduced module: MACs from summary: 271,351,808',
        "'3x3 conv, 192' with C = 128 instead of 64: total 358,055,936",
        'global average pooling 7x7x1024 -> 1024: parameters: 0',
    ],
    "08_resnet.py": [
        'ran all its epochs: 3',
        'observed ordering',
        'bottleneck conv weights: 256*64 + 3*3*64*64 + 64*256: 69,632',
    ],
    "09_beyond_resnet.py": [
        'ResNeXt 32x4d block at 256 channels: conv parameters from our module: 70,144',
        'C=512, N=512, k=3: measured ratio equals 1/N + 1/k^2',
        'figure:',
        '09_zoo_scatter.png',
    ],
    "10_efficientnet.py": [
        "alpha * beta^2 * gamma^2 (the paper's 'approximately 2'): 1.92027",
        'efficientnet_b0 parameters: 5,288,548',
    ],
    "11_transfer_learning.py": [
        'no base weight moved during feature extraction: True',
        'observed: different data, little of it:',
        'observed: pretraining beat training from scratch in',
    ],
    "12_gradient_checking.py": [
        'MatmulWrongTranspose: CAUGHT',
        "the check fails at the kink, though relu's backward is right: True",
    ],
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_lecture_runs_and_prints_its_numbers(name):
    out = run_lecture(name)
    for line in EXPECTED[name]:
        assert line in out, f"{name} no longer prints {line!r}"
