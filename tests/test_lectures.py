"""Every lecture runs end to end in quick mode, as a notebook in a real Jupyter kernel: converted
with jupytext, executed cell by cell with nbclient, as a student opening it would. Each lecture
asserts its own numbers, so a failing cell means a number the lecture states no longer comes out
of the framework; the test also checks the quick-mode line of the first cell and that every
figure the lecture saves shows inline."""

import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext", reason="jupytext is not installed (pip install -e '.[test]')")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -e '.[test]')")
kernelspec = pytest.importorskip("ipykernel.kernelspec", reason="ipykernel is not installed (pip install -e '.[test]')")
from jupyter_client import KernelManager  # noqa: E402  (installed with nbclient)
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
LECTURES = ROOT / "lectures"
FIGURES = LECTURES / "figures"
#: The first cell's quick-mode line as a notebook shows it (commented out: full mode by default).
QUICK_LINE = "# %env MINITORCH_CNN_QUICK=1"

# One BLAS and one Numba thread per kernel: the suite runs lectures side by side (pytest -n 2 on 2
# cores), and oversubscribed OpenBLAS threads spin-wait, which made small matmuls several times
# slower (and Numba's parallel depthwise convolutions of lecture 15 about 30 times slower). The
# checkout's package comes first on the path, as for the tests themselves; quick mode comes from
# the notebook's own first cell, so the variable is removed here.
ENV = {key: value for key, value in os.environ.items() if key != "MINITORCH_CNN_QUICK"}
ENV.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
           PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def python3_kernel(folder):
    """A manager for ipykernel's ``python3`` kernel on this interpreter (the venv's python), from a
    kernelspec written into ``folder``: a user-wide kernel of the same name is never picked up."""
    kernelspec.write_kernel_spec(folder / "python3")
    specs = KernelSpecManager(kernel_dirs=[str(folder)], ensure_native_kernel=False)
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


def run_lecture_notebook(name, tmp_path):
    """Execute lecture ``name`` as a notebook with its quick-mode line uncommented; returns the
    executed notebook."""
    notebook = jupytext.read(LECTURES / name)
    first = notebook.cells[0]
    assert first.cell_type == "code" and first.source.splitlines()[-1] == QUICK_LINE, (
        f"{name}: the first cell must end with the quick-mode line {QUICK_LINE!r}, got:\n{first.source}")
    first.source = first.source.replace(QUICK_LINE, QUICK_LINE.removeprefix("# "))
    client = nbclient.NotebookClient(notebook, km=python3_kernel(tmp_path), timeout=120,
                                     resources={"metadata": {"path": str(LECTURES)}})
    client.execute(env=ENV)
    return notebook


def outputs(notebook, kind):
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs
            if out.output_type == kind]


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
        'ReLU: std of dL/dW, Xavier / Kaiming, every layer (sqrt(2)**-5 = 0.177):',
        'ReLU, LSUV: std of every layer (relu of N(0, 1): 0.584):',
        'constant init: largest difference between hidden units / std of W1:',
        'BatchNorm layers in the Fixup ResNet-20: 0 (expected 0)',
        'std of randn(Din, Dout) / sqrt(2/Din) at Din = 4096 (sqrt(Din/2) = 45.25): 45.2',
    ],
    "04_batch_norm.py": [
        'gradcheck of F.batch_norm (x, gamma, beta): True',
        'eval mode: the same comparison: 0',
    ],
    "05_alexnet.py": [
        'AlexNet spatial sizes: [227, 55, 27, 13, 6]',
        'AlexNet parameters, two-GPU grouping: 60,965,224',
        "AlexNet neurons (conv and linear outputs) / the slide's 650,000, within 3%: 1.01426",
        'layers whose count differs from the paper\'s list: [0] (expected [0])',
        'seeds where augmentation shrinks the train-test gap (of all the seeds): 3 (expected 3)',
        'shift by 1: change after / before the 3x3 stride-2 pool:',
        'every pool: the ratio grows from a shift by 1 to a shift by 2: True',
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
        "H x W x C (the slide's 28x28x672): (28, 28, 672) (expected (28, 28, 672))",
        "the slide's 5M and 4M match none of our counts: [] (expected [])",
        "VGG-16 / the slide's 5M (the slide's '27x fewer'): 27.6",
    ],
    "08_resnet.py": [
        'ran all its epochs: 3',
        'observed ordering',
        'bottleneck conv weights: 256*64 + 3*3*64*64 + 64*256: 69,632',
        "resnet152: our MACs (paper's strides) / the slide's FLOPs, within 3%:",
        "ResNet-50 v1.5 (the zoo's), in G MACs: the ResNeXt paper's 4.1: 4.1 (expected 4.1)",
    ],
    "09_beyond_resnet.py": [
        'ResNeXt 32x4d block at 256 channels: conv parameters from our module: 70,144',
        "resnext50_32x4d: our MACs / the slide's 4.2 G, within 2%:",
        "vgg16: our MACs / the slide's 15300M, within 3%:",
        "googlenet: our MACs / the slide's 1550M, within 3%:",
        'C=512, N=512, k=3: measured ratio equals 1/N + 1/k^2',
        'figure:',
        '09_zoo_scatter.png',
        "MobileNetV2 time per MAC / the dense networks' median (depthwise convolutions):",
    ],
    "10_efficientnet.py": [
        "alpha * beta^2 * gamma^2 (the paper's 'approximately 2'): 1.92027",
        'efficientnet_b0 parameters: 5,288,548',
        "phi = 2 multipliers, rounded to one decimal: the slide's compound point: (1.4, 1.2, 1.3)",
        'ResNet-50, resolution r=2: measured / predicted MACs factor, within 15%:',
        "the four scaled ResNet-50s: largest / smallest MACs (the slide's 'about the same cost'):",
    ],
    "11_transfer_learning.py": [
        'predict printed the top-5 computed above: True',
        'ResNet-18 layers (modules that own parameters): 41',
        'no weight or statistic of the 30 frozen layers moved: True',
        'predict on the checkpoint gives the model',
        'no base weight moved during feature extraction: True',
        'observed: different data, little of it:',
        'observed: pretraining beat training from scratch in',
    ],
    "12_gradient_checking.py": [
        'MatmulWrongTranspose: CAUGHT',
        "the check fails at the kink, though relu's backward is right: True",
    ],
    "13_visualizing.py": [
        'receptive field of a layer3.2 unit (side, jump) by the recurrence = from the graph: (18, 4)',
        'test accuracy of the small ZFNet on digits:',
        "pixels outside a unit's receptive field that its deconvnet projection moves: 0",
        'occluding strokes costs more than occluding empty paper (ratio):',
        'Grad-CAM at layer3.2 * h*w against ReLU(CAM), largest difference:',
        'Grad-CAM at layer4 * h*w against ReLU(CAM), largest difference, relative:',
    ],
    "14_principled_design.py": [
        'simpnet parameters at 10 classes: 5,478,223 (expected 5,478,223)',
        'equal parameters: pool and strided:',
        'paper: max pooling beats the strided conv',
        'test loss, strided conv minus max pool, mean over the seeds:',
        'quick mode: test accuracy, max pool minus strided conv (points), mean over the seeds:',
        'depth at a budget of 3,000 parameters',
        'minus 2 layers (points), mean over the seeds:',
        'quick mode: test loss, 6 layers minus',
        'quick mode: test loss, 4 layers at the budget minus 2 layers at twice it, mean over the seeds:',
        'test accuracy, balanced minus wide end (points), mean over the seeds:',
        'quick mode: training loss, balanced minus wide end, mean over the seeds:',
        'dropout raises the training loss in every seed, smallest rise:',
        'test accuracy, no dropout minus dropout (points), mean over the seeds:',
        'seeds where dropout leaves fewer dead channels:',
        'dead ReLU channels, with and without dropout, all seeds and layers: 0 (expected 0)',
        'paper: larger early kernels win',
        '3x3 early beats 1x1 early in every seed, smallest gap (points):',
    ],
    "15_architecture_search.py": [
        'densenet40 parameters from summary: 1,019,722 (expected 1,019,722)',
        'largest difference from the quoted parameter counts (millions; they are rounded to 0.1M):',
        'architectures in the space: prod_i (i*K)^2: 4,235,364 (expected 4,235,364)',
        'regularised evolution: best validation accuracy beats the median random architecture:',
        'REINFORCE: policy entropy at the end / at the start (uniform):',
    ],
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_lecture_runs_as_a_notebook(name, tmp_path):
    start = time.time()
    notebook = run_lecture_notebook(name, tmp_path)
    out = "".join(o.text for o in outputs(notebook, "stream") if o.name == "stdout")
    assert "MINITORCH_CNN_QUICK=1" in out, f"{name}: the first cell did not set quick mode"
    for line in EXPECTED[name]:
        assert line in out, f"{name} no longer prints {line!r}"
    err = "".join(o.text for o in outputs(notebook, "stream") if o.name == "stderr")
    assert "Warning" not in err, f"{name} warns in its notebook:\n{err[-3000:]}"
    # Every figure the lecture saved in this run shows inline, once.
    saved = [p for p in FIGURES.glob(f"{name[:2]}_*.png") if p.stat().st_mtime >= start - 1]
    images = [o for o in outputs(notebook, "display_data") if "image/png" in o.data]
    assert saved, f"{name} saved no figure"
    assert len(images) == len(saved), f"{name}: {len(saved)} figures saved, {len(images)} shown inline"



@pytest.fixture
def common(monkeypatch):
    """lectures/_common.py as a module, with a lecture's command line and no quick-mode variable."""
    spec = importlib.util.spec_from_file_location("_common", LECTURES / "_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["lecture.py"])
    monkeypatch.delenv("MINITORCH_CNN_QUICK", raising=False)
    return module


@pytest.mark.parametrize("argv, value, quick", [
    ([], None, False), ([], "0", False), ([], "1", True), (["--quick"], None, True), (["--quick"], "0", True),
])
def test_quick_mode_comes_from_the_command_line_or_the_environment(common, monkeypatch, argv, value, quick):
    monkeypatch.setattr(sys, "argv", ["lecture.py", *argv])
    if value is not None:
        monkeypatch.setenv("MINITORCH_CNN_QUICK", value)
    assert common._quick_mode() is quick


def test_quick_mode_variable_refuses_other_values(common, monkeypatch):
    monkeypatch.setenv("MINITORCH_CNN_QUICK", "yes")
    with pytest.raises(ValueError, match="MINITORCH_CNN_QUICK: expected 1 .* got 'yes'"):
        common._quick_mode()
